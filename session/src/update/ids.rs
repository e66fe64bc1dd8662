//! Which session ids each kind of update yields: the `SessionKeys` impl for [`Update`].
//! The choices and their reasons are tabled in the [module docs](super).

use crate::ids::{SessionIds, SessionKeys};

use super::{
    ChatType, MaybeInaccessibleMessage, Message, MessageGenerationStopped, Update, UpdateKind,
};

impl Message {
    /// The forum topic the message is in, as sessions see it: `message_thread_id` when
    /// `is_topic_message` is `Some(true)` (a topic of a forum supergroup or of a private chat
    /// with topics), otherwise the topic of a channel's direct messages chat, otherwise `None`.
    /// Reply threads of non-forum groups are not topics.
    pub fn topic_id(&self) -> Option<i64> {
        if self.is_topic_message == Some(true) {
            self.message_thread_id
        } else {
            self.direct_messages_topic
                .as_ref()
                .map(|topic| topic.topic_id)
        }
    }

    /// The id of the user who sent the message: `from.id`, unless the message was sent on
    /// behalf of a chat (`sender_chat` is set, and `from`, if present, is a placeholder).
    pub fn sender_user_id(&self) -> Option<i64> {
        match self.sender_chat {
            Some(_) => None,
            None => self.from.as_ref().map(|user| user.id),
        }
    }

    fn session_ids(&self) -> SessionIds {
        SessionIds {
            chat: Some(self.chat.id),
            user: self.sender_user_id(),
            thread: self.topic_id(),
        }
    }
}

impl MessageGenerationStopped {
    fn session_ids(&self) -> SessionIds {
        let private = self.chat.kind == ChatType::Private;
        // Only private chats and forums have topics; elsewhere a thread id would be a reply
        // chain, which is not a thread for sessions (see `Message::topic_id`).
        let has_topics = private || self.chat.is_forum == Some(true);
        SessionIds {
            chat: Some(self.chat.id),
            // The payload names nobody; in a private chat the chat's id is the user's.
            user: private.then_some(self.chat.id),
            thread: self.message_thread_id.filter(|_| has_topics),
        }
    }
}

impl UpdateKind<'_> {
    /// The chat, user and thread ids sessions are keyed by, per the table in the module docs.
    pub fn session_ids(&self) -> SessionIds {
        let ids = |chat: Option<i64>, user: Option<i64>| SessionIds {
            chat,
            user,
            thread: None,
        };
        match *self {
            UpdateKind::Message(message)
            | UpdateKind::EditedMessage(message)
            | UpdateKind::ChannelPost(message)
            | UpdateKind::EditedChannelPost(message)
            | UpdateKind::BusinessMessage(message)
            | UpdateKind::EditedBusinessMessage(message)
            | UpdateKind::GuestMessage(message) => message.session_ids(),
            UpdateKind::CallbackQuery(query) => match &query.message {
                Some(MaybeInaccessibleMessage::Message(message)) => SessionIds {
                    user: Some(query.from.id),
                    ..message.session_ids()
                },
                Some(MaybeInaccessibleMessage::Inaccessible(message)) => {
                    ids(Some(message.chat.id), Some(query.from.id))
                }
                None => ids(None, Some(query.from.id)),
            },
            UpdateKind::InlineQuery(query) => ids(None, Some(query.from.id)),
            UpdateKind::ChosenInlineResult(result) => ids(None, Some(result.from.id)),
            UpdateKind::ShippingQuery(query) => ids(None, Some(query.from.id)),
            UpdateKind::PreCheckoutQuery(query) => ids(None, Some(query.from.id)),
            UpdateKind::PurchasedPaidMedia(purchase) => ids(None, Some(purchase.from.id)),
            UpdateKind::Poll(_) => ids(None, None),
            UpdateKind::PollAnswer(answer) => match &answer.voter_chat {
                Some(chat) => ids(Some(chat.id), None),
                None => ids(None, answer.user.as_ref().map(|user| user.id)),
            },
            UpdateKind::MyChatMember(change) | UpdateKind::ChatMember(change) => {
                ids(Some(change.chat.id), Some(change.from.id))
            }
            UpdateKind::ChatJoinRequest(request) => {
                ids(Some(request.chat.id), Some(request.from.id))
            }
            UpdateKind::ChatBoost(boost) => ids(
                Some(boost.chat.id),
                boost.boost.source.user.as_ref().map(|user| user.id),
            ),
            UpdateKind::RemovedChatBoost(removed) => ids(
                Some(removed.chat.id),
                removed.source.user.as_ref().map(|user| user.id),
            ),
            UpdateKind::MessageReaction(reaction) => ids(
                Some(reaction.chat.id),
                match reaction.actor_chat {
                    Some(_) => None,
                    None => reaction.user.as_ref().map(|user| user.id),
                },
            ),
            UpdateKind::MessageReactionCount(counts) => ids(Some(counts.chat.id), None),
            UpdateKind::BusinessConnection(connection) => ids(None, Some(connection.user.id)),
            UpdateKind::DeletedBusinessMessages(deleted) => ids(Some(deleted.chat.id), None),
            UpdateKind::ManagedBot(managed) => ids(None, Some(managed.user.id)),
            UpdateKind::Subscription(subscription) => ids(None, Some(subscription.user.id)),
            UpdateKind::StoppedMessageGeneration(stopped) => stopped.session_ids(),
            UpdateKind::Unknown => ids(None, None),
        }
    }
}

