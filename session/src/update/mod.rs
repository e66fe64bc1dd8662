//! The Telegram Bot API update model (Bot API 10.x), and which session ids each kind of update
//! yields.
//!
//! [`Update`] deserializes the JSON Telegram sends (webhook bodies, `getUpdates` results) with
//! serde. Fields this model does not know are ignored everywhere, and an update of a kind added
//! to the Bot API later deserializes too, whatever its payload (an object, a number, a string,
//! an array, `null`), as [`UpdateKind::Unknown`] with no ids. Fields the Bot API marks optional
//! are `Option`s, and every type implements `Default`, so tests and benchmarks can build updates
//! with `..Default::default()`.
//!
//! Bot API unions are modelled two ways. Small vocabularies a bot branches on are enums that
//! keep unknown values ([`ChatType`], [`ChatMemberStatus`], [`PollType`],
//! [`BotSubscriptionState`]: an `Other(String)` case). Objects with several shapes told apart
//! by a tag ([`MessageEntity`], [`MessageOrigin`], [`ReactionType`], [`ChatBoostSource`],
//! [`ChatMember`]) are one struct with the tag as a string (or status enum) and the fields of
//! every shape as `Option`s.
//! [`MaybeInaccessibleMessage`] is the exception: a message is either there or not, so it is
//! an enum.
//!
//! # Session ids
//!
//! [`SessionKeys`](crate::SessionKeys) for `Update` (in `ids.rs`) reads these ids. *chat* is
//! the chat the update happened in, *user* the person who caused it, *thread* the forum topic.
//!
//! | kind | chat | user | thread |
//! |---|---|---|---|
//! | `message`, `edited_message`, `channel_post`, `edited_channel_post`, `business_message`, `edited_business_message`, `guest_message` ⁷ | `chat.id` | `from.id`; none when `sender_chat` is set ¹ | the topic ² |
//! | `callback_query` | the message's `chat.id` (accessible or not); none for inline messages | `from.id` | the message's topic ² (none if inaccessible) |
//! | `inline_query`, `chosen_inline_result`, `shipping_query`, `pre_checkout_query`, `purchased_paid_media` | — | `from.id` | — |
//! | `poll` | — | — | — |
//! | `poll_answer` | `voter_chat.id` (a channel voting anonymously) ³ | `user.id`; none when `voter_chat` is set | — |
//! | `my_chat_member`, `chat_member` | `chat.id` | `from.id` (who made the change) ⁴ | — |
//! | `chat_join_request` | `chat.id` | `from.id` | — |
//! | `chat_boost`, `removed_chat_boost` | `chat.id` | the booster, `source.user.id`, if any ⁵ | — |
//! | `message_reaction` | `chat.id` | `user.id`; none when `actor_chat` is set | — |
//! | `message_reaction_count` | `chat.id` | — (anonymous) | — |
//! | `business_connection` | — ⁶ | `user.id` (the business account) | — |
//! | `deleted_business_messages` | `chat.id` | — | — |
//! | `managed_bot` | — | `user.id` (the owner) ⁸ | — |
//! | `subscription` | — | `user.id` (the subscriber) | — |
//! | `stopped_message_generation` | `chat.id` | `chat.id` in a private chat ⁹ | `message_thread_id` ⁹ |
//! | unknown kinds | — | — | — |
//!
//! 1. A message sent on behalf of a chat (channel posts, anonymous group administrators,
//!    automatic forwards from a linked channel, a channel admin answering in the channel's
//!    direct messages) carries a placeholder `from` (`@GroupAnonymousBot`, `@Channel_Bot`) for
//!    backward compatibility. Keying a user session by it would merge every anonymous sender
//!    into one "user", so there is no user id. The chat id is still the chat the message is in.
//! 2. [`Message::topic_id`]: `message_thread_id` only when `is_topic_message` is `Some(true)`,
//!    i.e. a forum topic in a supergroup or in a private chat with topics. In a non-forum
//!    supergroup `message_thread_id` names the reply thread a reply belongs to; those are
//!    unbounded ad-hoc chains, and splitting a chat's session by them would make the session a
//!    user sees depend on whether they pressed "reply". Messages in a forum's General topic
//!    carry no thread id, so their `chat_thread` session is the chat's. In a channel's direct
//!    messages chat the thread is `direct_messages_topic.topic_id` (one topic per user), which
//!    is how those chats are organised.
//! 3. A poll answer has no chat it happened in. When a channel votes anonymously, the channel
//!    is the actor, so its id is the chat (the same key its `channel_post`s have), and the
//!    placeholder `user` is not a user id.
//! 4. `from` is who performed the change; the member whose status changed is
//!    `new_chat_member.user` (the same person when they joined or left themselves, an
//!    administrator when they were added or banned). For `my_chat_member` in a private chat,
//!    `from` is the user who blocked or unblocked the bot.
//! 5. The boost source's user: the Premium subscriber, the user a gift code was made for, or a
//!    Premium giveaway's winner; none for Star giveaways and unclaimed prizes.
//! 6. `user_chat_id` (the bot's private chat with the account owner) is not where the update
//!    happened, so it is not given as the chat; read it from the payload if needed.
//! 7. A guest message mentions the bot in a chat the bot is not a member of. It is a message
//!    of that chat like any other, so its ids follow the same rules; the bot answers through
//!    `guest_query_id` rather than by sending to the chat.
//! 8. `bot` is the managed bot, not a person, so it is not a user id; read it from the payload.
//! 9. Drafts are streamed in private chats, where the only one who can stop one is the user
//!    the chat is with, whose id is the chat's id. In any other chat there is no user id, as
//!    the payload names nobody. `message_thread_id` is the thread only in a private chat
//!    (a topic, private chats have no reply threads) or a forum supergroup, by the rule of ².
//!
//! Chat ids of business messages are the *business account's* private chats: the chat with
//! customer *X* has id *X*, the same id as the bot's own private chat with *X*. A `chat` session
//! is therefore shared between a business chat and the bot's chat with the same customer; use
//! `key_with` and `business_connection_id` to keep them apart.
//!
//! `migrate_to_chat_id` is read from a message-kind update that carries it (the service message
//! sent in the old group when it became a supergroup); the chat id is the old group's.

