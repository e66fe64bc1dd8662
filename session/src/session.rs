//! The `Session` trait that `#[derive(Session)]` implements.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::error::{CodecError, HandlerError};
use crate::keys::KeyStrategy;

/// A typed piece of per-chat (or per-user, ...) state, loaded before or during a handler and
/// written back after it.
///
/// Implement it with `#[derive(Session)]`; the constants mirror the `#[session(...)]` attributes.
pub trait Session: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The accessor name (`ctx.counter()`): `name = "..."` or the struct name in snake_case.
    const NAME: &'static str;
    /// The Rust type name, for error messages.
    const TYPE_NAME: &'static str;
    /// Which ids form the key: `key = "..."` or `key_with = path`.
    const KEY: KeyStrategy;
    /// How long a session stays after its last write: `ttl = seconds`.
    const TTL: Option<Duration>;
    /// Whether the session is loaded on first access rather than before the handler.
    const LAZY: bool;
    /// The storage namespace: stored keys are `PREFIX:key`.
    const PREFIX: &'static str;
    /// The schema version written with the data: `version = N`.
    const VERSION: u32;

    /// How to remove a user from a session that other people share (a group's member list):
    /// `erase = path`, a `fn(&mut Self, user_id: i64)`. Erasing a user
    /// ([`Registry::erase_user`](crate::admin::Registry::erase_user)) deletes the sessions
    /// keyed by the user outright, and calls this on every other session of the type.
    /// `None` (the default): the type keeps nothing about a user in sessions keyed by
    /// someone else.
    const ERASE_USER: Option<fn(&mut Self, i64)> = None;

    /// The serialization format: `codec = "..."`.
    type Codec: Codec;

    /// The value of a session that was never stored: `initial = path` or `Default::default`.
    fn initial() -> Self;

    /// Turns data stored by an older schema `version` into the current type: `migrate = path`.
    fn migrate(version: u32, stored: StoredData<'_, Self>) -> Result<Self, HandlerError> {
        let _ = stored;
        Err(format!(
            "no migration from version {version} is declared (add `migrate = path::to::fn` to \
             `#[session(...)]` on {})",
            Self::TYPE_NAME
        )
        .into())
    }
}

/// Bytes stored by an older schema version, handed to a session's `migrate` function.
pub struct StoredData<'a, S: Session> {
    bytes: &'a [u8],
    session: PhantomData<fn() -> S>,
}

impl<'a, S: Session> StoredData<'a, S> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        StoredData {
            bytes,
            session: PhantomData,
        }
    }

    /// Decodes the old data into the type that described it then (with the session's codec).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        S::Codec::decode(self.bytes)
    }

    /// The raw encoded payload.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}
