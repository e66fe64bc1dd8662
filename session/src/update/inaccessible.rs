//! A message the bot may no longer be able to see (Bot API `MaybeInaccessibleMessage`).

use serde::{Deserialize, Serialize};

use super::{Chat, Message};

/// A message that is either available to the bot, or inaccessible (deleted, or too old).
///
/// The Bot API tells the two apart by `date`: an inaccessible message has `date: 0` and only
/// `chat` and `message_id`. Deserializing follows that rule; serializing writes either shape
/// back as it came. A [`Message`] built by hand with `date: 0` therefore reads back as
/// [`Inaccessible`](Self::Inaccessible).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Message", untagged)]
pub enum MaybeInaccessibleMessage {
    /// The message, available to the bot.
    Message(Box<Message>),
    /// Only the chat and id of a message the bot can no longer see.
    Inaccessible(InaccessibleMessage),
}

/// A message that was deleted or is otherwise inaccessible to the bot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InaccessibleMessage {
    /// The chat the message belonged to.
    pub chat: Chat,
    /// Identifier, unique inside the chat.
    pub message_id: i64,
    /// Always `0`: what marks the message as inaccessible.
    pub date: i64,
}

impl Default for MaybeInaccessibleMessage {
    fn default() -> Self {
        MaybeInaccessibleMessage::Inaccessible(InaccessibleMessage::default())
    }
}

impl From<Message> for MaybeInaccessibleMessage {
    fn from(message: Message) -> Self {
        if message.date == 0 {
            MaybeInaccessibleMessage::Inaccessible(InaccessibleMessage {
                chat: message.chat,
                message_id: message.message_id,
                date: 0,
            })
        } else {
            MaybeInaccessibleMessage::Message(Box::new(message))
        }
    }
}

impl MaybeInaccessibleMessage {
    /// The chat the message belongs to, accessible or not.
    pub fn chat(&self) -> &Chat {
        match self {
            MaybeInaccessibleMessage::Message(message) => &message.chat,
            MaybeInaccessibleMessage::Inaccessible(message) => &message.chat,
        }
    }

    /// The message's id, accessible or not.
    pub fn message_id(&self) -> i64 {
        match self {
            MaybeInaccessibleMessage::Message(message) => message.message_id,
            MaybeInaccessibleMessage::Inaccessible(message) => message.message_id,
        }
    }

    /// The message, when the bot can still see it.
    pub fn accessible(&self) -> Option<&Message> {
        match self {
            MaybeInaccessibleMessage::Message(message) => Some(message),
            MaybeInaccessibleMessage::Inaccessible(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::update::ChatType;

    #[test]
    fn date_zero_means_inaccessible() {
        let value = json!({"chat": {"id": -100, "type": "supergroup", "title": "G"},
                           "message_id": 7, "date": 0});
        let message: MaybeInaccessibleMessage = serde_json::from_value(value.clone()).unwrap();
        let MaybeInaccessibleMessage::Inaccessible(inner) = &message else {
            panic!("expected an inaccessible message, got {message:?}");
        };
        assert_eq!(inner.chat.kind, ChatType::Supergroup);
        assert_eq!(message.chat().id, -100);
        assert_eq!(message.message_id(), 7);
        assert!(message.accessible().is_none());
        assert_eq!(serde_json::to_value(&message).unwrap(), value);
    }

    #[test]
    fn a_dated_message_is_accessible_and_round_trips() {
        let value = json!({"message_id": 8, "date": 1700000000, "text": "hi",
                           "chat": {"id": 5, "type": "private", "first_name": "A"}});
        let message: MaybeInaccessibleMessage = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            message.accessible().and_then(|m| m.text.as_deref()),
            Some("hi")
        );
        assert_eq!(message.chat().id, 5);
        assert_eq!(message.message_id(), 8);
        assert_eq!(serde_json::to_value(&message).unwrap(), value);
        let again: MaybeInaccessibleMessage = serde_json::from_value(value).unwrap();
        assert_eq!(again, message);
    }

    #[test]
    fn a_message_without_chat_is_an_error() {
        let result =
            serde_json::from_value::<MaybeInaccessibleMessage>(json!({"message_id": 1, "date": 0}));
        assert!(result.is_err());
    }
}
