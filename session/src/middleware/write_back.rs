//! Writing a session back after the handler: the second half of an update's session work.

use std::time::Duration;

use crate::composer::layer::{Outcome, Step};
use crate::context::Context;
use crate::envelope::remembered;
use crate::error::SessionError;
use crate::middleware::buffers;
use crate::middleware::hold::{self, commit, commit_now, storage_error};
use crate::middleware::load::{ENCODE_BUFFER, encode};
use crate::middleware::shared::Shared;
use crate::middleware::slot::Slot;
use crate::middleware::state::{Loaded, Origin};
use crate::observe::session::Skipped;
use crate::session::Session;
use crate::storage::Change;

/// Closes the slot and applies its write-back, releasing the key: at once when the store
/// answers at once (in memory, or nothing to write), else as a future. After a failed handler
/// nothing is written unless the middleware opted into `write_on_error`; after an update the
/// handler did not take ([`Outcome::Unhandled`]) nothing is written at all.
pub(crate) fn finish<'a, S: Session>(
    shared: &'a Shared<S>,
    slot: &'a Slot<S>,
    ctx: &'a Context,
    outcome: Outcome,
) -> Step<'a> {
    let (loaded, held) = slot.close();
    let (Some(held), Some(key)) = (held, slot.key.as_deref()) else {
        // Never loaded (a lazy session the handler did not touch): no store traffic at all.
        return Step::done(Ok(()));
    };
    let mut buffer = Vec::new();
    let planned = match loaded {
        Some(loaded) if writes(outcome, shared.options.write_on_error) => {
            plan(shared, ctx, key, loaded, &mut buffer)
        }
        Some(_) if outcome == Outcome::Failed => {
            shared.observer.skipped(key, Skipped::HandlerFailed);
            Ok(Planned::Nothing)
        }
        Some(loaded) if outcome == Outcome::Unhandled && loaded.changed => {
            // A change made before a filter that then let the update go (a teloxide branch no
            // endpoint took) is a surprise worth telling whoever looks.
            tracing::debug!(
                session = S::NAME,
                key,
                kind = ctx.update_kind(),
                "a change to the session was dropped: no endpoint of the branch took the update"
            );
            Ok(Planned::Nothing)
        }
        _ => Ok(Planned::Nothing),
    };
    let planned = match planned {
        Ok(planned) => planned,
        // Nothing is written, but the key (and its lease) is still released.
        Err(err) => match held.lease {
            None => {
                hold::release(ctx, held);
                return Step::done(Err(err));
            }
            Some(_) => {
                return Step::wait(async move {
                    hold::give_back(shared, ctx, key, held).await;
                    Err(err.into())
                });
            }
        },
    };
    if held.lease.is_none() {
        let now = match planned.change(&buffer) {
            Change::Nothing => Some(Ok(())),
            change => commit_now(shared, key, change),
        };
        if let Some(outcome) = now {
            hold::release(ctx, held);
            buffers::give_back(buffer);
            return Step::done(outcome.map_err(|source| storage_error::<S>(ctx, key, source)));
        }
    }
    Step::wait(async move {
        let committed = commit(shared, ctx, key, held, planned.change(&buffer)).await;
        buffers::give_back(buffer);
        committed.map_err(Into::into)
    })
}

/// Whether a session is written back after `outcome`.
fn writes(outcome: Outcome, write_on_error: bool) -> bool {
    match outcome {
        Outcome::Ok => true,
        Outcome::Failed => write_on_error,
        Outcome::Unhandled => false,
    }
}

/// Decides what the store must do for this session, encoding into `buffer` if needed.
///
/// The new encoding is compared with the previous one (the stored bytes, or the initial
/// value's for a new session): equal bytes mean nothing to write. Both live in `buffer`, the
/// previous first, so one allocation serves both: for a stored session it is the buffer the
/// bytes were read into, which has room after them (`buffers::READ_BUFFER`).
///
/// The new bytes start with the ids of the updates that changed the session, this one with the
/// replies it keeps (see `envelope/remembered.rs`); the comparison leaves that header out.
fn plan<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
    mut loaded: Loaded<S>,
    buffer: &mut Vec<u8>,
) -> Result<Planned, SessionError> {
    let ttl = shared.options.ttl;
    let unchanged = match (&loaded.origin, ttl) {
        (Origin::Stored(_), Some(ttl)) => Planned::Touch(ttl),
        _ => Planned::Nothing,
    };
    if loaded.cleared {
        return Ok(match loaded.origin {
            Origin::New(_) => Planned::Nothing,
            Origin::Stored(_) | Origin::Unread => Planned::Delete,
        });
    }
    if loaded.redelivery {
        shared.observer.skipped(key, Skipped::Redelivery);
        return Ok(unchanged);
    }
    if !loaded.changed {
        shared.observer.skipped(key, Skipped::Unchanged);
        return Ok(unchanged);
    }
    let origin = std::mem::replace(&mut loaded.origin, Origin::Unread);
    let previous_len = match origin {
        Origin::Stored(bytes) => {
            *buffer = bytes;
            Some(buffer.len())
        }
        Origin::New(initial) if !initial.is_empty() => {
            *buffer = initial;
            buffer.reserve(ENCODE_BUFFER);
            Some(buffer.len())
        }
        Origin::New(_) => {
            // Replaced without reading, on a missing key: the initial value is made for the
            // comparison (the one call of `initial` for this new session).
            buffer.reserve(ENCODE_BUFFER);
            encode(key, &S::initial(), buffer)?;
            Some(buffer.len())
        }
        Origin::Unread => {
            buffer.reserve(ENCODE_BUFFER);
            None
        }
    };
    let start = previous_len.unwrap_or(0);
    let previous_at = loaded.seen_len.min(start);
    if let Some(id) = ctx.update_id() {
        let remember = shared.options.remember_updates;
        let confirmed = ctx.confirmed();
        ctx.with_kept_replies(|replies| {
            remembered::append(id, replies, 0..previous_at, remember, confirmed, buffer);
        });
    }
    let new_at = buffer.len();
    encode(key, loaded.value(), buffer)?;
    if previous_len.is_some() && buffer[previous_at..start] == buffer[new_at..] {
        shared.observer.skipped(key, Skipped::Unchanged);
        Ok(unchanged)
    } else {
        Ok(Planned::Write { start, ttl })
    }
}

/// A [`Change`] whose bytes are in the write-back buffer, so that the buffer can move into a
/// future when the store has to be waited for.
#[derive(Debug, Clone, Copy)]
enum Planned {
    Nothing,
    Touch(Duration),
    /// The new encoding is `buffer[start..]`.
    Write {
        start: usize,
        ttl: Option<Duration>,
    },
    Delete,
}

impl Planned {
    fn change(self, buffer: &[u8]) -> Change<'_> {
        match self {
            Planned::Nothing => Change::Nothing,
            Planned::Touch(ttl) => Change::Touch(ttl),
            Planned::Write { start, ttl } => Change::Write(&buffer[start..], ttl),
            Planned::Delete => Change::Delete,
        }
    }
}
