//! Poll mode's memory of the replies that went out: the ids of the updates whose reply
//! `sendMessage` took since the last offset Telegram confirmed.
//!
//! `getUpdates` serves an update again until an offset past it is confirmed. The sessions
//! recognize such an update and the outbox gets the reply its first delivery kept; but when
//! this process saw that reply go out, sending it again only tells the chat the same thing
//! twice. So the poller skips it. The memory is this process's: after a restart (a crash
//! between the send and the confirmation) the kept reply goes out again, the same, never a
//! different one. A reply whose send failed, or whose answer was lost, is not remembered and
//! goes out again.
//!
//! Each update of the counter sends at most one reply, so an update id is all there is to
//! remember.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The most update ids remembered. A poller that confirms each batch (at most 100 updates)
/// before fetching the next holds about one batch's; past this bound the oldest are
/// forgotten, and should one of those come back its reply goes out again.
const MAX_REMEMBERED: usize = 10_000;

/// Shared by the outbox (which records a reply that went out) and the poll loop (which
/// forgets what Telegram confirmed); clones share one memory.
#[derive(Clone, Default)]
pub struct SentReplies {
    ids: Arc<Mutex<BTreeSet<i64>>>,
}

impl SentReplies {
    /// Whether the reply to `update_id` went out since the last confirmed offset.
    pub fn went_out(&self, update_id: i64) -> bool {
        self.lock().contains(&update_id)
    }

    /// The reply to `update_id` went out: `sendMessage` answered it.
    pub fn record(&self, update_id: i64) {
        let mut ids = self.lock();
        ids.insert(update_id);
        while ids.len() > MAX_REMEMBERED {
            ids.pop_first();
        }
    }

    /// Telegram confirmed every update up to `update_id`: none of them can come again.
    pub fn forget_through(&self, update_id: i64) {
        let mut ids = self.lock();
        *ids = ids.split_off(&update_id.saturating_add(1));
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<i64>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_confirmed_and_within_its_bound() {
        let sent = SentReplies::default();
        for id in [10, 11, 12] {
            sent.record(id);
        }
        assert!(sent.went_out(11));
        sent.forget_through(11);
        assert!(!sent.went_out(10) && !sent.went_out(11));
        assert!(sent.went_out(12));
        for id in 100..100 + MAX_REMEMBERED as i64 + 5 {
            sent.record(id);
        }
        assert!(
            !sent.went_out(12),
            "the oldest are forgotten past the bound"
        );
        assert!(sent.went_out(100 + MAX_REMEMBERED as i64 + 4));
        assert_eq!(sent.lock().len(), MAX_REMEMBERED);
    }
}
