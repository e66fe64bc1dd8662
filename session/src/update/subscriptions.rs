//! Payment subscriptions users hold toward the bot, and how they change.

use serde::{Deserialize, Serialize};

use super::User;
use super::string_enum::string_enum;

/// A user's payment subscription toward the bot changed (Bot API `BotSubscriptionUpdated`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BotSubscriptionUpdated {
    /// The subscriber.
    pub user: User,
    /// The payload the bot put in the subscription's invoice, telling which plan this is.
    pub invoice_payload: String,
    /// What happened to the subscription.
    pub state: BotSubscriptionState,
}

string_enum! {
    /// The new state of a payment subscription, in [`BotSubscriptionUpdated::state`].
    pub enum BotSubscriptionState {
        /// The user re-enabled a subscription they had canceled.
        Active = "active",
        /// The user canceled the subscription.
        Canceled = "canceled",
        /// The payment for the subscription's next period failed.
        Failed = "failed",
    }
    default = Active;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_state_reads_and_writes_its_string() {
        for (text, state) in [
            ("active", BotSubscriptionState::Active),
            ("canceled", BotSubscriptionState::Canceled),
            ("failed", BotSubscriptionState::Failed),
        ] {
            let json = format!("\"{text}\"");
            assert_eq!(
                serde_json::from_str::<BotSubscriptionState>(&json).unwrap(),
                state
            );
            assert_eq!(serde_json::to_string(&state).unwrap(), json);
        }
    }

    #[test]
    fn a_state_added_later_is_kept() {
        let update: BotSubscriptionUpdated = serde_json::from_str(
            r#"{"user": {"id": 7, "is_bot": false, "first_name": "U"},
                "invoice_payload": "plan:pro", "state": "paused"}"#,
        )
        .unwrap();
        assert_eq!(
            update.state,
            BotSubscriptionState::Other("paused".to_owned())
        );
        assert_eq!(
            serde_json::to_value(&update).unwrap()["state"],
            serde_json::json!("paused")
        );
    }
}
