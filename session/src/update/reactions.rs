//! Reactions to messages.

use serde::{Deserialize, Serialize};

use super::{Chat, User};

/// A user (or a chat, for anonymous reactions) changed their reaction to a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageReactionUpdated {
    /// The chat the message is in.
    pub chat: Chat,
    /// The message's id in the chat.
    pub message_id: i64,
    /// The user who changed the reaction, if not anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The chat on behalf of which the reaction was changed, if anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_chat: Option<Chat>,
    /// Unix time of the change.
    pub date: i64,
    /// The reactions before the change.
    pub old_reaction: Vec<ReactionType>,
    /// The reactions after the change.
    pub new_reaction: Vec<ReactionType>,
}

/// The anonymous reaction counts of a message changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageReactionCountUpdated {
    /// The chat the message is in.
    pub chat: Chat,
    /// The message's id in the chat.
    pub message_id: i64,
    /// Unix time of the change.
    pub date: i64,
    /// The reactions on the message now.
    pub reactions: Vec<ReactionCount>,
}

/// A reaction (Bot API `ReactionType`, whose variants are folded into one struct told apart
/// by [`kind`](Self::kind)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReactionType {
    /// `"emoji"`, `"custom_emoji"` or `"paid"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `"emoji"`: the emoji.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// `"custom_emoji"`: the custom emoji's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_emoji_id: Option<String>,
}

/// How many times a reaction was added to a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReactionCount {
    /// The reaction.
    #[serde(rename = "type")]
    pub kind: ReactionType,
    /// How many times it was added.
    pub total_count: i64,
}
