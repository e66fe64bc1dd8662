//! Keeping a group's sessions when it becomes a supergroup.
//!
//! Telegram gives the supergroup a new chat id and announces it twice: a service message in
//! the old group carrying `migrate_to_chat_id`, and one in the new supergroup carrying
//! `migrate_from_chat_id`, in no guaranteed order. On whichever arrives first, sessions keyed
//! by the old chat id are moved to the new one; the second finds nothing left to move.
//!
//! The session of the chat itself (`chat`, and `chat_thread` outside topics; a group has no
//! topics) has one key to move. The `chat_user` sessions of the group, one per member, are
//! keyed `user:chat`, so they are found by listing every `chat_user` session of the type
//! (page by page, [`Storage::list`](crate::Storage::list)) and keeping those of the old chat:
//! a migration costs one pass over the type's sessions, once per group in its lifetime (the
//! second notice finds none left). A store that cannot list leaves them where they were, with
//! a warning.

use crate::context::Context;
use crate::error::{SessionError, StorageErrorKind};
use crate::ids::ChatMigration;
use crate::keys::{KeyStrategy, parse_chat_user};
use crate::middleware::hold::{commit, give_back, storage_error, take_key};
use crate::middleware::shared::Shared;
use crate::session::Session;
use crate::storage::{Change, ListCursor};
use crate::storage_key::StorageKey;

/// How many sessions a page of the listing for `chat_user` sessions holds.
const PAGE: usize = 1000;

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
    if let KeyStrategy::ChatUser = S::KEY {
        move_members(shared, ctx, migration).await?;
        return Ok(member_key_after(S::PREFIX, key, migration));
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

/// The key a `chat_user` session of the old chat moves to: the same user in the new chat.
/// Any other key stays.
fn member_key_after(prefix: &str, key: StorageKey, migration: ChatMigration) -> StorageKey {
    let user = key
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(parse_chat_user)
        .and_then(|(user, chat)| (chat == migration.from).then_some(user));
    match user {
        Some(user) => member_key(prefix, user, migration.to),
        None => key,
    }
}

fn member_key(prefix: &str, user: i64, chat: i64) -> StorageKey {
    let mut key = StorageKey::new();
    key.push_str(prefix);
    key.push_str(":");
    key.push_str(itoa::Buffer::new().format(user));
    key.push_str(":");
    key.push_str(itoa::Buffer::new().format(chat));
    key
}

/// Moves every `chat_user` session of the old chat to the same user in the new one.
async fn move_members<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    migration: ChatMigration,
) -> Result<(), SessionError> {
    let prefix = format!("{}:", S::PREFIX);
    let mut cursor = ListCursor::start();
    let mut moved = 0u64;
    loop {
        let page = match shared.store.list(&prefix, &cursor, PAGE).await {
            Ok(page) => page,
            Err(err) if cursor.is_start() && err.kind() == StorageErrorKind::Invalid => {
                tracing::warn!(
                    session = S::NAME,
                    from = migration.from,
                    to = migration.to,
                    store = shared.store.name(),
                    error = %err,
                    "group became a supergroup, but the store cannot list its sessions: the \
                     members' sessions stay under the old chat id"
                );
                return Ok(());
            }
            Err(err) => return Err(storage_error::<S>(ctx, &prefix, err)),
        };
        for listed in &page.sessions {
            let member = listed.key.strip_prefix(prefix.as_str());
            let Some((user, chat)) = member.and_then(parse_chat_user) else {
                continue;
            };
            if chat != migration.from {
                continue;
            }
            let new_key = member_key(S::PREFIX, user, migration.to);
            move_session(shared, ctx, &listed.key, &new_key).await?;
            moved += 1;
        }
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    if moved > 0 {
        tracing::info!(
            session = S::NAME,
            from = migration.from,
            to = migration.to,
            moved,
            "group became a supergroup: its members' sessions moved"
        );
    }
    Ok(())
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
