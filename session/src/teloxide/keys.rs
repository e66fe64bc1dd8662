//! [`SessionKeys`] for teloxide's [`Update`], [`Message`] and [`CallbackQuery`], by the rules of
//! `crate::update`'s table (see the [module docs](super) for where teloxide's model differs).

use ::teloxide::types::{
    CallbackQuery, MaybeAnonymousUser, MaybeInaccessibleMessage, Message, Update, UpdateKind, User,
};

use serde::Deserialize;

use crate::ids::{SessionIds, SessionKeys};

/// A user's id as sessions store it. teloxide keeps user ids as `u64`, the Bot API promises
/// they fit in 52 bits; an id beyond `i64` is no real user, so it gives no key rather than a
/// wrapped, negative one that could collide with a chat's.
fn user_id(user: &User) -> Option<i64> {
    i64::try_from(user.id.0).ok()
}

/// The ids of a message: its chat, its sender unless it was sent on behalf of a chat, its topic.
fn message_ids(message: &Message) -> SessionIds {
    SessionIds {
        chat: Some(message.chat.id.0),
        user: sender_user_id(message),
        thread: topic_id(message),
    }
}

/// `from.id`, unless `sender_chat` is set: then `from` is the placeholder teloxide (and the Bot
/// API, for backward compatibility) puts there (`@GroupAnonymousBot`, `@Channel_Bot`, Telegram
/// itself for automatic forwards), and keying a user session by it would merge every anonymous
/// sender into one user.
fn sender_user_id(message: &Message) -> Option<i64> {
    match message.sender_chat {
        Some(_) => None,
        None => message.from.as_ref().and_then(user_id),
    }
}

/// `message_thread_id` for messages in a forum topic only: in other supergroups it names the
/// reply thread a reply belongs to, which is not a topic.
fn topic_id(message: &Message) -> Option<i64> {
    match message.thread_id {
        Some(thread) if message.is_topic_message => Some(i64::from(thread.0.0)),
        _ => None,
    }
}

fn callback_query_ids(query: &CallbackQuery) -> SessionIds {
    let user = user_id(&query.from);
    match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => SessionIds {
            user,
            ..message_ids(message)
        },
        Some(MaybeInaccessibleMessage::Inaccessible(message)) => SessionIds {
            chat: Some(message.chat.id.0),
            user,
            thread: None,
        },
        None => SessionIds {
            chat: None,
            user,
            thread: None,
        },
    }
}

/// The chat a message was sent on behalf of, whose `from` is then a placeholder.
fn sender_chat_id(message: &Message) -> Option<i64> {
    message.sender_chat.as_ref().map(|chat| chat.id.0)
}

/// The chat an update was sent on behalf of (see [`SessionKeys::sender_chat_id`]).
fn update_sender_chat_id(kind: &UpdateKind) -> Option<i64> {
    match kind {
        UpdateKind::PollAnswer(answer) => match &answer.voter {
            MaybeAnonymousUser::Chat(chat) => Some(chat.id.0),
            MaybeAnonymousUser::User(_) => None,
        },
        UpdateKind::MessageReaction(reaction) => reaction.chat().map(|chat| chat.id.0),
        UpdateKind::Error(raw) => unparsed(raw)?.sender_chat_id(),
        kind => update_message(kind).and_then(sender_chat_id),
    }
}

/// The message of the six kinds whose payload is one.
fn update_message(kind: &UpdateKind) -> Option<&Message> {
    match kind {
        UpdateKind::Message(message)
        | UpdateKind::EditedMessage(message)
        | UpdateKind::ChannelPost(message)
        | UpdateKind::EditedChannelPost(message)
        | UpdateKind::BusinessMessage(message)
        | UpdateKind::EditedBusinessMessage(message) => Some(message),
        _ => None,
    }
}

