//! What the bot sends, and where it goes: printed when replaying recorded updates, returned in
//! the HTTP response when serving a webhook.

use std::fmt;
use std::sync::Arc;

/// One `sendMessage` the bot would make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub chat_id: i64,
    /// The forum topic to post in (`message_thread_id`), so replies land in the topic they
    /// answer rather than in General.
    pub message_thread_id: Option<i64>,
    pub text: String,
}

/// `chat_id=42 text="Message #3 in this chat"`, with `message_thread_id=7` in forum topics;
/// the text is quoted and escaped, so one reply is always one line.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chat_id={}", self.chat_id)?;
        if let Some(thread) = self.message_thread_id {
            write!(f, " message_thread_id={thread}")?;
        }
        write!(f, " text={:?}", self.text)
    }
}

/// Where replies go. The handler hands each reply over with the id of the update it answers;
/// the mode the bot runs in decides what happens to it.
#[derive(Clone)]
pub struct Outbox {
    deliver: Arc<dyn Fn(i64, Reply) + Send + Sync>,
}

impl Outbox {
    pub fn new(deliver: impl Fn(i64, Reply) + Send + Sync + 'static) -> Self {
        Outbox {
            deliver: Arc::new(deliver),
        }
    }

    /// Sends `reply` in answer to the update with `update_id`.
    pub fn send(&self, update_id: i64, reply: Reply) {
        (self.deliver)(update_id, reply);
    }
}
