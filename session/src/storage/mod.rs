//! Where sessions live between updates.
//!
//! Every store implements [`Storage`]; the middleware only ever calls it through that trait.
//! Stores that several bot processes share (Redis, PostgreSQL) also implement the lease
//! methods, so updates of one key never interleave even across processes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{StorageError, StorageErrorKind, StorageOp};

#[cfg(any(feature = "redis", feature = "postgres"))]
mod batcher;
mod counting;
mod list;
mod memory;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod nonce;
mod observed;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "redis")]
pub use self::redis::{RedisBuilder, RedisStorage};
pub use counting::{Counters, CountingStorage, StoreStats};
pub use list::{ListCursor, ListPage, ListedSession, Listing, MAX_PAGE};
pub use memory::MemoryStorage;
pub use observed::{CallOutcome, Observed, Observer, StorageCall};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBuilder, PostgresStorage};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteBuilder, SqliteStorage};

/// A cross-process lease on one key, held from [`Storage::lock_and_read`] to [`Storage::commit`].
///
/// `ticket` orders updates by age (older is smaller) so that an update that holds other keys
/// can back off instead of deadlocking; `nonce` makes the lease unique, so a process whose
/// lease expired can never release or overwrite the key under the next holder's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The age of the update holding the lease.
    pub ticket: u64,
    /// Unique to this lease.
    pub nonce: u64,
}

/// What [`Storage::lock_and_read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockedRead {
    /// The key is ours until [`Storage::commit`]; `lease` is `None` for stores that only
    /// serve one process and need no lease.
    Acquired {
        /// The lease to commit with.
        lease: Option<Lease>,
        /// The stored value, if any.
        value: Option<Vec<u8>>,
    },
    /// Another update holds the key.
    Busy {
        /// The holder's age, when the store knows it.
        holder_ticket: Option<u64>,
    },
}

/// The write-back an update ends with, applied by [`Storage::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Nothing to write (the session was not touched, or the handler failed).
    Nothing,
    /// Unchanged, but its expiry restarts.
    Touch(Duration),
    /// Store these bytes, expiring after the TTL if one is given.
    Write(&'a [u8], Option<Duration>),
    /// Remove the session.
    Delete,
}

