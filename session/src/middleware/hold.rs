//! Holding a session's key for an update: taking it (the in-process lock, then the store's
//! lease where the store is shared between processes), and giving it up, with a change
//! (commit) or without one (release, give back).

use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::{SessionError, StorageError, StorageErrorKind};
use crate::lock::Acquire;
use crate::middleware::buffers;
use crate::middleware::shared::Shared;
use crate::middleware::state::Held;
use crate::observe::session::{Holder, StoreOp};
use crate::session::Session;
use crate::storage::{Change, Lease, LockedRead};

/// Longest pause between two attempts to take a key another process holds, for the first
/// second (a live holder is usually done within milliseconds)...
const SHORT_BACKOFF: Duration = Duration::from_millis(8);
/// ... and after it (a holder that died: its lease runs out within seconds).
const LONG_BACKOFF: Duration = Duration::from_millis(100);

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
    let locks = shared.locks;
    // A free key (the common case) is taken without building the waiting future.
    let guard = match locks.try_acquire(key, ctx.ticket()) {
        Some(guard) => guard,
        None => {
            let waiting = shared.observer.start_wait();
            let acquired = locks.acquire(key, ctx.ticket(), holds_others).await;
            shared
                .observer
                .waited(key, Holder::Process, waiting.elapsed());
            match acquired {
                Acquire::Held(guard) => guard,
                Acquire::Conflict(blocker) => {
                    ctx.lost_race(Some(blocker), S::NAME, key, None);
                    return Err(conflict::<S>(key));
                }
            }
        }
    };
    ctx.key_taken();
    let outcome = lock_in_store(shared, ctx, key, read, holds_others).await;
    match outcome {
        Ok((lease, stored)) => {
            let renewal = lease.map(|lease| {
                shared.renewals.register(
                    &shared.store,
                    &shared.observer,
                    key,
                    lease,
                    shared.options.lease,
                )
            });
            Ok((
                Held {
                    _guard: guard,
                    lease,
                    _renewal: renewal,
                },
                stored,
            ))
        }
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
    let guard = shared.locks.try_acquire(key, ctx.ticket())?;
    let mut buffer = buffers::take();
    // A store that cannot answer at once gives the key back; `take_key` takes it again.
    let Some(found) = read_now(shared, key, &mut buffer) else {
        buffers::give_back(buffer);
        return None;
    };
    ctx.key_taken();
    let held = Held {
        _guard: guard,
        lease: None,
        _renewal: None,
    };
    Some(match found {
        Ok(true) => Ok((held, Some(buffer))),
        Ok(false) => {
            buffers::give_back(buffer);
            Ok((held, None))
        }
        Err(source) => {
            release(ctx, held);
            Err(storage_error::<S>(ctx, key, source))
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
) -> Result<(Option<Lease>, Option<Vec<u8>>), SessionError> {
    let store = &shared.store;
    if !store.shares_across_processes() {
        if !read {
            return Ok((None, None));
        }
        let mut buffer = buffers::take();
        // Stores that answer at once (memory) skip the boxed future of `read`.
        let stored = match read_now(shared, key, &mut buffer) {
            Some(Ok(true)) => Ok(Some(buffer)),
            Some(found) => {
                buffers::give_back(buffer);
                found.map(|_| None)
            }
            None => {
                // The store reads into a buffer of its own.
                buffers::give_back(buffer);
                let watch = shared.observer.start_call();
                let stored = store.read(key).await;
                let found = stored.as_ref().map(Option::is_some);
                shared.observer.read(key, StoreOp::Read, watch, found);
                stored
            }
        }
        .map_err(|source| storage_error::<S>(ctx, key, source))?;
        return Ok((None, stored));
    }
    let started = Instant::now();
    let mut backoff = Duration::from_millis(1);
    let mut busy = false;
    // Set while another process holds the key, until this returns.
    let mut waiting = None;
    let observer = &shared.observer;
    loop {
        let watch = observer.start_call();
        let attempt = store
            .lock_and_read(key, ctx.ticket(), shared.options.lease)
            .await;
        match &attempt {
            Ok(LockedRead::Acquired { value, .. }) => {
                observer.read(key, StoreOp::Lock, watch, Ok(value.is_some()));
            }
            Ok(LockedRead::Busy { holder_ticket }) => {
                observer.lease_busy(key, *holder_ticket, watch);
            }
            Err(err) => observer.read(key, StoreOp::Lock, watch, Err(err)),
        }
        let attempt = attempt.map_err(|source| storage_error::<S>(ctx, key, source))?;
        if busy && !matches!(attempt, LockedRead::Busy { .. }) {
            observer.waited(key, Holder::Store, Some(started.elapsed()));
        }
        match attempt {
            LockedRead::Acquired { lease, value } => return Ok((lease, value)),
            LockedRead::Busy { holder_ticket } => {
                busy = true;
                if holds_others && holder_ticket.is_some_and(|holder| holder < ctx.ticket()) {
                    observer.waited(key, Holder::Store, Some(started.elapsed()));
                    ctx.lost_race(None, S::NAME, key, holder_ticket);
                    return Err(conflict::<S>(key));
                }
                let waited = started.elapsed();
                if waited >= shared.options.lock_wait {
                    observer.waited(key, Holder::Store, Some(waited));
                    ctx.fail_retryably();
                    let err = SessionError::LockTimeout {
                        session: S::NAME,
                        key: key.to_owned(),
                        holder_ticket,
                        waited,
                    };
                    tracing::warn!(
                        session = S::NAME,
                        key,
                        holder_ticket,
                        ?waited,
                        "gave up waiting for a busy key"
                    );
                    return Err(err);
                }
                waiting.get_or_insert_with(|| ctx.waiting_elsewhere());
                tokio::time::sleep(backoff).await;
                let ceiling = if waited < Duration::from_secs(1) {
                    SHORT_BACKOFF
                } else {
                    LONG_BACKOFF
                };
                backoff = (backoff * 2).min(ceiling);
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
    if let Err(err) = commit(shared, ctx, key, held, Change::Nothing).await {
        tracing::warn!(session = S::NAME, key, error = %err, "could not release the lease; it will expire");
    }
}

/// Applies `change` to `key` and releases the key (the store's lease and the in-process lock).
pub(crate) async fn commit<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
    held: Held,
    change: Change<'_>,
) -> Result<(), SessionError> {
    let needs_store = held.lease.is_some() || change != Change::Nothing;
    let result = if needs_store {
        // Stores that answer at once (memory) skip the boxed future of `commit`; a lease
        // always goes through `commit`.
        let now = match held.lease {
            None => commit_now(shared, key, change),
            Some(_) => None,
        };
        match now {
            Some(outcome) => outcome,
            None => {
                let watch = shared.observer.start_call();
                let outcome = shared.store.commit(key, held.lease, change).await;
                let done = outcome.as_ref().map(|_| ());
                shared.observer.committed(key, change, watch, done);
                outcome
            }
        }
        .map_err(|source| storage_error::<S>(ctx, key, source))
    } else {
        Ok(())
    };
    drop(held);
    ctx.key_released();
    result
}

/// [`Storage::read_now`](crate::Storage::read_now) on the session's store, reported when the
/// store answered.
pub(crate) fn read_now<S: Session>(
    shared: &Shared<S>,
    key: &str,
    out: &mut Vec<u8>,
) -> Option<Result<bool, StorageError>> {
    let watch = shared.observer.start_call();
    let found = shared.store.read_now(key, out)?;
    let outcome = found.as_ref().copied();
    shared.observer.read(key, StoreOp::Read, watch, outcome);
    Some(found)
}

/// [`Storage::commit_now`](crate::Storage::commit_now) on the session's store, reported when
/// the store answered.
pub(crate) fn commit_now<S: Session>(
    shared: &Shared<S>,
    key: &str,
    change: Change<'_>,
) -> Option<Result<(), StorageError>> {
    let watch = shared.observer.start_call();
    let outcome = shared.store.commit_now(key, change)?;
    let done = outcome.as_ref().map(|_| ());
    shared.observer.committed(key, change, watch, done);
    Some(outcome)
}

/// A store's failure on `key`, as the session's error. A failure that may pass (the store
/// unreachable, a lease lost) marks the update as one to deliver again later.
pub(crate) fn storage_error<S: Session>(
    ctx: &Context,
    key: &str,
    source: StorageError,
) -> SessionError {
    if matches!(
        source.kind(),
        StorageErrorKind::Unavailable | StorageErrorKind::LeaseLost
    ) {
        ctx.fail_retryably();
    }
    tracing::debug!(
        session = S::NAME,
        key,
        store = source.store(),
        op = %source.op(),
        kind = ?source.kind(),
        error = %source,
        "store call failed"
    );
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
