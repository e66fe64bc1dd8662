//! Which ids of an update form a session's storage key.

use crate::context::Context;
use crate::ids::SessionIds;
use crate::storage_key::StorageKey;

/// How a session type computes its key, chosen with `#[session(key = "...")]` or `key_with`.
#[derive(Clone, Copy)]
pub enum KeyStrategy {
    /// One session per chat: the chat id.
    Chat,
    /// One session per user, across chats: the sender's id.
    User,
    /// One session per user in each chat: `user:chat`, the telegraf/opengram default.
    ChatUser,
    /// One session per forum topic: `chat:thread`, or just `chat` outside topics.
    ChatThread,
    /// One session for the whole bot.
    Global,
    /// A custom function; `None` means the update has no session of this type.
    Custom(fn(&Context) -> Option<String>),
}

impl KeyStrategy {
    /// The name used in `#[session(key = "...")]` and in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            KeyStrategy::Chat => "chat",
            KeyStrategy::User => "user",
            KeyStrategy::ChatUser => "chat_user",
            KeyStrategy::ChatThread => "chat_thread",
            KeyStrategy::Global => "global",
            KeyStrategy::Custom(_) => "key_with",
        }
    }

    /// What the strategy needs from an update, for [`SessionError::NoKey`](crate::SessionError::NoKey).
    pub(crate) fn needs(&self) -> &'static str {
        match self {
            KeyStrategy::Chat | KeyStrategy::ChatThread => "a chat id",
            KeyStrategy::User => "a user id",
            KeyStrategy::ChatUser => "both a chat id and a user id",
            KeyStrategy::Global => "nothing",
            KeyStrategy::Custom(_) => "the custom key function to return Some",
        }
    }

    /// Appends `prefix:key` to `out`; returns `false` (and leaves `out` unspecified) when the
    /// update lacks an id the strategy needs.
    pub(crate) fn write_storage_key(
        &self,
        prefix: &str,
        ctx: &Context,
        out: &mut StorageKey,
    ) -> bool {
        let ids = ctx.ids();
        out.push_str(prefix);
        out.push_colon();
        match *self {
            KeyStrategy::Chat => match ids.chat {
                Some(chat) => push_id(out, chat),
                None => return false,
            },
            KeyStrategy::User => match ids.user {
                Some(user) => push_id(out, user),
                None => return false,
            },
            KeyStrategy::ChatUser => match (ids.user, ids.chat) {
                (Some(user), Some(chat)) => {
                    push_id(out, user);
                    out.push_colon();
                    push_id(out, chat);
                }
                _ => return false,
            },
            KeyStrategy::ChatThread => match ids.chat {
                Some(chat) => {
                    push_id(out, chat);
                    if let Some(thread) = ids.thread {
                        out.push_colon();
                        push_id(out, thread);
                    }
                }
                None => return false,
            },
            KeyStrategy::Global => out.push_str("global"),
            KeyStrategy::Custom(key_fn) => match key_fn(ctx) {
                Some(key) => out.push_str(&key),
                None => return false,
            },
        }
        true
    }

    /// The storage key of the session of `chat` itself, for strategies whose key is the chat
    /// alone (`chat`, and `chat_thread` outside topics); `None` for the others (`chat_user`
    /// sessions of a group are found by listing, see `middleware/chat_migration.rs`).
    pub(crate) fn chat_key(&self, prefix: &str, ids: SessionIds, chat: i64) -> Option<StorageKey> {
        match (*self, ids.thread) {
            (KeyStrategy::Chat, _) | (KeyStrategy::ChatThread, None) => {
                let mut out = StorageKey::new();
                out.push_str(prefix);
                out.push_colon();
                push_id(&mut out, chat);
                Some(out)
            }
            _ => None,
        }
    }
}

impl std::fmt::Debug for KeyStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The id a key part spells, if it spells one exactly as [`push_id`] writes it: `007` or `+7`
/// is no id, since the key of id 7 is `7` and an edit of the one would miss the other.
pub(crate) fn parse_id(text: &str) -> Option<i64> {
    let id: i64 = text.parse().ok()?;
    (itoa::Buffer::new().format(id) == text).then_some(id)
}

/// The user and chat of a `chat_user` key's part after the prefix (`user:chat`).
pub(crate) fn parse_chat_user(rest: &str) -> Option<(i64, i64)> {
    let (user, chat) = rest.split_once(':')?;
    Some((parse_id(user)?, parse_id(chat)?))
}

