//! The session types one chain (a `Composer`, or a teloxide `Sessions`) provides: each has one
//! slot per update, and no two may share a storage prefix.

use std::any::TypeId;

/// What the composer needs to know about a session middleware's type.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct SessionTypeInfo {
    /// The session type.
    pub type_id: TypeId,
    /// Its Rust name, for messages.
    pub type_name: &'static str,
    /// Its storage prefix.
    pub prefix: &'static str,
}

#[derive(Clone, Default)]
pub(crate) struct SessionTypes {
    types: Vec<TypeId>,
    prefixes: Vec<(&'static str, &'static str)>,
}

impl SessionTypes {
    /// The session types, in the order added: the slots each update's context reserves.
    pub(crate) fn types(&self) -> &[TypeId] {
        &self.types
    }

    /// Adds a session type to the chain named `owner` (for the message).
    ///
    /// # Panics
    /// If the type was already added, or another type uses the same storage prefix: set-up
    /// mistakes to fix in code.
    pub(crate) fn add(&mut self, info: SessionTypeInfo, owner: &str) {
        assert!(
            !self.types.contains(&info.type_id),
            "the session middleware of {} was added twice to one {owner}; add it once",
            info.type_name
        );
        if let Some((_, other)) = self.prefixes.iter().find(|(p, _)| *p == info.prefix) {
            panic!(
                "the sessions {other} and {} both use the storage prefix `{}`, so they would \
                 overwrite each other's data: give one of them `#[session(prefix = \"...\")]`",
                info.type_name, info.prefix
            );
        }
        self.types.push(info.type_id);
        self.prefixes.push((info.prefix, info.type_name));
    }
}
