//! Polls and the answers to them.

use serde::{Deserialize, Serialize};

use super::string_enum::string_enum;
use super::{Chat, MessageEntity, User};

/// A poll: as the `poll` update (new state of a poll the bot sent, or of a stopped poll), or
/// attached to a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    /// Identifier.
    pub id: String,
    /// The question.
    pub question: String,
    /// Formatting in the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_entities: Option<Vec<MessageEntity>>,
    /// The answer options.
    pub options: Vec<PollOption>,
    /// How many users voted.
    pub total_voter_count: i64,
    /// Whether the poll is closed.
    pub is_closed: bool,
    /// Whether the poll is anonymous.
    pub is_anonymous: bool,
    /// Regular poll or quiz.
    #[serde(rename = "type")]
    pub kind: PollType,
    /// Whether several answers may be chosen.
    pub allows_multiple_answers: bool,
    /// For quizzes: the 0-based index of the correct option, when the bot may know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_option_id: Option<i64>,
    /// For quizzes: the explanation shown after a wrong answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Seconds the poll stays open after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_period: Option<i64>,
    /// Unix time the poll closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_date: Option<i64>,
}

/// One answer option of a poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollOption {
    /// The option's text.
    pub text: String,
    /// Formatting in the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_entities: Option<Vec<MessageEntity>>,
    /// How many users chose this option.
    pub voter_count: i64,
}

string_enum! {
    /// The type of a poll.
    pub enum PollType {
        /// A poll with no correct answer.
        Regular = "regular",
        /// A quiz, with one correct answer.
        Quiz = "quiz",
    }
    default = Regular;
}

/// A user (or, for anonymous votes, a chat) changed their answer in a non-anonymous poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollAnswer {
    /// The poll's id.
    pub poll_id: String,
    /// The chat that voted, when the voter is anonymous (a channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voter_chat: Option<Chat>,
    /// The user who voted. When [`voter_chat`](Self::voter_chat) is set, a placeholder user
    /// (`@Channel_Bot`) kept for backward compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The 0-based indices of the chosen options; empty when the vote was retracted.
    pub option_ids: Vec<i64>,
}