fn update_ids(kind: &UpdateKind) -> SessionIds {
    let ids = |chat: Option<i64>, user: Option<i64>| SessionIds {
        chat,
        user,
        thread: None,
    };
    match kind {
        UpdateKind::Message(message)
        | UpdateKind::EditedMessage(message)
        | UpdateKind::ChannelPost(message)
        | UpdateKind::EditedChannelPost(message)
        | UpdateKind::BusinessMessage(message)
        | UpdateKind::EditedBusinessMessage(message) => message_ids(message),
        UpdateKind::CallbackQuery(query) => callback_query_ids(query),
        UpdateKind::InlineQuery(query) => ids(None, user_id(&query.from)),
        UpdateKind::ChosenInlineResult(result) => ids(None, user_id(&result.from)),
        UpdateKind::ShippingQuery(query) => ids(None, user_id(&query.from)),
        UpdateKind::PreCheckoutQuery(query) => ids(None, user_id(&query.from)),
        UpdateKind::PurchasedPaidMedia(purchase) => ids(None, user_id(&purchase.from)),
        // teloxide has already told the voter apart: the channel that voted anonymously (the
        // chat, no user), or the user.
        UpdateKind::PollAnswer(answer) => match &answer.voter {
            MaybeAnonymousUser::Chat(chat) => ids(Some(chat.id.0), None),
            MaybeAnonymousUser::User(user) => ids(None, user_id(user)),
        },
        UpdateKind::MyChatMember(change) | UpdateKind::ChatMember(change) => {
            ids(Some(change.chat.id.0), user_id(&change.from))
        }
        UpdateKind::ChatJoinRequest(request) => {
            ids(Some(request.chat.id.0), user_id(&request.from))
        }
        UpdateKind::ChatBoost(boost) => ids(
            Some(boost.chat.id.0),
            boost.boost.source.user().and_then(user_id),
        ),
        UpdateKind::RemovedChatBoost(removed) => ids(
            Some(removed.chat.id.0),
            removed.source.user().and_then(user_id),
        ),
        // `actor` is the chat when the reaction was made on a chat's behalf: no user then.
        UpdateKind::MessageReaction(reaction) => {
            ids(Some(reaction.chat.id.0), reaction.user().and_then(user_id))
        }
        UpdateKind::MessageReactionCount(counts) => ids(Some(counts.chat.id.0), None),
        UpdateKind::BusinessConnection(connection) => ids(None, user_id(&connection.user)),
        UpdateKind::DeletedBusinessMessages(deleted) => ids(Some(deleted.chat.id.0), None),
        UpdateKind::Error(raw) => unparsed(raw).map_or(ids(None, None), |u| u.session_ids()),
        UpdateKind::Poll(_) => ids(None, None),
    }
}

/// An update of a kind teloxide does not know yet (the Bot API runs ahead of it), or whose
/// payload it could not parse, read by bot-session's own model. teloxide's `get_updates` keeps
/// such an update's JSON in `UpdateKind::Error`, so its sessions still get their keys; where
/// teloxide keeps nothing (`serde_json::from_str` of an `Update`), the value is an empty
/// object and the update has no ids.
fn unparsed(raw: &serde_json::Value) -> Option<crate::Update> {
    if raw.as_object().is_none_or(|fields| fields.is_empty()) {
        return None;
    }
    crate::Update::deserialize(raw).ok()
}

/// The Bot API's field name of the kind, as `crate::Update` names it; for `Error`, the name
/// bot-session's model reads from the kept JSON, `"unknown"` when there is none.
fn kind_name(kind: &UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Message(_) => "message",
        UpdateKind::EditedMessage(_) => "edited_message",
        UpdateKind::ChannelPost(_) => "channel_post",
        UpdateKind::EditedChannelPost(_) => "edited_channel_post",
        UpdateKind::BusinessConnection(_) => "business_connection",
        UpdateKind::BusinessMessage(_) => "business_message",
        UpdateKind::EditedBusinessMessage(_) => "edited_business_message",
        UpdateKind::DeletedBusinessMessages(_) => "deleted_business_messages",
        UpdateKind::MessageReaction(_) => "message_reaction",
        UpdateKind::MessageReactionCount(_) => "message_reaction_count",
        UpdateKind::InlineQuery(_) => "inline_query",
        UpdateKind::ChosenInlineResult(_) => "chosen_inline_result",
        UpdateKind::CallbackQuery(_) => "callback_query",
        UpdateKind::ShippingQuery(_) => "shipping_query",
        UpdateKind::PreCheckoutQuery(_) => "pre_checkout_query",
        UpdateKind::PurchasedPaidMedia(_) => "purchased_paid_media",
        UpdateKind::Poll(_) => "poll",
        UpdateKind::PollAnswer(_) => "poll_answer",
        UpdateKind::MyChatMember(_) => "my_chat_member",
        UpdateKind::ChatMember(_) => "chat_member",
        UpdateKind::ChatJoinRequest(_) => "chat_join_request",
        UpdateKind::ChatBoost(_) => "chat_boost",
        UpdateKind::RemovedChatBoost(_) => "removed_chat_boost",
        UpdateKind::Error(raw) => unparsed(raw).map_or("unknown", |u| u.kind_name()),
    }
}

/// teloxide's inherent methods of these names return `&ChatId`; the trait's, an `i64`.
fn migrate_to_chat_id(message: &Message) -> Option<i64> {
    message.migrate_to_chat_id().map(|chat| chat.0)
}

fn migrate_from_chat_id(message: &Message) -> Option<i64> {
    message.migrate_from_chat_id().map(|chat| chat.0)
}

/// A message on its own: the ids it has in whichever of the six message kinds carries it.
/// Its kind name is `"message"`, since a message does not know whether it was edited or posted
/// in a channel; use the `Update` for the precise kind.
impl SessionKeys for Message {
    fn chat_id(&self) -> Option<i64> {
        Some(self.chat.id.0)
    }

    fn sender_chat_id(&self) -> Option<i64> {
        sender_chat_id(self)
    }

    fn user_id(&self) -> Option<i64> {
        sender_user_id(self)
    }

    fn thread_id(&self) -> Option<i64> {
        topic_id(self)
    }

    fn kind_name(&self) -> &'static str {
        "message"
    }

    fn migrate_to_chat_id(&self) -> Option<i64> {
        migrate_to_chat_id(self)
    }

    fn migrate_from_chat_id(&self) -> Option<i64> {
        migrate_from_chat_id(self)
    }

    fn session_ids(&self) -> SessionIds {
        message_ids(self)
    }
}

