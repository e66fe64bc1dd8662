//! Managed bots: bots a user created through the current bot (a *manager* bot), which the
//! manager then controls on the owner's behalf.

use serde::{Deserialize, Serialize};

use super::User;

/// A bot managed by the current bot was created, got a new token, or changed owner (Bot API
/// `ManagedBotUpdated`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedBotUpdated {
    /// The user who created (and owns) the managed bot.
    pub user: User,
    /// The managed bot itself; fetch its token with `getManagedBotToken`.
    pub bot: User,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_and_the_bot_are_both_read() {
        let update: ManagedBotUpdated = serde_json::from_str(
            r#"{"user": {"id": 7, "is_bot": false, "first_name": "Owner"},
                "bot": {"id": 8, "is_bot": true, "first_name": "Helper", "username": "helper_bot"},
                "future_field": 1}"#,
        )
        .unwrap();
        assert_eq!(update.user.id, 7);
        assert!(update.bot.is_bot);
        assert_eq!(update.bot.username.as_deref(), Some("helper_bot"));
    }
}
