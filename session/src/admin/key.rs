//! Typed session keys for access outside updates, and how they map to stored keys.

use std::fmt;

use crate::admin::error::AdminError;
use crate::keys::{KeyStrategy, parse_chat_user, parse_id};
use crate::session::Session;

/// Which session of a type to reach outside an update: the ids an update would carry.
///
/// The key must fit the session type's strategy (`#[session(key = "...")]`):
///
/// | strategy | key |
/// |---|---|
/// | `chat` | [`SessionKey::chat`] |
/// | `user` | [`SessionKey::user`] |
/// | `chat_user` | [`SessionKey::chat_user`] |
/// | `chat_thread` | [`SessionKey::thread`], or [`SessionKey::chat`] for the chat outside topics |
/// | `global` | [`SessionKey::Global`] |
/// | `key_with` | [`SessionKey::custom`]: the string the key function returns |
///
/// Any other pairing is an [`AdminError::WrongKey`]; nothing is read or written for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionKey {
    /// A chat's session.
    Chat(i64),
    /// A user's session, across chats.
    User(i64),
    /// A user's session in one chat.
    ChatUser {
        /// The chat.
        chat: i64,
        /// The user.
        user: i64,
    },
    /// A forum topic's session; `thread: None` is the chat outside topics.
    ChatThread {
        /// The chat.
        chat: i64,
        /// The forum topic (message thread) id.
        thread: Option<i64>,
    },
    /// The one session of a `global` session type.
    Global,
    /// The key a `key_with` function returned for an update.
    Custom(String),
}

impl SessionKey {
    /// The session of chat `chat` (for `key = "chat"`; and `"chat_thread"` outside topics).
    pub fn chat(chat: i64) -> Self {
        SessionKey::Chat(chat)
    }

    /// The session of user `user` (for `key = "user"`).
    pub fn user(user: i64) -> Self {
        SessionKey::User(user)
    }

    /// The session of user `user` in chat `chat` (for `key = "chat_user"`).
    pub fn chat_user(chat: i64, user: i64) -> Self {
        SessionKey::ChatUser { chat, user }
    }

    /// The session of forum topic `thread` in chat `chat` (for `key = "chat_thread"`).
    pub fn thread(chat: i64, thread: i64) -> Self {
        SessionKey::ChatThread {
            chat,
            thread: Some(thread),
        }
    }

    /// The session whose `key_with` function returned `key`.
    pub fn custom(key: impl Into<String>) -> Self {
        SessionKey::Custom(key.into())
    }

    /// The stored key (`prefix:key`) of this session of `S`, written as the middleware writes
    /// it for an update with these ids.
    pub(crate) fn storage_key<S: Session>(&self) -> Result<String, AdminError> {
        let id = |id: i64| itoa::Buffer::new().format(id).to_owned();
        let rest = match (S::KEY, self) {
            (KeyStrategy::Chat, SessionKey::Chat(chat)) => id(*chat),
            (KeyStrategy::User, SessionKey::User(user)) => id(*user),
            (KeyStrategy::ChatUser, SessionKey::ChatUser { chat, user }) => {
                format!("{}:{}", id(*user), id(*chat))
            }
            (KeyStrategy::ChatThread, SessionKey::Chat(chat))
            | (KeyStrategy::ChatThread, SessionKey::ChatThread { chat, thread: None }) => id(*chat),
            (
                KeyStrategy::ChatThread,
                SessionKey::ChatThread {
                    chat,
                    thread: Some(thread),
                },
            ) => format!("{}:{}", id(*chat), id(*thread)),
            (KeyStrategy::Global, SessionKey::Global) => "global".to_owned(),
            (KeyStrategy::Custom(_), SessionKey::Custom(key)) => key.clone(),
            (strategy, given) => {
                return Err(AdminError::WrongKey {
                    session: S::NAME,
                    strategy: strategy.name(),
                    given: given.to_string(),
                    expected: expected(strategy),
                });
            }
        };
        Ok(format!("{}:{rest}", S::PREFIX))
    }

    /// The key of the stored key `key` of a session of `S`: `None` when `key` is not under
    /// `S`'s prefix or not of its strategy's shape.
    pub(crate) fn parse<S: Session>(key: &str) -> Option<SessionKey> {
        let rest = key.strip_prefix(S::PREFIX)?.strip_prefix(':')?;
        Some(match S::KEY {
            KeyStrategy::Chat => SessionKey::Chat(parse_id(rest)?),
            KeyStrategy::User => SessionKey::User(parse_id(rest)?),
            KeyStrategy::ChatUser => {
                let (user, chat) = parse_chat_user(rest)?;
                SessionKey::ChatUser { chat, user }
            }
            KeyStrategy::ChatThread => match rest.split_once(':') {
                None => SessionKey::ChatThread {
                    chat: parse_id(rest)?,
                    thread: None,
                },
                Some((chat, thread)) => SessionKey::ChatThread {
                    chat: parse_id(chat)?,
                    thread: Some(parse_id(thread)?),
                },
            },
            KeyStrategy::Global if rest == "global" => SessionKey::Global,
            KeyStrategy::Global => return None,
            KeyStrategy::Custom(_) => SessionKey::Custom(rest.to_owned()),
        })
    }
}

