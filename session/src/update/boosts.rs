//! Chat boosts.

use serde::{Deserialize, Serialize};

use super::{Chat, User};

/// A chat was boosted, or a boost changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatBoostUpdated {
    /// The boosted chat.
    pub chat: Chat,
    /// The boost.
    pub boost: ChatBoost,
}

/// A boost was removed from a chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatBoostRemoved {
    /// The chat that was boosted.
    pub chat: Chat,
    /// The boost's id, unique inside the chat.
    pub boost_id: String,
    /// Unix time the boost was removed.
    pub remove_date: i64,
    /// Where the boost came from.
    pub source: ChatBoostSource,
}

/// A boost of a chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatBoost {
    /// The boost's id, unique inside the chat.
    pub boost_id: String,
    /// Unix time the chat was boosted.
    pub add_date: i64,
    /// Unix time the boost expires unless the booster's Premium subscription is renewed.
    pub expiration_date: i64,
    /// Where the boost came from.
    pub source: ChatBoostSource,
}

/// Where a boost came from (Bot API `ChatBoostSource`, whose variants are folded into one
/// struct told apart by [`source`](Self::source)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatBoostSource {
    /// `"premium"` (a Premium subscriber boosted), `"gift_code"` (a Premium gift code was
    /// created for the user) or `"giveaway"`.
    pub source: String,
    /// The booster: the subscriber, the user the gift code was made for, or the giveaway's
    /// winner (Premium giveaways only; absent when nobody won).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// `"giveaway"`: the giveaway message's id in the chat (0 if not sent yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub giveaway_message_id: Option<i64>,
    /// `"giveaway"`: Telegram Stars split between winners, for Star giveaways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prize_star_count: Option<i64>,
    /// `"giveaway"`: `Some(true)` when the giveaway ended with no winner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_unclaimed: Option<bool>,
}