mod boosts;
mod business;
mod chat;
mod drafts;
mod ids;
mod inaccessible;
mod managed_bots;
mod media;
mod members;
mod message;
mod payments;
mod polls;
mod queries;
mod reactions;
mod string_enum;
mod subscriptions;
mod user;

use serde::{Deserialize, Serialize};

pub use boosts::{ChatBoost, ChatBoostRemoved, ChatBoostSource, ChatBoostUpdated};
pub use business::{BusinessBotRights, BusinessConnection, BusinessMessagesDeleted};
pub use chat::{Chat, ChatType};
pub use drafts::MessageGenerationStopped;
pub use inaccessible::{InaccessibleMessage, MaybeInaccessibleMessage};
pub use managed_bots::ManagedBotUpdated;
pub use media::{
    Animation, Audio, Contact, Document, Location, PhotoSize, Sticker, Video, VideoNote, Voice,
};
pub use members::{
    ChatInviteLink, ChatJoinRequest, ChatMember, ChatMemberStatus, ChatMemberUpdated,
};
pub use message::{DirectMessagesTopic, Message, MessageEntity, MessageOrigin, WebAppData};
pub use payments::{
    OrderInfo, PaidMediaPurchased, PreCheckoutQuery, ShippingAddress, ShippingQuery,
    SuccessfulPayment,
};
pub use polls::{Poll, PollAnswer, PollOption, PollType};
pub use queries::{CallbackQuery, ChosenInlineResult, InlineQuery};
pub use reactions::{
    MessageReactionCountUpdated, MessageReactionUpdated, ReactionCount, ReactionType,
};
pub use subscriptions::{BotSubscriptionState, BotSubscriptionUpdated};
pub use user::User;

/// Declares [`Update`] (one optional field per kind), [`UpdateKind`] (a borrowed view of the
/// present one) and the name of each kind, from one list so the three never disagree.
/// Each entry is `json_field: StoredType as PayloadType => UpdateKindVariant`.
macro_rules! update_kinds {
    ($( $(#[$doc:meta])* $field:ident: $stored:ty as $payload:ty => $variant:ident, )+) => {
        /// One incoming update (Bot API `Update`). At most one of the optional fields is set;
        /// [`Update::kind`] tells which.
        ///
        /// Every payload is boxed, `message` included: an `Update` is then about 220 bytes
        /// (27 pointers and the id) instead of about 900 with the message inline, and moving
        /// it into the context and through the composer's futures costs a few small copies
        /// instead of several of a kilobyte (about 600 instructions per update in benchmark
        /// W1), for one allocation that building the message's strings already dwarfs.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct Update {
            /// The update's sequential identifier (`getUpdates` offsets, webhook de-duplication).
            pub update_id: i64,
            $(
                $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$stored>,
            )+
        }

        /// Which kind of update this is, borrowing its payload. Returned by [`Update::kind`].
        #[derive(Debug, Clone, Copy, PartialEq)]
        #[non_exhaustive]
        pub enum UpdateKind<'a> {
            $( $(#[$doc])* $variant(&'a $payload), )+
            /// A kind this version of the model does not know (added to the Bot API later), or
            /// an update with no payload at all.
            Unknown,
        }

        impl Update {
            /// The JSON field names of every kind this model knows, in the Bot API's order; for
            /// `allowed_updates` (which must list `chat_member`, `message_reaction` and
            /// `message_reaction_count` explicitly to receive them).
            pub const KIND_NAMES: &'static [&'static str] = &[$( stringify!($field), )+];

            /// Which kind of update this is. Should Telegram ever set more than one payload,
            /// the first in the Bot API's order wins.
            pub fn kind(&self) -> UpdateKind<'_> {
                $(
                    if let Some(payload) = &self.$field {
                        return UpdateKind::$variant(::core::borrow::Borrow::borrow(payload));
                    }
                )+
                UpdateKind::Unknown
            }
        }

        impl UpdateKind<'_> {
            /// The kind's JSON field name (`"message"`, `"inline_query"`, ...), or `"unknown"`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( UpdateKind::$variant(_) => stringify!($field), )+
                    UpdateKind::Unknown => "unknown",
                }
            }
        }
    };
}

