//! Keeping a group's sessions when it becomes a supergroup.
//!
//! Telegram gives the supergroup a new chat id and announces it twice: a service message in
//! the old group carrying `migrate_to_chat_id`, and one in the new supergroup carrying
//! `migrate_from_chat_id`, in no guaranteed order. On whichever arrives first, sessions keyed
//! by the old chat id are moved to the new one; the second finds nothing left to move.
//! Only sessions keyed by the chat alone move (`chat`, and `chat_thread` outside topics):
//! finding every `chat_user` session of the old group would need a scan of the store.

use crate::context::Context;
use crate::error::SessionError;
use crate::middleware::hold::{commit, give_back, take_key};
use crate::middleware::shared::Shared;
use crate::session::Session;
use crate::storage::Change;
use crate::storage_key::StorageKey;

/// Moves the session of the old chat to the new one if the update announces a migration, and
/// returns the key the update itself should use (the new chat's, if it was the old chat's).
pub(crate) async fn follow<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: StorageKey,
) -> Result<StorageKey, SessionError> {
    let Some(migration) = ctx.chat_migration() else {
        return Ok(key);
    };
    if !shared.options.migrate_chats {
        return Ok(key);
    }
    let ids = ctx.ids();
    let (Some(old_key), Some(new_key)) = (
        S::KEY.chat_key(S::PREFIX, ids, migration.from),
        S::KEY.chat_key(S::PREFIX, ids, migration.to),
    ) else {
        return Ok(key);
    };
    move_session(shared, ctx, &old_key, &new_key).await?;
    Ok(if key == old_key { new_key } else { key })
}

async fn move_session<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    old_key: &str,
    new_key: &str,
) -> Result<(), SessionError> {
    let (old_held, old_value) = take_key(shared, ctx, old_key, true).await?;
    let (new_held, new_value) = match take_key(shared, ctx, new_key, true).await {
        Ok(taken) => taken,
        Err(err) => {
            give_back(shared, ctx, old_key, old_held).await;
            return Err(err);
        }
    };
    match (old_value, new_value) {
        (Some(bytes), None) => {
            // Write the new copy before deleting the old one: a failure in between leaves two
            // copies, never none.
            let write = Change::Write(&bytes, shared.options.ttl);
            if let Err(err) = commit(shared, ctx, new_key, new_held, write).await {
                give_back(shared, ctx, old_key, old_held).await;
                return Err(err);
            }
            commit(shared, ctx, old_key, old_held, Change::Delete).await?;
            shared.observer.chat_migrated();
            tracing::info!(
                session = S::NAME,
                from = old_key,
                to = new_key,
                "group became a supergroup: session moved"
            );
        }
        (Some(_), Some(_)) => {
            tracing::warn!(
                session = S::NAME,
                from = old_key,
                to = new_key,
                "group became a supergroup, but the new chat already has a session: the old one is kept where it was"
            );
            give_back(shared, ctx, new_key, new_held).await;
            give_back(shared, ctx, old_key, old_held).await;
        }
        (None, _) => {
            give_back(shared, ctx, new_key, new_held).await;
            give_back(shared, ctx, old_key, old_held).await;
        }
    }
    Ok(())
}
