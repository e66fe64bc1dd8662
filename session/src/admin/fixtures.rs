//! Session types for the admin module's unit tests, written by hand (the derive expands to
//! `::bot_session` paths, which do not resolve inside the crate itself).

use serde::{Deserialize, Serialize};

/// Implements `Session` for `$ty` with the given prefix (also its name) and key strategy.
macro_rules! session_type {
    ($ty:ident, $prefix:literal, $key:expr) => {
        impl $crate::session::Session for $ty {
            const NAME: &'static str = $prefix;
            const TYPE_NAME: &'static str = stringify!($ty);
            const KEY: $crate::keys::KeyStrategy = $key;
            const TTL: Option<std::time::Duration> = None;
            const LAZY: bool = false;
            const PREFIX: &'static str = $prefix;
            const VERSION: u32 = 0;
            type Codec = $crate::codec::Json;
            fn initial() -> Self {
                Self::default()
            }
        }
    };
}
pub(crate) use session_type;

/// A count per chat.
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) n: u64,
}

session_type!(Count, "c", crate::keys::KeyStrategy::Chat);