update_kinds! {
    /// A new message of any kind: text, media, service message.
    message: Box<Message> as Message => Message,
    /// A new version of a message the bot knows and that was edited.
    edited_message: Box<Message> as Message => EditedMessage,
    /// A new post in a channel the bot is in.
    channel_post: Box<Message> as Message => ChannelPost,
    /// A new version of a channel post that was edited.
    edited_channel_post: Box<Message> as Message => EditedChannelPost,
    /// The bot was connected to or disconnected from a business account, or the connection
    /// was edited.
    business_connection: Box<BusinessConnection> as BusinessConnection => BusinessConnection,
    /// A new message in a chat of a connected business account.
    business_message: Box<Message> as Message => BusinessMessage,
    /// A new version of a message in a chat of a connected business account.
    edited_business_message: Box<Message> as Message => EditedBusinessMessage,
    /// Messages were deleted from a chat of a connected business account.
    deleted_business_messages: Box<BusinessMessagesDeleted> as BusinessMessagesDeleted => DeletedBusinessMessages,
    /// A message that mentions the bot in a chat the bot is not a member of (guest mode);
    /// answer it with `answerGuestQuery` and [`Message::guest_query_id`].
    guest_message: Box<Message> as Message => GuestMessage,
    /// A user changed a reaction to a message (the bot must be an administrator and ask for
    /// this kind in `allowed_updates`).
    message_reaction: Box<MessageReactionUpdated> as MessageReactionUpdated => MessageReaction,
    /// The anonymous reactions to a message changed (administrator bots, opt-in).
    message_reaction_count: Box<MessageReactionCountUpdated> as MessageReactionCountUpdated => MessageReactionCount,
    /// A new inline query.
    inline_query: Box<InlineQuery> as InlineQuery => InlineQuery,
    /// An inline result a user chose and sent (needs inline feedback enabled).
    chosen_inline_result: Box<ChosenInlineResult> as ChosenInlineResult => ChosenInlineResult,
    /// A new callback query (an inline keyboard button was pressed).
    callback_query: Box<CallbackQuery> as CallbackQuery => CallbackQuery,
    /// A new shipping query, for invoices with a flexible price.
    shipping_query: Box<ShippingQuery> as ShippingQuery => ShippingQuery,
    /// A new pre-checkout query, with full information about the checkout.
    pre_checkout_query: Box<PreCheckoutQuery> as PreCheckoutQuery => PreCheckoutQuery,
    /// A user bought paid media with a payload the bot sent, in a non-channel chat.
    purchased_paid_media: Box<PaidMediaPurchased> as PaidMediaPurchased => PurchasedPaidMedia,
    /// A new state of a poll: stopped polls, and polls the bot sent.
    poll: Box<Poll> as Poll => Poll,
    /// A user changed their answer in a non-anonymous poll the bot sent.
    poll_answer: Box<PollAnswer> as PollAnswer => PollAnswer,
    /// The bot's own membership in a chat changed (private chats: blocked or unblocked).
    my_chat_member: Box<ChatMemberUpdated> as ChatMemberUpdated => MyChatMember,
    /// A member's status in a chat changed (administrator bots, opt-in).
    chat_member: Box<ChatMemberUpdated> as ChatMemberUpdated => ChatMember,
    /// A request to join a chat (the bot must be allowed to invite users).
    chat_join_request: Box<ChatJoinRequest> as ChatJoinRequest => ChatJoinRequest,
    /// A chat boost was added or changed (the bot must be an administrator).
    chat_boost: Box<ChatBoostUpdated> as ChatBoostUpdated => ChatBoost,
    /// A chat boost was removed (the bot must be an administrator).
    removed_chat_boost: Box<ChatBoostRemoved> as ChatBoostRemoved => RemovedChatBoost,
    /// A bot managed by this (manager) bot was created, got a new token or changed owner.
    managed_bot: Box<ManagedBotUpdated> as ManagedBotUpdated => ManagedBot,
    /// A user's payment subscription toward the bot was canceled, re-enabled or failed to renew.
    subscription: Box<BotSubscriptionUpdated> as BotSubscriptionUpdated => Subscription,
    /// A user stopped a message draft the bot was streaming with `can_stop`.
    stopped_message_generation: Box<MessageGenerationStopped> as MessageGenerationStopped => StoppedMessageGeneration,
}

