//! Which operations of a failed request may be sent again.

use super::protocol::{Commit, Failure, Replies, Take};

/// What of a failed request may be sent again: everything when provably nothing was sent;
/// takes also when the request may have arrived (taking a lease this very token holds
/// succeeds again, and reading twice is harmless); commits never then, since they may have
/// been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    Everything,
    TakesOnly,
    Nothing,
}

impl Resend {
    /// The operations to send again, if any.
    pub(super) fn select<'a, 'b>(
        self,
        takes: &'a [&'b Take],
        commits: &'a [&'b Commit],
    ) -> Option<(&'a [&'b Take], &'a [&'b Commit])> {
        let again = match self {
            Resend::Everything => (takes, commits),
            Resend::TakesOnly => (takes, &[][..]),
            Resend::Nothing => (&[][..], &[][..]),
        };
        (!again.0.is_empty() || !again.1.is_empty()).then_some(again)
    }

    /// The outcomes of a request that failed with `failure` and whose operations this plan
    /// selected were sent again, answering `retried`.
    pub(super) fn merge(
        self,
        failure: Failure,
        takes: usize,
        commits: usize,
        retried: Replies,
    ) -> Replies {
        let mut replies = Replies::failed(&failure, takes, commits);
        if self != Resend::Nothing {
            replies.takes = retried.takes;
        }
        if self == Resend::Everything {
            replies.commits = retried.commits;
        }
        replies
    }
}
