//! The ids an update carries that sessions are keyed by, and how an update type supplies them.

/// The ids an update carries that sessions can be keyed by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionIds {
    /// The chat the update happened in.
    pub chat: Option<i64>,
    /// The user who caused the update.
    pub user: Option<i64>,
    /// The forum topic (message thread) inside the chat.
    pub thread: Option<i64>,
}

/// A group became a supergroup: its chat id changed from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatMigration {
    /// The group's old chat id, whose sessions move.
    pub from: i64,
    /// The supergroup's new chat id.
    pub to: i64,
}

/// Supplies the ids sessions are keyed by. Implemented for the Telegram [`Update`](crate::Update);
/// implement it for another framework's update type to use bot-session with it.
pub trait SessionKeys {
    /// The chat id, if the update happened in a chat.
    fn chat_id(&self) -> Option<i64>;
    /// The id of the user who caused the update.
    fn user_id(&self) -> Option<i64>;
    /// The forum topic (message thread) id, if any.
    fn thread_id(&self) -> Option<i64> {
        None
    }
    /// The update's id, when the update type has one: a session remembers the ids of the last
    /// updates that changed it, so a redelivered update is not applied twice.
    fn update_id(&self) -> Option<i64> {
        None
    }
    /// The chat the update was sent on behalf of: a message's `sender_chat` (an anonymous
    /// group admin, a channel, a channel's automatic forward to its discussion group), a
    /// reaction's `actor_chat`, a poll answer's `voter_chat`. Such an update has no user (its
    /// `from`, where present, is a placeholder), and the error of a session keyed by the user
    /// says so.
    fn sender_chat_id(&self) -> Option<i64> {
        None
    }
    /// A short name of the update's kind (`"message"`, `"inline_query"`, ...), for messages.
    fn kind_name(&self) -> &'static str {
        "update"
    }
    /// When a group became a supergroup: the new chat id its sessions move to.
    fn migrate_to_chat_id(&self) -> Option<i64> {
        None
    }
    /// In the new supergroup's first message: the old group's chat id its sessions come from.
    fn migrate_from_chat_id(&self) -> Option<i64> {
        None
    }
    /// `(old chat id, new chat id)` when the update announces a group → supergroup migration,
    /// from either side of it.
    fn chat_migration(&self) -> Option<ChatMigration> {
        let chat = self.chat_id()?;
        match (self.migrate_to_chat_id(), self.migrate_from_chat_id()) {
            (Some(to), _) => Some(ChatMigration { from: chat, to }),
            (None, Some(from)) => Some(ChatMigration { from, to: chat }),
            (None, None) => None,
        }
    }
    /// All ids at once.
    fn session_ids(&self) -> SessionIds {
        SessionIds {
            chat: self.chat_id(),
            user: self.user_id(),
            thread: self.thread_id(),
        }
    }
}
