//! Queries from users: inline queries, chosen inline results, callback queries.

use serde::{Deserialize, Serialize};

use super::{ChatType, Location, MaybeInaccessibleMessage, User};

/// An incoming inline query (`@bot query` typed in any chat).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InlineQuery {
    /// Identifier, for `answerInlineQuery`.
    pub id: String,
    /// The user who typed the query.
    pub from: User,
    /// The query text (up to 256 characters).
    pub query: String,
    /// The offset of the results to return, as the bot set it in its previous answer.
    pub offset: String,
    /// The type of chat the query was sent from; [`ChatType::Sender`] for the private chat with
    /// the sender. Absent for requests sent from secret chats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<ChatType>,
    /// The sender's location, for bots that request it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// An inline query result the user chose and sent to their chat partner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChosenInlineResult {
    /// The chosen result's id.
    pub result_id: String,
    /// The user who chose the result.
    pub from: User,
    /// The sender's location, for bots that request it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Identifier of the sent inline message, when it has an inline keyboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_message_id: Option<String>,
    /// The query that was used to obtain the result.
    pub query: String,
}

/// A press on a callback button of an inline keyboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallbackQuery {
    /// Identifier, for `answerCallbackQuery`.
    pub id: String,
    /// The user who pressed the button.
    pub from: User,
    /// The message with the button, when the bot sent it (not through inline mode); possibly
    /// inaccessible by now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MaybeInaccessibleMessage>,
    /// Identifier of the inline message with the button, when it was sent in inline mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_message_id: Option<String>,
    /// Global identifier of the chat the message is in, stable for games' high scores.
    pub chat_instance: String,
    /// The button's callback data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The short name of the game to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_short_name: Option<String>,
}
