//! The attempts at one update: after each, run its effects if it succeeded, or decide whether
//! it runs again because it lost a wait-die race. The `Composer` and the teloxide adaptor drive
//! the same loop, each running its own kind of attempt.

use crate::context::Context;

/// How many times an update that lost a deadlock-avoidance race is run again. Each retry keeps
/// the update's age, so it wins once it is the oldest contender; the bound only guards
/// against a store that keeps answering busy.
pub(crate) const MAX_ATTEMPTS: u32 = 1000;

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The update is over: return the attempt's result.
    Finished,
    /// The attempt lost a race and nothing of it was written: run the update again, with
    /// [`Attempts::context`] (the next attempt's, whose blocker has been waited for).
    RunAgain,
    /// It lost [`MAX_ATTEMPTS`] races in a row: give up.
    GaveUp,
}

/// One update's attempts.
pub(crate) struct Attempts {
    ctx: Context,
    attempt: u32,
}

impl Attempts {
    pub(crate) fn new(ctx: Context) -> Self {
        Attempts { ctx, attempt: 1 }
    }

    /// The context of the attempt to run.
    pub(crate) fn context(&self) -> &Context {
        &self.ctx
    }

    /// Ends the attempt that just ran: `committed` when its sessions were written back (its
    /// effects then run, in the order added). Otherwise its effects are dropped, and the
    /// update runs again only if it lost a race.
    pub(crate) async fn conclude(&mut self, committed: bool) -> Verdict {
        let effects = self.ctx.finish_attempt();
        if committed {
            for effect in effects {
                effect.await;
            }
            return Verdict::Finished;
        }
        // Decided by the flag set where the race was lost, not by the error: a handler may
        // have wrapped the accessor's error in a type of its own.
        if !self.ctx.has_lost_race() {
            return Verdict::Finished;
        }
        if self.attempt >= MAX_ATTEMPTS {
            return Verdict::GaveUp;
        }
        self.ctx = self.ctx.next_attempt();
        self.attempt += 1;
        tracing::debug!(
            attempt = self.attempt,
            kind = self.ctx.update_kind(),
            "retrying an update after a lock conflict"
        );
        // Every key of the update is released by now: wait for the older update that holds
        // the key this one gave up on (a conflict in a shared store has no such handle; its
        // holder is given a turn).
        // Boxed: a rare path, and its future would otherwise make every update's bigger.
        if !Box::pin(self.ctx.wait_for_blocker()).await {
            tokio::task::yield_now().await;
        }
        Verdict::RunAgain
    }
}