/// A callback query: the user who pressed the button, the chat and topic of the message the
/// button was under (its chat only, when that message is no longer accessible; neither for a
/// button under an inline message).
impl SessionKeys for CallbackQuery {
    fn chat_id(&self) -> Option<i64> {
        callback_query_ids(self).chat
    }

    fn user_id(&self) -> Option<i64> {
        user_id(&self.from)
    }

    fn thread_id(&self) -> Option<i64> {
        callback_query_ids(self).thread
    }

    fn kind_name(&self) -> &'static str {
        "callback_query"
    }

    fn session_ids(&self) -> SessionIds {
        callback_query_ids(self)
    }
}

/// Any update, by the id rules of [`crate::update`].
impl SessionKeys for Update {
    fn chat_id(&self) -> Option<i64> {
        update_ids(&self.kind).chat
    }

    fn sender_chat_id(&self) -> Option<i64> {
        update_sender_chat_id(&self.kind)
    }

    fn user_id(&self) -> Option<i64> {
        update_ids(&self.kind).user
    }

    fn thread_id(&self) -> Option<i64> {
        update_ids(&self.kind).thread
    }

    fn kind_name(&self) -> &'static str {
        kind_name(&self.kind)
    }

    fn update_id(&self) -> Option<i64> {
        Some(i64::from(self.id.0))
    }

    fn migrate_to_chat_id(&self) -> Option<i64> {
        match &self.kind {
            UpdateKind::Error(raw) => unparsed(raw)?.migrate_to_chat_id(),
            kind => update_message(kind).and_then(migrate_to_chat_id),
        }
    }

    fn migrate_from_chat_id(&self) -> Option<i64> {
        match &self.kind {
            UpdateKind::Error(raw) => unparsed(raw)?.migrate_from_chat_id(),
            kind => update_message(kind).and_then(migrate_from_chat_id),
        }
    }

    fn session_ids(&self) -> SessionIds {
        update_ids(&self.kind)
    }
}

/// The update as teloxide's dispatcher shares it with handlers: the wrapped branch's context is
/// built from it without copying the update.
impl SessionKeys for std::sync::Arc<Update> {
    fn chat_id(&self) -> Option<i64> {
        (**self).chat_id()
    }

    fn user_id(&self) -> Option<i64> {
        (**self).user_id()
    }

    fn thread_id(&self) -> Option<i64> {
        (**self).thread_id()
    }

    fn kind_name(&self) -> &'static str {
        (**self).kind_name()
    }

    fn sender_chat_id(&self) -> Option<i64> {
        (**self).sender_chat_id()
    }

    fn update_id(&self) -> Option<i64> {
        (**self).update_id()
    }

    fn migrate_to_chat_id(&self) -> Option<i64> {
        (**self).migrate_to_chat_id()
    }

    fn migrate_from_chat_id(&self) -> Option<i64> {
        (**self).migrate_from_chat_id()
    }

    fn session_ids(&self) -> SessionIds {
        (**self).session_ids()
    }
}

#[cfg(test)]
mod tests {
    use ::teloxide::types::UserId;
    use serde_json::{Value, json};

    use super::*;

    fn message(fields: Value) -> Message {
        let mut value = json!({
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": -1001, "type": "supergroup", "title": "g"},
            "text": "hi",
        });
        for (key, field) in fields.as_object().into_iter().flatten() {
            value[key] = field.clone();
        }
        serde_json::from_value(value).expect("a teloxide message")
    }

    fn user(id: u64) -> Value {
        json!({"id": id, "is_bot": false, "first_name": "u"})
    }

    #[test]
    fn teloxide_s_placeholder_sender_is_not_a_user() {
        let anonymous_admin = message(json!({
            "from": user(1087968824),
            "sender_chat": {"id": -1001, "type": "supergroup", "title": "g"},
        }));
        assert_eq!(
            anonymous_admin.from.as_ref().map(|u| u.id),
            Some(UserId(1087968824))
        );
        assert_eq!(anonymous_admin.user_id(), None);
        assert_eq!(anonymous_admin.chat_id(), Some(-1001));
    }

    #[test]
    fn only_a_forum_topic_is_a_thread() {
        let in_topic = message(json!({
            "from": user(5),
            "message_thread_id": 12,
            "is_topic_message": true,
        }));
        assert_eq!(in_topic.thread_id(), Some(12));
        let reply_thread = message(json!({"from": user(5), "message_thread_id": 12}));
        assert_eq!(reply_thread.thread_id(), None);
        assert_eq!(reply_thread.user_id(), Some(5));
    }

    #[test]
    fn a_user_id_beyond_i64_is_no_id() {
        let mut impossible = message(json!({"from": user(5)}));
        if let Some(from) = impossible.from.as_mut() {
            from.id = UserId(u64::MAX);
        }
        assert_eq!(impossible.user_id(), None);
        assert_eq!(impossible.chat_id(), Some(-1001));
    }
}
