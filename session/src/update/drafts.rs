//! Message drafts a bot streams while it generates an answer (`sendMessageDraft`), and the
//! user stopping one.

use serde::{Deserialize, Serialize};

use super::Chat;

/// A user pressed "stop" on a message draft the bot sent with `can_stop` (Bot API
/// `MessageGenerationStopped`). Telegram only stops showing the draft; the bot still has to
/// cancel the work producing it, found by [`chat`](Self::chat),
/// [`message_thread_id`](Self::message_thread_id) and [`draft_id`](Self::draft_id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageGenerationStopped {
    /// The chat the message was being generated in.
    pub chat: Chat,
    /// The thread (topic) the message was being generated in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// The draft that was stopped, as passed to `sendMessageDraft`.
    pub draft_id: i64,
}