/// Appends `id` in decimal. Every update formats at least one id: `write!` goes through the
/// formatting machinery (about 250 instructions an id, measured with callgrind), and a digit
/// loop of our own must check its bytes are UTF-8 before `push_str` (as many again); `itoa`
/// (already built for serde_json) does neither.
fn push_id(out: &mut StorageKey, id: i64) {
    out.push_str(itoa::Buffer::new().format(id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SessionKeys;

    struct Ids(SessionIds);

    impl SessionKeys for Ids {
        fn chat_id(&self) -> Option<i64> {
            self.0.chat
        }
        fn user_id(&self) -> Option<i64> {
            self.0.user
        }
        fn thread_id(&self) -> Option<i64> {
            self.0.thread
        }
    }

    fn key(strategy: KeyStrategy, ids: SessionIds) -> Option<String> {
        let ctx = Context::detached(Ids(ids));
        let mut out = StorageKey::new();
        strategy
            .write_storage_key("p", &ctx, &mut out)
            .then(|| out.to_string())
    }

    const FULL: SessionIds = SessionIds {
        chat: Some(-100123),
        user: Some(42),
        thread: Some(7),
    };

    #[test]
    fn each_strategy_formats_its_key() {
        assert_eq!(key(KeyStrategy::Chat, FULL).unwrap(), "p:-100123");
        assert_eq!(key(KeyStrategy::User, FULL).unwrap(), "p:42");
        assert_eq!(key(KeyStrategy::ChatUser, FULL).unwrap(), "p:42:-100123");
        assert_eq!(key(KeyStrategy::ChatThread, FULL).unwrap(), "p:-100123:7");
        assert_eq!(key(KeyStrategy::Global, FULL).unwrap(), "p:global");
    }

    #[test]
    fn ids_are_formatted_in_decimal_like_display() {
        for id in [
            0,
            7,
            -7,
            10,
            -100123,
            1_000_000,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut out = StorageKey::new();
            push_id(&mut out, id);
            assert_eq!(out.as_str(), id.to_string());
        }
    }

    #[test]
    fn chat_thread_without_topic_is_the_chat() {
        let ids = SessionIds {
            thread: None,
            ..FULL
        };
        assert_eq!(key(KeyStrategy::ChatThread, ids).unwrap(), "p:-100123");
    }

    #[test]
    fn missing_ids_mean_no_key() {
        let user_only = SessionIds {
            chat: None,
            user: Some(1),
            thread: None,
        };
        assert_eq!(key(KeyStrategy::Chat, user_only), None);
        assert_eq!(key(KeyStrategy::ChatUser, user_only), None);
        assert_eq!(key(KeyStrategy::ChatThread, user_only), None);
        assert_eq!(key(KeyStrategy::User, user_only).unwrap(), "p:1");
        assert_eq!(
            key(KeyStrategy::Global, SessionIds::default()).unwrap(),
            "p:global"
        );
    }

    #[test]
    fn custom_strategy_uses_the_function() {
        fn by_user_parity(ctx: &Context) -> Option<String> {
            ctx.ids().user.map(|u| format!("parity-{}", u % 2))
        }
        assert_eq!(
            key(KeyStrategy::Custom(by_user_parity), FULL).unwrap(),
            "p:parity-0"
        );
        assert_eq!(
            key(KeyStrategy::Custom(by_user_parity), SessionIds::default()),
            None
        );
    }

    #[test]
    fn ids_parse_back_only_as_written() {
        for id in [0, 7, -7, -100123, i64::MAX, i64::MIN] {
            let mut out = StorageKey::new();
            push_id(&mut out, id);
            assert_eq!(parse_id(&out), Some(id));
        }
        for text in ["", "007", "+7", "-0", " 7", "7x", "99999999999999999999"] {
            assert_eq!(parse_id(text), None, "{text:?}");
        }
        assert_eq!(parse_chat_user("42:-100123"), Some((42, -100123)));
        assert_eq!(parse_chat_user("42"), None);
        assert_eq!(parse_chat_user("42:-100123:7"), None);
    }

    #[test]
    fn only_chat_keyed_sessions_have_a_chat_key() {
        let ids = SessionIds {
            chat: Some(-1),
            user: Some(5),
            thread: None,
        };
        assert_eq!(
            KeyStrategy::Chat
                .chat_key("c", ids, -1009)
                .unwrap()
                .as_str(),
            "c:-1009"
        );
        assert_eq!(
            KeyStrategy::ChatThread
                .chat_key("c", ids, -1009)
                .unwrap()
                .as_str(),
            "c:-1009"
        );
        assert!(KeyStrategy::ChatUser.chat_key("c", ids, -1009).is_none());
        assert!(KeyStrategy::User.chat_key("c", ids, -1009).is_none());
        assert!(KeyStrategy::Global.chat_key("c", ids, -1009).is_none());
    }
}
