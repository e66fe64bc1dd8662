#![doc = include_str!("../../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod clock;
mod codec;
mod composer;
mod context;
mod envelope;
mod error;
mod ids;
mod keys;
mod lock;
mod middleware;
pub mod observe;
mod session;
pub mod storage;
mod storage_key;
mod stored;
mod sync;
#[cfg(feature = "teloxide")]
pub mod teloxide;
pub mod update;

pub use async_trait::async_trait;
pub use bot_session_derive::Session;
pub use clock::{Clock, ManualClock, SystemClock};
pub use codec::{Cbor, Codec, Json, Postcard};
pub use composer::batch::{BatchOptions, BatchReport};
pub use composer::runner::RunReport;
pub use composer::{Composer, Delivery, Middleware, Next};
pub use context::Context;
pub use error::{
    CodecError, HandlerError, HandlerResult, SessionError, StorageError, StorageErrorKind,
    StorageOp,
};
pub use ids::{ChatMigration, SessionIds, SessionKeys};
pub use keys::KeyStrategy;
pub use middleware::{SessionMiddleware, SessionMut};
pub use session::{Session, StoredData};
pub use storage::{Change, CountingStorage, Lease, LockedRead, MemoryStorage, Storage, StoreStats};
#[cfg(feature = "postgres")]
pub use storage::{PostgresBuilder, PostgresStorage};
#[cfg(feature = "redis")]
pub use storage::{RedisBuilder, RedisStorage};
#[cfg(feature = "sqlite")]
pub use storage::{SqliteBuilder, SqliteStorage};
pub use stored::StoredBytes;
pub use update::Update;

/// What `#[derive(Session)]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::admin::Sessions;
    pub use crate::codec::{Cbor, Json, Postcard};
    pub use crate::context::Context;
    pub use crate::error::{HandlerError, SessionError};
    pub use crate::keys::KeyStrategy;
    pub use crate::middleware::{SessionMiddleware, SessionMut};
    pub use crate::session::{Session, StoredData};
    pub use crate::storage::Storage;
    pub use core::future::Future;
    pub use core::option::Option;
    pub use core::result::Result;
    pub use core::time::Duration;
}
