//! Writing a session back after the handler: the second half of an update's session work.

use std::time::Duration;

use crate::codec::Codec;
use crate::context::Context;
use crate::envelope;
use crate::error::SessionError;
use crate::layer::Step;
use crate::load::{self, storage_error};
use crate::middleware::Shared;
use crate::session::Session;
use crate::slot::{Held, Loaded, Origin, Slot};
use crate::storage::Change;

/// Closes the slot and applies its write-back, releasing the key: at once when the store
/// answers at once (in memory, or nothing to write), else as a future. `handler_ok` is false
/// when the handler failed: then nothing is written unless the middleware opted into
/// `write_on_error`.
pub(crate) fn finish<'a, S: Session>(
    shared: &'a Shared<S>,
    slot: &'a Slot<S>,
    ctx: &'a Context,
    handler_ok: bool,
) -> Step<'a> {
    let (loaded, held) = slot.close();
    let (Some(held), Some(key)) = (held, slot.key.as_deref()) else {
        // Never loaded (a lazy session the handler did not touch): no store traffic at all.
        return Step::done(Ok(()));
    };
    let mut buffer = Vec::new();
    let planned = match loaded {
        Some(loaded) if handler_ok || shared.options.write_on_error => {
            plan(shared, key, loaded, &mut buffer)
        }
        _ => Ok(Planned::Nothing),
    };
    let planned = match planned {
        Ok(planned) => planned,
        // Nothing is written, but the key (and its lease) is still released.
        Err(err) => match held.lease {
            None => {
                load::release(ctx, held);
                return Step::done(Err(err));
            }
            Some(_) => {
                return Step::wait(async move {
                    load::give_back(shared, ctx, key, held).await;
                    Err(err.into())
                });
            }
        },
    };
    if held.lease.is_none() {
        let now = match planned.change(&buffer) {
            Change::Nothing => Some(Ok(())),
            change => shared.store.commit_now(key, change),
        };
        if let Some(outcome) = now {
            load::release(ctx, held);
            return Step::done(outcome.map_err(|source| storage_error::<S>(key, source)));
        }
    }
    Step::wait(async move {
        commit(shared, ctx, key, held, planned.change(&buffer))
            .await
            .map_err(Into::into)
    })
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
            None => shared.store.commit_now(key, change),
            Some(_) => None,
        };
        match now {
            Some(outcome) => outcome,
            None => shared.store.commit(key, held.lease, change).await,
        }
        .map_err(|source| storage_error::<S>(key, source))
    } else {
        Ok(())
    };
    drop(held);
    ctx.key_released();
    result
}

/// Decides what the store must do for this session, encoding into `buffer` if needed.
///
/// The new encoding is compared with the previous one (the stored bytes, or the initial
/// value's for a new session): equal bytes mean nothing to write. Both live in `buffer`, the
/// previous first, so one allocation serves both: for a stored session it is the buffer the
/// bytes were read into, which has room after them (`load::READ_BUFFER`).
fn plan<S: Session>(
    shared: &Shared<S>,
    key: &str,
    loaded: Loaded<S>,
    buffer: &mut Vec<u8>,
) -> Result<Planned, SessionError> {
    let ttl = shared.options.ttl;
    let unchanged = match (&loaded.origin, ttl) {
        (Origin::Stored(_), Some(ttl)) => Planned::Touch(ttl),
        _ => Planned::Nothing,
    };
    if loaded.cleared {
        return Ok(match loaded.origin {
            Origin::New => Planned::Nothing,
            Origin::Stored(_) | Origin::Unread => Planned::Delete,
        });
    }
    if !loaded.changed {
        return Ok(unchanged);
    }
    let previous_len = match loaded.origin {
        Origin::Stored(bytes) => {
            *buffer = bytes;
            Some(buffer.len())
        }
        Origin::New => {
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
    encode(key, &loaded.value, buffer)?;
    let (previous, new) = buffer.split_at(start);
    if previous_len.is_some() && previous == new {
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

/// Room reserved before encoding a session that was not read: encoders grow a buffer a few
/// bytes at a time, reallocating each time.
const ENCODE_BUFFER: usize = 64;

fn encode<S: Session>(key: &str, value: &S, out: &mut Vec<u8>) -> Result<(), SessionError> {
    envelope::write_header(S::VERSION, out);
    S::Codec::encode(value, out).map_err(|source| SessionError::Encode {
        session: S::NAME,
        key: key.to_owned(),
        codec: <S::Codec as Codec>::NAME,
        source,
    })
}