impl Update {
    /// The kind's JSON field name (`"message"`, `"inline_query"`, ...), or `"unknown"`.
    pub fn kind_name(&self) -> &'static str {
        self.kind().name()
    }
}

impl<'a> UpdateKind<'a> {
    /// The message, for the seven kinds whose payload is a [`Message`].
    pub fn message(&self) -> Option<&'a Message> {
        match *self {
            UpdateKind::Message(message)
            | UpdateKind::EditedMessage(message)
            | UpdateKind::ChannelPost(message)
            | UpdateKind::EditedChannelPost(message)
            | UpdateKind::BusinessMessage(message)
            | UpdateKind::EditedBusinessMessage(message)
            | UpdateKind::GuestMessage(message) => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_is_found_and_named_by_its_field() {
        for name in Update::KIND_NAMES {
            // The smallest payload each kind accepts is not uniform, so build from Default.
            let mut value = serde_json::to_value(Update::default()).unwrap();
            let payload = match *name {
                "message"
                | "edited_message"
                | "channel_post"
                | "edited_channel_post"
                | "business_message"
                | "edited_business_message"
                | "guest_message" => serde_json::to_value(Message::default()),
                "business_connection" => serde_json::to_value(BusinessConnection::default()),
                "deleted_business_messages" => {
                    serde_json::to_value(BusinessMessagesDeleted::default())
                }
                "message_reaction" => serde_json::to_value(MessageReactionUpdated::default()),
                "message_reaction_count" => {
                    serde_json::to_value(MessageReactionCountUpdated::default())
                }
                "inline_query" => serde_json::to_value(InlineQuery::default()),
                "chosen_inline_result" => serde_json::to_value(ChosenInlineResult::default()),
                "callback_query" => serde_json::to_value(CallbackQuery::default()),
                "shipping_query" => serde_json::to_value(ShippingQuery::default()),
                "pre_checkout_query" => serde_json::to_value(PreCheckoutQuery::default()),
                "purchased_paid_media" => serde_json::to_value(PaidMediaPurchased::default()),
                "poll" => serde_json::to_value(Poll::default()),
                "poll_answer" => serde_json::to_value(PollAnswer::default()),
                "my_chat_member" | "chat_member" => {
                    serde_json::to_value(ChatMemberUpdated::default())
                }
                "chat_join_request" => serde_json::to_value(ChatJoinRequest::default()),
                "chat_boost" => serde_json::to_value(ChatBoostUpdated::default()),
                "removed_chat_boost" => serde_json::to_value(ChatBoostRemoved::default()),
                "managed_bot" => serde_json::to_value(ManagedBotUpdated::default()),
                "subscription" => serde_json::to_value(BotSubscriptionUpdated::default()),
                "stopped_message_generation" => {
                    serde_json::to_value(MessageGenerationStopped::default())
                }
                other => panic!("no payload for {other}"),
            }
            .unwrap();
            value[*name] = payload;
            let update: Update = serde_json::from_value(value).unwrap();
            assert_eq!(update.kind_name(), *name);
            assert_eq!(
                update.kind().message().is_some(),
                MESSAGE_KINDS.contains(name)
            );
        }
        assert_eq!(Update::KIND_NAMES.len(), 27);
    }

    const MESSAGE_KINDS: &[&str] = &[
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_message",
        "edited_business_message",
        "guest_message",
    ];

    #[test]
    fn an_update_stays_small() {
        // Every payload is boxed, so moving an update (into the context, through futures)
        // copies a few hundred bytes, not the kilobyte an inline message takes.
        let size = std::mem::size_of::<Update>();
        assert!(size <= 256, "Update grew to {size} bytes");
    }

    #[test]
    fn an_update_without_a_known_payload_is_unknown() {
        let update: Update =
            serde_json::from_value(json!({"update_id": 9, "future_kind": {"id": 1}})).unwrap();
        assert_eq!(update.kind(), UpdateKind::Unknown);
        assert_eq!(update.kind_name(), "unknown");
        assert_eq!(update.kind().message(), None);
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"update_id": 9})
        );
    }

    #[test]
    fn an_update_without_update_id_is_an_error() {
        assert!(serde_json::from_value::<Update>(json!({"poll": {}})).is_err());
    }
}
