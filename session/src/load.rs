//! Taking a session's key and reading it: the first half of an update's session work.

use std::time::{Duration, Instant};

use crate::codec::Codec;
use crate::context::Context;
use crate::envelope;
use crate::error::SessionError;
use crate::key_locks::Acquire;
use crate::middleware::Shared;
use crate::session::{Session, StoredData};
use crate::slot::{Held, Loaded, Origin};
use crate::storage::{Change, LockedRead};
use crate::write_back;

/// Longest pause between two attempts to take a key another process holds.
const MAX_BACKOFF: Duration = Duration::from_millis(8);
/// The buffer a session is read into also receives its new encoding at write-back, after the
/// stored bytes (see `write_back::plan`): room for both in one allocation for sessions up to
/// about 60 bytes, the common case; larger ones grow it.
const READ_BUFFER: usize = 128;

/// A key taken for an update, with the stored bytes when they were read.
pub(crate) type Taken = (Held, Option<Vec<u8>>);

/// Takes `key` for this update: the in-process lock, then the store's lease where the store
/// is shared between processes. Returns the stored bytes when `read` is set (stores with
/// leases always read, since the lease and the read are one round trip).
pub(crate) async fn take_key<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
    read: bool,
) -> Result<Taken, SessionError> {
    let holds_others = ctx.holds_keys();
    let locks = S::__key_locks();
    // A free key (the common case) is taken without building the waiting future.
    let guard = match locks.try_acquire(key, ctx.ticket()) {
        Some(guard) => guard,
        None => match locks.acquire(key, ctx.ticket(), holds_others).await {
            Acquire::Held(guard) => guard,
            Acquire::Conflict(blocker) => {
                ctx.blocked_by(blocker);
                return Err(conflict::<S>(key));
            }
        },
    };
    ctx.key_taken();
    let outcome = lock_in_store(shared, ctx, key, read, holds_others).await;
    match outcome {
        Ok((lease, stored)) => Ok((
            Held {
                _guard: guard,
                lease,
            },
            stored,
        )),
        Err(err) => {
            drop(guard);
            ctx.key_released();
            Err(err)
        }
    }
}

/// [`take_key`] with a read, when it can finish without waiting: the key is free in this
/// process and the store answers at once (in memory). `None` means it cannot: call
/// [`take_key`].
pub(crate) fn take_key_now<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
) -> Option<Result<Taken, SessionError>> {
    if shared.store.shares_across_processes() {
        return None;
    }
    let guard = S::__key_locks().try_acquire(key, ctx.ticket())?;
    let mut buffer = Vec::with_capacity(READ_BUFFER);
    // A store that cannot answer at once gives the key back; `take_key` takes it again.
    let found = shared.store.read_now(key, &mut buffer)?;
    ctx.key_taken();
    let held = Held {
        _guard: guard,
        lease: None,
    };
    Some(match found {
        Ok(found) => Ok((held, found.then_some(buffer))),
        Err(source) => {
            release(ctx, held);
            Err(storage_error::<S>(key, source))
        }
    })
}

/// Releases a key held without a lease: nothing to tell the store.
pub(crate) fn release(ctx: &Context, held: Held) {
    debug_assert!(held.lease.is_none(), "a lease is released by a commit");
    drop(held);
    ctx.key_released();
}

async fn lock_in_store<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
    read: bool,
    holds_others: bool,
) -> Result<(Option<crate::storage::Lease>, Option<Vec<u8>>), SessionError> {
    let store = &shared.store;
    if !store.shares_across_processes() {
        if !read {
            return Ok((None, None));
        }
        let mut buffer = Vec::with_capacity(READ_BUFFER);
        // Stores that answer at once (memory) skip the boxed future of `read`.
        let stored = match store.read_now(key, &mut buffer) {
            Some(found) => found.map(|found| found.then_some(buffer)),
            None => store.read(key).await,
        }
        .map_err(|source| storage_error::<S>(key, source))?;
        return Ok((None, stored));
    }
    let started = Instant::now();
    let mut backoff = Duration::from_millis(1);
    loop {
        let attempt = store
            .lock_and_read(key, ctx.ticket(), shared.options.lease)
            .await
            .map_err(|source| storage_error::<S>(key, source))?;
        match attempt {
            LockedRead::Acquired { lease, value } => return Ok((lease, value)),
            LockedRead::Busy { holder_ticket } => {
                if holds_others && holder_ticket.is_some_and(|holder| holder < ctx.ticket()) {
                    return Err(conflict::<S>(key));
                }
                if started.elapsed() >= shared.options.lock_wait {
                    return Err(SessionError::LockTimeout {
                        session: S::NAME,
                        key: key.to_owned(),
                        waited: started.elapsed(),
                    });
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Releases a key taken by [`take_key`] without changing it (after a failed decode).
pub(crate) async fn give_back<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
    held: Held,
) {
    if let Err(err) = write_back::commit(shared, ctx, key, held, Change::Nothing).await {
        tracing::warn!(session = S::NAME, key, error = %err, "could not release the lease; it will expire");
    }
}

/// Turns stored bytes into the session value, migrating older schema versions.
pub(crate) fn decode<S: Session>(
    shared: &Shared<S>,
    key: &str,
    stored: Option<Vec<u8>>,
) -> Result<Loaded<S>, SessionError> {
    let Some(bytes) = stored else {
        return Ok(Loaded {
            value: S::initial(),
            origin: Origin::New,
            changed: false,
            cleared: false,
        });
    };
    let (version, payload) = envelope::split(&bytes);
    let decoded = if version == S::VERSION {
        S::Codec::decode::<S>(payload).map_err(|source| SessionError::Decode {
            session: S::NAME,
            key: key.to_owned(),
            codec: <S::Codec as Codec>::NAME,
            source,
        })
    } else if version < S::VERSION {
        S::migrate(version, StoredData::new(payload)).map_err(|err| SessionError::Migration {
            session: S::NAME,
            key: key.to_owned(),
            found: version,
            current: S::VERSION,
            hint: format!(", and migrating it failed: {err}"),
        })
    } else {
        Err(SessionError::Migration {
            session: S::NAME,
            key: key.to_owned(),
            found: version,
            current: S::VERSION,
            hint: " (a newer build of the bot wrote it: deploy that build, or clear the session)"
                .to_owned(),
        })
    };
    let value = match decoded {
        Ok(value) => value,
        Err(err @ SessionError::Decode { .. }) if shared.options.reset_on_corrupt => {
            tracing::warn!(session = S::NAME, key, error = %err, "corrupt session reset to its initial value");
            S::initial()
        }
        Err(err) => return Err(err),
    };
    Ok(Loaded {
        value,
        origin: Origin::Stored(bytes),
        changed: false,
        cleared: false,
    })
}

pub(crate) fn storage_error<S: Session>(key: &str, source: crate::StorageError) -> SessionError {
    SessionError::Storage {
        session: S::NAME,
        key: key.to_owned(),
        source,
    }
}

fn conflict<S: Session>(key: &str) -> SessionError {
    SessionError::Conflict {
        session: S::NAME,
        key: key.to_owned(),
    }
}
