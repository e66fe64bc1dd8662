//! A chat: a private conversation, a group, a supergroup or a channel.

use serde::{Deserialize, Serialize};

use super::string_enum::string_enum;

/// A chat as it appears in updates (Bot API `Chat`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    /// Unique identifier; at most 52 significant bits. Negative for groups, supergroups and
    /// channels; for a private chat, the other user's id.
    pub id: i64,
    /// Private, group, supergroup or channel.
    #[serde(rename = "type")]
    pub kind: ChatType,
    /// Title, for groups, supergroups and channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Username, without the `@`, for private chats, supergroups and channels that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// First name of the other party in a private chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name of the other party in a private chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Whether the supergroup is a forum (has topics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_forum: Option<bool>,
    /// Whether the chat is the direct messages chat of a channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_direct_messages: Option<bool>,
}

string_enum! {
    /// The type of a chat. `Sender` only occurs in [`InlineQuery::chat_type`](super::InlineQuery::chat_type)
    /// (the private chat with the inline query's sender).
    pub enum ChatType {
        /// A private chat with one user.
        Private = "private",
        /// A basic group.
        Group = "group",
        /// A supergroup (possibly a forum).
        Supergroup = "supergroup",
        /// A channel.
        Channel = "channel",
        /// In inline queries only: the private chat with the query's sender.
        Sender = "sender",
    }
    default = Private;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_read_and_write_their_string() {
        for (text, kind) in [
            ("private", ChatType::Private),
            ("group", ChatType::Group),
            ("supergroup", ChatType::Supergroup),
            ("channel", ChatType::Channel),
            ("sender", ChatType::Sender),
        ] {
            let json = format!("\"{text}\"");
            assert_eq!(serde_json::from_str::<ChatType>(&json).unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), json);
        }
    }

    #[test]
    fn an_unknown_type_falls_back_and_round_trips() {
        let kind: ChatType = serde_json::from_str("\"monoforum\"").unwrap();
        assert_eq!(kind, ChatType::Other("monoforum".to_owned()));
        assert_eq!(kind.as_str(), "monoforum");
        assert_eq!(serde_json::to_string(&kind).unwrap(), "\"monoforum\"");
    }

    #[test]
    fn from_str_never_builds_other_for_a_known_value() {
        assert_eq!(ChatType::from("channel"), ChatType::Channel);
        assert_eq!(ChatType::from(String::from("group")), ChatType::Group);
    }

    #[test]
    fn a_non_string_type_is_an_error() {
        assert!(serde_json::from_str::<ChatType>("3").is_err());
    }

    #[test]
    fn chat_reads_type_and_ignores_unknown_fields() {
        let chat: Chat = serde_json::from_str(
            r#"{"id": -1001, "type": "supergroup", "title": "T", "is_forum": true,
                "accent_color_id": 3, "photo": {"small_file_id": "x"}}"#,
        )
        .unwrap();
        assert_eq!(chat.id, -1001);
        assert_eq!(chat.kind, ChatType::Supergroup);
        assert_eq!(chat.is_forum, Some(true));
    }
}
