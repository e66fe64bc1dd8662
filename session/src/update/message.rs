//! A message, as carried by the `message`, `edited_message`, `channel_post`,
//! `edited_channel_post`, `business_message`, `edited_business_message` and `guest_message`
//! updates.

use serde::{Deserialize, Serialize};

use super::{
    Animation, Audio, Chat, Contact, Document, Location, MaybeInaccessibleMessage, PhotoSize, Poll,
    Sticker, SuccessfulPayment, User, Video, VideoNote, Voice,
};

/// A message (Bot API `Message`), with the fields bots commonly read.
///
/// The fields of the plain text message are stored inline; fields that most messages lack and
/// that are large (the sender chat, the replied-to message, attachments, service payloads) are
/// boxed, so a `Message` stays small and an absent one costs no allocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Identifier, unique inside the chat.
    pub message_id: i64,
    /// The thread the message belongs to: a forum topic when
    /// [`is_topic_message`](Self::is_topic_message) is `Some(true)`, otherwise the reply thread
    /// of a non-forum supergroup. See [`Message::topic_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// In the direct messages chat of a channel: the topic (one per user) the message is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_messages_topic: Option<Box<DirectMessagesTopic>>,
    /// The sender. Absent in channels; a placeholder user when the message was sent on behalf
    /// of a chat (then [`sender_chat`](Self::sender_chat) is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<User>,
    /// The chat the message was sent on behalf of: the channel itself for channel posts, the
    /// group for anonymous administrators, the linked channel for automatic forwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_chat: Option<Box<Chat>>,
    /// The bot that sent the message on behalf of a business account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_business_bot: Option<Box<User>>,
    /// Unix time the message was sent. `0` only for inaccessible messages.
    pub date: i64,
    /// The business connection the message was received or sent through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_connection_id: Option<String>,
    /// In a `guest_message` update: the query to answer with `answerGuestQuery`, which posts
    /// the bot's reply into a chat it is not a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_query_id: Option<String>,
    /// The chat the message belongs to.
    pub chat: Chat,
    /// Where a forwarded message came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_origin: Option<Box<MessageOrigin>>,
    /// `Some(true)` when the message is in a forum topic (in a forum supergroup or in a private
    /// chat with topics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_topic_message: Option<bool>,
    /// `Some(true)` for a channel post automatically forwarded to the linked discussion group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_automatic_forward: Option<bool>,
    /// The message this one replies to (itself without a further `reply_to_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message: Option<Box<Message>>,
    /// The bot through which the message was sent (inline mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_bot: Option<Box<User>>,
    /// Unix time the message was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    /// `Some(true)` when the message cannot be forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_protected_content: Option<bool>,
    /// `Some(true)` when the message was sent by an implicit action (an away or greeting
    /// business message, a scheduled message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_from_offline: Option<bool>,
    /// The media group (album) the message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_group_id: Option<String>,
    /// Signature of the post author (channels) or custom title of an anonymous administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_signature: Option<String>,
    /// The text of a text message (UTF-8, up to 4096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Commands, mentions, links, formatting in [`text`](Self::text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<MessageEntity>>,
    /// The caption of a media message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Commands, mentions, links, formatting in [`caption`](Self::caption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_entities: Option<Vec<MessageEntity>>,
    /// An animation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animation: Option<Box<Animation>>,
    /// An audio file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Box<Audio>>,
    /// A general file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Box<Document>>,
    /// A photo, in the sizes available (smallest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<Vec<PhotoSize>>,
    /// A sticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticker: Option<Box<Sticker>>,
    /// A video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Box<Video>>,
    /// A round video message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_note: Option<Box<VideoNote>>,
    /// A voice note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Box<Voice>>,
    /// A shared contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Box<Contact>>,
    /// A shared location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Box<Location>>,
    /// A native poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Box<Poll>>,
    /// Service message: members added to the group (the bot itself may be one of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_chat_members: Option<Vec<User>>,
    /// Service message: a member was removed from the group (possibly the bot itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_chat_member: Option<Box<User>>,
    /// Service message: the chat title was changed to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_chat_title: Option<String>,
    /// Service message: the chat photo was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_chat_photo: Option<bool>,
    /// Service message: the group was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_chat_created: Option<bool>,
    /// Service message: the supergroup was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supergroup_chat_created: Option<bool>,
    /// Service message: the channel was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_chat_created: Option<bool>,
    /// Service message, sent in the old group: the group became the supergroup with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate_to_chat_id: Option<i64>,
    /// Service message, sent in the new supergroup: it was migrated from the group with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate_from_chat_id: Option<i64>,
    /// Service message: this message was pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_message: Option<Box<MaybeInaccessibleMessage>>,
    /// Service message: a payment went through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_payment: Option<Box<SuccessfulPayment>>,
    /// Service message: data sent by a Web App.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_app_data: Option<Box<WebAppData>>,
}

/// A special part of a message's text: a command, a mention, a link, formatting.
///
/// `offset` and `length` count UTF-16 code units, as the Bot API does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageEntity {
    /// `"mention"`, `"hashtag"`, `"bot_command"`, `"url"`, `"bold"`, `"text_link"`,
    /// `"text_mention"`, `"custom_emoji"`, ... (kept as a string: Telegram adds kinds).
    #[serde(rename = "type")]
    pub kind: String,
    /// Start, in UTF-16 code units.
    pub offset: i64,
    /// Length, in UTF-16 code units.
    pub length: i64,
    /// For `"text_link"`: the URL opened on tap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `"text_mention"`: the mentioned user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Box<User>>,
    /// For `"pre"`: the programming language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// For `"custom_emoji"`: the custom emoji's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_emoji_id: Option<String>,
}

/// Where a forwarded message originally came from (Bot API `MessageOrigin`, whose four variants
/// are folded into one struct: the fields of the other variants are `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageOrigin {
    /// `"user"`, `"hidden_user"`, `"chat"` or `"channel"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix time the original message was sent.
    pub date: i64,
    /// `"user"`: the original sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_user: Option<User>,
    /// `"hidden_user"`: the name of a sender who hides their account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_user_name: Option<String>,
    /// `"chat"`: the chat the original message was sent on behalf of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_chat: Option<Chat>,
    /// `"channel"`: the channel the original message was posted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<Chat>,
    /// `"channel"`: the original message's id in the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// `"chat"` and `"channel"`: the original author's signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_signature: Option<String>,
}

/// A topic of a channel's direct messages chat: one per user who writes to the channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectMessagesTopic {
    /// Identifier of the topic, unique inside the chat.
    pub topic_id: i64,
    /// The user who created the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

/// Data a Web App sent to the bot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebAppData {
    /// The data (any string the Web App chose).
    pub data: String,
    /// Text of the keyboard button the Web App was opened from.
    pub button_text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_text_path_is_not_boxed_and_stays_small() {
        // The benchmark builds a Message per update, stored inline in the Update.
        assert!(
            std::mem::size_of::<Message>() <= 768,
            "Message grew to {} bytes",
            std::mem::size_of::<Message>()
        );
    }
}
