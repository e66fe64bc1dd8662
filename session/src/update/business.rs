//! Telegram Business: connections of a business account to the bot, and deleted messages.
//! (Business messages themselves are [`Message`](super::Message)s.)

use serde::{Deserialize, Serialize};

use super::{Chat, User};

/// The bot was connected to or disconnected from a business account, or the connection changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BusinessConnection {
    /// The connection's id, as in `business_connection_id` of business messages.
    pub id: String,
    /// The business account's user.
    pub user: User,
    /// The bot's private chat with that user.
    pub user_chat_id: i64,
    /// Unix time the connection was established.
    pub date: i64,
    /// Before Bot API 9.0: whether the bot may reply in the account's chats (now in
    /// [`rights`](Self::rights)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_reply: Option<bool>,
    /// What the bot may do for the business account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<BusinessBotRights>,
    /// Whether the connection is active.
    pub is_enabled: bool,
}

/// What a business bot may do for the business account (the rights bots commonly check).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BusinessBotRights {
    /// Send and edit messages in private chats that had incoming messages in the last 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_reply: Option<bool>,
    /// Mark incoming private messages as read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_read_messages: Option<bool>,
    /// Delete messages the bot sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_delete_outgoing_messages: Option<bool>,
    /// Delete any private message in managed chats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_delete_all_messages: Option<bool>,
}

/// Messages were deleted from a connected business account's chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BusinessMessagesDeleted {
    /// The business connection.
    pub business_connection_id: String,
    /// The private chat, in the business account, the messages were deleted from.
    pub chat: Chat,
    /// The deleted messages' ids in that chat.
    pub message_ids: Vec<i64>,
}
