//! One lock table per session type, shared by every middleware of that type in the process.
//!
//! Two middlewares of one session type (two composers, or one rebuilt at run time) must
//! serialize the same keys, so the table belongs to the type, not to the middleware. It is
//! looked up once, when a middleware is made; updates reach it through the middleware.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use crate::lock::KeyLocks;
use crate::sync::lock;

/// The lock table of the session type `session`, made on first use. Tables live for the
/// rest of the process: there is one per session type, and a key's entry exists only while
/// an update holds it.
pub(crate) fn locks_of(session: TypeId) -> &'static KeyLocks {
    static TABLES: LazyLock<Mutex<HashMap<TypeId, &'static KeyLocks>>> =
        LazyLock::new(Default::default);
    lock(&TABLES)
        .entry(session)
        .or_insert_with(|| Box::leak(Box::new(KeyLocks::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_has_one_table() {
        let a = locks_of(TypeId::of::<u8>());
        let b = locks_of(TypeId::of::<u16>());
        assert!(std::ptr::eq(a, locks_of(TypeId::of::<u8>())));
        assert!(!std::ptr::eq(a, b));
    }
}