impl UpdateKind<'_> {
    /// The chat the update was sent on behalf of, which stands for its user (see
    /// [`SessionKeys::sender_chat_id`]).
    pub fn sender_chat_id(&self) -> Option<i64> {
        match *self {
            UpdateKind::PollAnswer(answer) => answer.voter_chat.as_ref().map(|chat| chat.id),
            UpdateKind::MessageReaction(reaction) => {
                reaction.actor_chat.as_ref().map(|chat| chat.id)
            }
            kind => kind.message()?.sender_chat.as_ref().map(|chat| chat.id),
        }
    }
}

impl SessionKeys for Update {
    fn chat_id(&self) -> Option<i64> {
        self.session_ids().chat
    }

    fn sender_chat_id(&self) -> Option<i64> {
        self.kind().sender_chat_id()
    }

    fn user_id(&self) -> Option<i64> {
        self.session_ids().user
    }

    fn thread_id(&self) -> Option<i64> {
        self.session_ids().thread
    }

    fn kind_name(&self) -> &'static str {
        self.kind().name()
    }

    fn update_id(&self) -> Option<i64> {
        Some(self.update_id)
    }

    fn migrate_to_chat_id(&self) -> Option<i64> {
        self.kind()
            .message()
            .and_then(|message| message.migrate_to_chat_id)
    }

    fn migrate_from_chat_id(&self) -> Option<i64> {
        self.kind()
            .message()
            .and_then(|message| message.migrate_from_chat_id)
    }

    fn session_ids(&self) -> SessionIds {
        self.kind().session_ids()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::{Chat, DirectMessagesTopic, User};

    fn user(id: i64) -> User {
        User {
            id,
            first_name: "u".to_owned(),
            ..Default::default()
        }
    }

    fn supergroup(id: i64, forum: bool) -> Chat {
        Chat {
            id,
            kind: ChatType::Supergroup,
            is_forum: forum.then_some(true),
            ..Default::default()
        }
    }

    #[test]
    fn the_topic_is_the_thread_only_for_topic_messages() {
        let in_topic = Message {
            chat: supergroup(-100, true),
            message_thread_id: Some(12),
            is_topic_message: Some(true),
            ..Default::default()
        };
        assert_eq!(in_topic.topic_id(), Some(12));

        let reply_thread = Message {
            chat: supergroup(-100, false),
            message_thread_id: Some(12),
            ..Default::default()
        };
        assert_eq!(reply_thread.topic_id(), None);

        let direct = Message {
            direct_messages_topic: Some(Box::new(DirectMessagesTopic {
                topic_id: 77,
                user: None,
            })),
            ..Default::default()
        };
        assert_eq!(direct.topic_id(), Some(77));
    }

    #[test]
    fn a_message_sent_on_behalf_of_a_chat_has_no_user() {
        let anonymous_admin = Message {
            chat: supergroup(-100, false),
            from: Some(user(1087968824)),
            sender_chat: Some(Box::new(supergroup(-100, false))),
            ..Default::default()
        };
        assert_eq!(anonymous_admin.sender_user_id(), None);
        let update = Update {
            update_id: 1,
            message: Some(Box::new(anonymous_admin)),
            ..Default::default()
        };
        assert_eq!(update.sender_chat_id(), Some(-100));
        assert_eq!(
            update.session_ids(),
            SessionIds {
                chat: Some(-100),
                user: None,
                thread: None
            }
        );
    }

    #[test]
    fn a_stopped_draft_names_the_user_and_topic_only_where_they_are_certain() {
        // (chat, user, thread) the update yields when stopped in a draft of topic 9.
        let stopped = |chat: Chat| {
            let ids = UpdateKind::StoppedMessageGeneration(&MessageGenerationStopped {
                chat,
                message_thread_id: Some(9),
                draft_id: 1,
            })
            .session_ids();
            (ids.chat, ids.user, ids.thread)
        };
        let private = Chat {
            id: 42,
            kind: ChatType::Private,
            ..Default::default()
        };
        assert_eq!(stopped(private), (Some(42), Some(42), Some(9)));
        assert_eq!(stopped(supergroup(-100, true)), (Some(-100), None, Some(9)));
        // A thread id in a group without topics is a reply chain, not a session thread.
        assert_eq!(stopped(supergroup(-100, false)), (Some(-100), None, None));
    }

    #[test]
    fn the_trait_methods_agree_with_session_ids() {
        let update = Update {
            update_id: 1,
            edited_message: Some(Box::new(Message {
                chat: supergroup(-100, true),
                from: Some(user(5)),
                message_thread_id: Some(3),
                is_topic_message: Some(true),
                migrate_to_chat_id: Some(-1009),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(update.chat_id(), Some(-100));
        assert_eq!(update.user_id(), Some(5));
        assert_eq!(update.thread_id(), Some(3));
        assert_eq!(SessionKeys::kind_name(&update), "edited_message");
        assert_eq!(update.migrate_to_chat_id(), Some(-1009));
    }
}
