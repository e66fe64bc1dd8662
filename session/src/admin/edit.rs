//! One edit of one session outside an update: its key taken as an update takes it (the
//! in-process lock, then the store's lease, renewed while held), the stored bytes read, the
//! change applied through the same commit as a write-back, the key released.
//!
//! The bytes written keep the remembered-updates header the session had: an update the bot
//! applied before the edit and that Telegram delivers again after it is still recognized, and
//! answered with the replies it kept.

use std::time::Instant;

use crate::context::Context;
use crate::envelope::remembered;
use crate::error::SessionError;
use crate::ids::SessionKeys;
use crate::middleware::hold::{self, Taken};
use crate::middleware::load;
use crate::middleware::shared::Shared;
use crate::session::Session;
use crate::storage::Change;
use crate::stored::StoredBytes;

/// What an edit makes of the session it holds.
pub(crate) enum Plan<S> {
    /// Leave it as it is.
    Keep,
    /// Store this value (nothing is written when its bytes are those already stored).
    Store(S),
    /// Delete the session.
    Delete,
}

/// The session an edit holds, as stored.
pub(crate) struct Current<'a, S: Session> {
    shared: &'a Shared<S>,
    ctx: &'a Context,
    key: &'a str,
    bytes: Option<&'a [u8]>,
}

impl<S: Session> Current<'_, S> {
    /// Whether a session is stored under the key.
    pub(crate) fn exists(&self) -> bool {
        self.bytes.is_some()
    }

    /// The schema version the stored session was written in; `None` when none is stored.
    pub(crate) fn version(&self) -> Option<u32> {
        self.bytes.map(|bytes| StoredBytes::parse(bytes).version())
    }

    /// The stored value, migrated from an older schema version if need be; `None` when no
    /// session is stored.
    pub(crate) fn value(&self) -> Result<Option<S>, SessionError> {
        let Some(bytes) = self.bytes else {
            return Ok(None);
        };
        decode(self.shared, self.ctx, self.key, bytes).map(Some)
    }
}

/// Decodes stored bytes as an update would (migrating older versions; resetting corrupt
/// bytes if the settings say so), outside any update.
pub(crate) fn decode<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
    bytes: &[u8],
) -> Result<S, SessionError> {
    let mut loaded = load::decode(shared, ctx, key, Some(bytes.to_vec()))?;
    Ok(std::mem::replace(loaded.value_mut(), S::initial()))
}

/// The ids of an edit outside updates: none, so no key function and no remembered update can
/// match it.
struct Outside;

impl SessionKeys for Outside {
    fn chat_id(&self) -> Option<i64> {
        None
    }
    fn user_id(&self) -> Option<i64> {
        None
    }
    fn kind_name(&self) -> &'static str {
        "edit outside an update"
    }
}

/// The context an edit takes keys with: its own age (ticket), like an update's.
pub(crate) fn outside() -> Context {
    Context::detached(Outside)
}

/// Takes `key`, hands `decide` the session as stored, applies the [`Plan`] it returns, and
/// releases the key; returns what `decide` returned with the plan. When `decide` fails nothing
/// is written.
pub(crate) async fn edit<S, R>(
    shared: &Shared<S>,
    key: &str,
    decide: impl FnOnce(&Current<'_, S>) -> Result<(Plan<S>, R), SessionError>,
) -> Result<R, SessionError>
where
    S: Session,
{
    let ctx = outside();
    let (held, stored) = take(shared, &ctx, key).await?;
    let current = Current {
        shared,
        ctx: &ctx,
        key,
        bytes: stored.as_deref(),
    };
    let planned = decide(&current).and_then(|(plan, result)| {
        let mut buffer = Vec::new();
        let change = change(key, stored.as_deref(), plan, &mut buffer)?;
        Ok((change.map(|what| (buffer, what)), result))
    });
    match planned {
        Ok((change, result)) => {
            let change = match &change {
                None => Change::Nothing,
                Some((_, Stored::Delete)) => Change::Delete,
                Some((bytes, Stored::Write)) => Change::Write(bytes, shared.options.ttl),
            };
            hold::commit(shared, &ctx, key, held, change).await?;
            Ok(result)
        }
        Err(err) => {
            hold::give_back(shared, &ctx, key, held).await;
            Err(err)
        }
    }
}

/// Takes `key` for an edit and reads it. An edit holds no other key, so it waits for the key
/// like an update that holds nothing: for the store's lease at most `lock_wait` (the store
/// loop's own bound), and for an update of this process that holds it at most twice that
/// (an edit made from a handler, of a key the handler's own update holds, would otherwise
/// wait for ever).
async fn take<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
) -> Result<Taken, SessionError> {
    let started = Instant::now();
    let bound = shared.options.lock_wait.saturating_mul(2);
    match tokio::time::timeout(bound, hold::take_key(shared, ctx, key, true)).await {
        Ok(taken) => taken,
        Err(_) => {
            tracing::warn!(
                session = S::NAME,
                key,
                "an edit outside updates gave up waiting for a key held in this process (an \
                 edit made from a handler, of a key its own update holds? make it in \
                 `ctx.after_commit`)"
            );
            Err(SessionError::LockTimeout {
                session: S::NAME,
                key: key.to_owned(),
                holder_ticket: None,
                waited: started.elapsed(),
            })
        }
    }
}

/// What the store is asked to do, when anything.
enum Stored {
    Write,
    Delete,
}

/// The change `plan` makes to the session stored as `stored`; for a write, its bytes in
/// `buffer`: the stored remembered-updates header, then the new value's encoding.
fn change<S: Session>(
    key: &str,
    stored: Option<&[u8]>,
    plan: Plan<S>,
    buffer: &mut Vec<u8>,
) -> Result<Option<Stored>, SessionError> {
    match plan {
        Plan::Keep => Ok(None),
        Plan::Delete => Ok(stored.map(|_| Stored::Delete)),
        Plan::Store(value) => {
            if let Some(stored) = stored {
                let (_, header) = remembered::header(stored);
                buffer.extend_from_slice(&stored[..header]);
            }
            load::encode(key, &value, buffer)?;
            Ok((stored != Some(buffer.as_slice())).then_some(Stored::Write))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::fixtures::Count;

    #[test]
    fn a_stored_value_keeps_the_remembered_updates() {
        let stored = StoredBytes::build(0, &[7, 9], br#"{"n":1}"#);
        let mut buffer = Vec::new();
        let planned = change(
            "c:1",
            Some(&stored),
            Plan::Store(Count { n: 5 }),
            &mut buffer,
        );
        assert!(matches!(planned, Ok(Some(Stored::Write))));
        let written = StoredBytes::parse(&buffer);
        assert_eq!(written.remembered_updates(), [9, 7]);
        assert_eq!(written.payload(), br#"{"n":5}"#);
    }

    #[test]
    fn the_same_bytes_are_not_written_again() {
        let stored = StoredBytes::build(0, &[7], br#"{"n":1}"#);
        let mut buffer = Vec::new();
        let planned = change(
            "c:1",
            Some(&stored),
            Plan::Store(Count { n: 1 }),
            &mut buffer,
        );
        assert!(matches!(planned, Ok(None)));
    }

    #[test]
    fn deleting_nothing_asks_nothing_of_the_store() {
        let mut buffer = Vec::new();
        assert!(matches!(
            change::<Count>("c:1", None, Plan::Delete, &mut buffer),
            Ok(None)
        ));
        assert!(matches!(
            change::<Count>("c:1", Some(b"{}"), Plan::Delete, &mut buffer),
            Ok(Some(Stored::Delete))
        ));
    }
}