/// A key-value store for encoded sessions.
///
/// Keys are `prefix:key` strings; values are opaque bytes. Implementations must honour TTLs
/// on read (an expired value reads as `None`) and must be safe to call from many tasks at once.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// A short name for error messages and logs (`"memory"`, `"redis"`, ...).
    fn name(&self) -> &'static str;

    /// The stored value, or `None` if there is none or it expired.
    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Stores `value`, replacing any previous one; it expires `ttl` after this write if given.
    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError>;

    /// Removes the value; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Restarts the expiry of an existing value without rewriting it. The default reads and
    /// rewrites; stores with a native expiry update override it.
    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        if let Some(value) = self.read(key).await? {
            self.write(key, &value, Some(ttl)).await?;
        }
        Ok(())
    }

    /// Takes the key for one update and reads it.
    ///
    /// Stores shared by several processes override this to take a lease that expires after
    /// `lease` (so a crashed process cannot block a key for ever) and answer
    /// [`LockedRead::Busy`] while another process holds it. The default, for single-process
    /// stores, only reads: the middleware's in-process per-key lock already serializes updates.
    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        let _ = (ticket, lease);
        Ok(LockedRead::Acquired {
            lease: None,
            value: self.read(key).await?,
        })
    }

    /// Applies the update's write-back and releases its lease, if it holds one.
    ///
    /// A store that holds leases must refuse the change with
    /// [`StorageErrorKind::LeaseLost`] when the lease is no
    /// longer the current one, and must apply the change and the release atomically.
    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let _ = lease;
        match change {
            Change::Nothing => Ok(()),
            Change::Touch(ttl) => self.touch(key, ttl).await,
            Change::Write(value, ttl) => self.write(key, value, ttl).await,
            Change::Delete => self.delete(key).await,
        }
    }

    /// Extends a lease taken by [`Storage::lock_and_read`] so that it ends `duration` from
    /// now: the middleware renews the leases of updates that run long, so that a lease can be
    /// short (a crashed process's keys are free again within seconds) without expiring under
    /// a live but slow update. `Ok(false)` when the lease is no longer held (it expired and
    /// another process took the key, or was released). The default, for stores without
    /// leases, holds nothing to renew.
    async fn renew_lease(
        &self,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Result<bool, StorageError> {
        let _ = (key, lease, duration);
        Ok(true)
    }

    /// Whether this store holds cross-process leases in [`Storage::lock_and_read`].
    fn shares_across_processes(&self) -> bool {
        false
    }

    /// Reads without waiting, for stores that never wait (in memory): appends the value to
    /// `out` and tells whether there was one, as [`Storage::read`] would.
    ///
    /// An optional fast path: the default, `None`, sends the middleware to
    /// [`Storage::read`]. Answering here saves the boxed future of an async trait method
    /// and lets the middleware choose the buffer (it leaves room to encode the new value
    /// after the old one). Only used for stores that do not share across processes.
    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        let _ = (key, out);
        None
    }

    /// Applies a write-back without waiting, as [`Storage::commit`] would without a lease.
    ///
    /// An optional fast path like [`Storage::read_now`]; the default, `None`, sends the
    /// middleware to [`Storage::commit`].
    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        let _ = (key, change);
        None
    }

    /// One page of the live sessions whose keys start with `prefix` (`""`: every session),
    /// resuming at `cursor` ([`ListCursor::start`] for the first page), with at most `limit`
    /// sessions (at most [`MAX_PAGE`]). A listing walks the pages until [`ListPage::next`] is
    /// `None`; [`Listing`] does that.
    ///
    /// What every store promises:
    /// - a session that is there, unexpired, from the first page to the last is listed
    ///   exactly once; one written or removed meanwhile may be listed or not, never twice
    ///   (but see `RedisStorage` for a Redis whose key table
    ///   shrinks meanwhile);
    /// - expired sessions are never listed, nor anything but sessions (a lease is not one);
    /// - a page holds at most `limit` sessions and may hold fewer, even none, before the end;
    ///   the store never reads more than about a page into memory for it;
    /// - each session comes with its bytes as stored (headers included: see
    ///   [`StoredBytes`](crate::StoredBytes)) and its time left to live.
    ///
    /// The order is the store's: by key for SQLite and PostgreSQL, by key within each of the
    /// memory store's shards, in Redis's `SCAN` order for Redis. A listing takes no lock and
    /// no lease: a bot may run meanwhile, and what it writes after a session was listed is
    /// not in the listing.
    ///
    /// The default, for stores that cannot list, fails with [`StorageErrorKind::Invalid`].
    async fn list(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let _ = (prefix, cursor, limit);
        Err(StorageError::new(
            self.name(),
            StorageOp::List,
            StorageErrorKind::Invalid,
            "this store cannot list its sessions (it does not implement `Storage::list`)",
        ))
    }

    /// The session at `key` as a listing shows it (its bytes and time left), or `None` when
    /// there is none or it expired: for tools that show one session.
    ///
    /// The default walks the listing of `key` as a prefix until it meets the key; stores
    /// override it with a read of the one key.
    async fn inspect(&self, key: &str) -> Result<Option<ListedSession>, StorageError> {
        let mut cursor = ListCursor::start();
        loop {
            let page = self.list(key, &cursor, MAX_PAGE).await?;
            if let Some(found) = page.sessions.into_iter().find(|session| session.key == key) {
                return Ok(Some(found));
            }
            match page.next {
                Some(next) => cursor = next,
                None => return Ok(None),
            }
        }
    }

    /// Deletes the expired sessions the store still keeps, now; answers how many.
    ///
    /// Expired sessions never read back, whether or not this runs: it frees their room. The
    /// default does nothing and answers 0, for stores whose expired sessions go by
    /// themselves (Redis).
    async fn purge_expired(&self) -> Result<u64, StorageError> {
        Ok(0)
    }
}

/// Forwards to the shared store. The methods are not `async`: an `async fn` here would box
/// a second future around the store's own on every call, and the middleware reaches its store
/// through an `Arc<dyn Storage>`. Their signatures are the ones `#[async_trait]` gives the
/// trait's methods.
impl<T: Storage + ?Sized> Storage for Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn read<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
    ) -> StoreFuture<'async_trait, Option<Vec<u8>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).read(key)
    }
    fn write<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
        value: &'life2 [u8],
        ttl: Option<Duration>,
    ) -> StoreFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        (**self).write(key, value, ttl)
    }
    fn delete<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
    ) -> StoreFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).delete(key)
    }
    fn touch<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
        ttl: Duration,
    ) -> StoreFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).touch(key, ttl)
    }
    fn lock_and_read<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
        ticket: u64,
        lease: Duration,
    ) -> StoreFuture<'async_trait, LockedRead>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).lock_and_read(key, ticket, lease)
    }
    fn commit<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
        lease: Option<Lease>,
        change: Change<'life2>,
    ) -> StoreFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        (**self).commit(key, lease, change)
    }
    fn renew_lease<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
        lease: Lease,
        duration: Duration,
    ) -> StoreFuture<'async_trait, bool>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).renew_lease(key, lease, duration)
    }
    fn shares_across_processes(&self) -> bool {
        (**self).shares_across_processes()
    }
    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        (**self).read_now(key, out)
    }
    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        (**self).commit_now(key, change)
    }
    fn list<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        prefix: &'life1 str,
        cursor: &'life2 ListCursor,
        limit: usize,
    ) -> StoreFuture<'async_trait, ListPage>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        (**self).list(prefix, cursor, limit)
    }
    fn inspect<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
    ) -> StoreFuture<'async_trait, Option<ListedSession>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).inspect(key)
    }
    fn purge_expired<'life0, 'async_trait>(&'life0 self) -> StoreFuture<'async_trait, u64>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        (**self).purge_expired()
    }
}

/// The future of a [`Storage`] method, as `#[async_trait]` boxes it.
type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StorageError>> + Send + 'a>>;