/// What [`AdminError::WrongKey`] asks for instead.
fn expected(strategy: KeyStrategy) -> &'static str {
    match strategy {
        KeyStrategy::Chat => "`SessionKey::chat(chat_id)`",
        KeyStrategy::User => "`SessionKey::user(user_id)`",
        KeyStrategy::ChatUser => "`SessionKey::chat_user(chat_id, user_id)`",
        KeyStrategy::ChatThread => {
            "`SessionKey::thread(chat_id, thread_id)`, or `SessionKey::chat(chat_id)` outside topics"
        }
        KeyStrategy::Global => "`SessionKey::Global`",
        KeyStrategy::Custom(_) => {
            "`SessionKey::custom(key)`, the string its `key_with` function returns"
        }
    }
}

/// `chat -100123`, `user 42 in chat -100123`, ...
impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionKey::Chat(chat) => write!(f, "chat {chat}"),
            SessionKey::User(user) => write!(f, "user {user}"),
            SessionKey::ChatUser { chat, user } => write!(f, "user {user} in chat {chat}"),
            SessionKey::ChatThread {
                chat,
                thread: Some(thread),
            } => write!(f, "topic {thread} of chat {chat}"),
            SessionKey::ChatThread { chat, thread: None } => write!(f, "chat {chat}"),
            SessionKey::Global => f.write_str("the global session"),
            SessionKey::Custom(key) => write!(f, "custom key {key:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::fixtures::session_type;
    use crate::context::Context;
    use serde::{Deserialize, Serialize};

    macro_rules! session {
        ($name:ident, $prefix:literal, $key:expr) => {
            #[derive(Serialize, Deserialize, Default)]
            struct $name;
            session_type!($name, $prefix, $key);
        };
    }

    fn by_name(_: &Context) -> Option<String> {
        None
    }

    session!(ByChat, "c", KeyStrategy::Chat);
    session!(ByUser, "u", KeyStrategy::User);
    session!(ByChatUser, "cu", KeyStrategy::ChatUser);
    session!(ByThread, "t", KeyStrategy::ChatThread);
    session!(Everyone, "g", KeyStrategy::Global);
    session!(ByName, "n", KeyStrategy::Custom(by_name));

    fn round_trip<S: Session>(key: SessionKey, stored: &str) {
        assert_eq!(key.storage_key::<S>().unwrap(), stored);
        assert_eq!(SessionKey::parse::<S>(stored), Some(key));
    }

    #[test]
    fn each_strategy_takes_its_key_and_reads_it_back() {
        round_trip::<ByChat>(SessionKey::chat(-100123), "c:-100123");
        round_trip::<ByUser>(SessionKey::user(42), "u:42");
        round_trip::<ByChatUser>(SessionKey::chat_user(-100123, 42), "cu:42:-100123");
        round_trip::<ByThread>(SessionKey::thread(-100123, 7), "t:-100123:7");
        round_trip::<ByThread>(
            SessionKey::ChatThread {
                chat: -5,
                thread: None,
            },
            "t:-5",
        );
        round_trip::<Everyone>(SessionKey::Global, "g:global");
        round_trip::<ByName>(SessionKey::custom("a:b c"), "n:a:b c");
    }

    #[test]
    fn a_chat_is_a_thread_key_outside_topics() {
        assert_eq!(
            SessionKey::chat(-5).storage_key::<ByThread>().unwrap(),
            "t:-5"
        );
    }

    #[test]
    fn a_key_of_another_strategy_says_what_to_give() {
        let err = SessionKey::user(42).storage_key::<ByChat>().unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("session `c` is keyed by `chat`, so user 42 names none"),
            "{message}"
        );
        assert!(message.contains("SessionKey::chat(chat_id)"), "{message}");
        assert!(SessionKey::custom("x").storage_key::<Everyone>().is_err());
        assert!(SessionKey::Global.storage_key::<ByName>().is_err());
    }

    #[test]
    fn keys_the_strategy_could_not_have_written_are_not_read() {
        assert_eq!(SessionKey::parse::<ByChat>("c:abc"), None);
        assert_eq!(SessionKey::parse::<ByChat>("c:007"), None);
        assert_eq!(SessionKey::parse::<ByChat>("cu:1"), None);
        assert_eq!(SessionKey::parse::<ByChatUser>("cu:1"), None);
        assert_eq!(SessionKey::parse::<ByThread>("t:1:x"), None);
        assert_eq!(SessionKey::parse::<Everyone>("g:other"), None);
    }
}
