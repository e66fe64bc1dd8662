//! What the bot sends, and where it goes: printed when replaying recorded updates, returned in
//! the HTTP response when serving a webhook, sent with `sendMessage` when polling.
//!
//! Every mode has one rule: a reply goes out only once its update's sessions are stored
//! (`Context::reply_after_commit`). An update whose write-back fails sends nothing, so what
//! the chat was told never runs ahead of what the store remembers; an update delivered again
//! is answered with the reply it got the first time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bot_session::Context;
use serde::{Deserialize, Serialize};

/// One `sendMessage` the bot would make. Serializable, so that it is kept with its update's id
/// in the sessions the update changed, and a redelivery of the update is answered with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Delivering one reply: it runs after the update's sessions are stored.
pub type Delivery = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where replies go. The mode the bot runs in decides what delivering a reply means; the
/// handler only says which update it answers.
#[derive(Clone)]
pub struct Outbox {
    deliver: Arc<dyn Fn(i64, Reply) -> Delivery + Send + Sync>,
}

impl Outbox {
    /// `deliver(update_id, reply)` makes the future that delivers `reply`. It must do nothing
    /// itself: only the future it returns runs, and only after commit.
    pub fn new<F, Fut>(deliver: F) -> Self
    where
        F: Fn(i64, Reply) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Outbox {
            deliver: Arc::new(move |update_id, reply| Box::pin(deliver(update_id, reply))),
        }
    }

    /// Sends `reply` in answer to the update of `ctx`, once that update's sessions are
    /// stored; never if the update fails. The reply is kept with the update: if Telegram
    /// delivers the update again (a lost webhook answer, an unconfirmed batch), the reply of
    /// the first delivery goes out again, not one computed from the sessions as they are now.
    pub fn send_after_commit(&self, ctx: &Context, reply: Reply) {
        let update_id = ctx.update_id().unwrap_or_default();
        let deliver = Arc::clone(&self.deliver);
        ctx.reply_after_commit(reply, move |reply| deliver(update_id, reply));
    }

    /// Delivers `reply` to update `update_id` from an effect that runs after commit already
    /// (an answer that says what the effect did). Not kept with the update: a redelivery of
    /// the update runs its effect, and this, again.
    pub fn send_now(&self, update_id: i64, reply: Reply) -> Delivery {
        (self.deliver)(update_id, reply)
    }
}
