//! The attempts at one update: after each, run its effects if it succeeded, or decide whether
//! it runs again because it lost a wait-die race. The `Composer` and the teloxide adaptor drive
//! the same loop, each running its own kind of attempt.

use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::SessionError;
use crate::observe::updates;

/// How many times an update that lost a deadlock-avoidance race is run again. Each retry keeps
/// the update's age, so it wins once it is the oldest contender; the bound only guards
/// against a store that keeps answering busy.
pub(crate) const MAX_ATTEMPTS: u32 = 1000;
/// How long an update keeps losing races to a holder in another process (whose release this
/// process cannot wait for) before it is given up: longer than a lease, so a holder that died
/// has lost its keys by then.
pub(crate) const MAX_RACING: Duration = Duration::from_secs(30);
/// The longest pause before running an update again after it lost to a holder in another
/// process.
const MAX_PAUSE: Duration = Duration::from_millis(100);

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
    /// When the first attempt lost a race, and the pause in milliseconds before the next run
    /// after a loss to another process (at most `MAX_PAUSE`). Every update's future carries
    /// this: kept small.
    racing: Option<(Instant, u32)>,
}

impl Attempts {
    pub(crate) fn new(ctx: Context) -> Self {
        Attempts {
            ctx,
            attempt: 1,
            racing: None,
        }
    }

    /// Why the update was given up: the key it kept losing, and who held it. Logged here, so
    /// every caller's give-up is seen, and marked as a failure that may pass.
    pub(crate) fn gave_up(&self) -> SessionError {
        let (session, key, holder_ticket) = self.ctx.last_lost_race();
        let waited = self
            .racing
            .map_or(Duration::ZERO, |(since, _)| since.elapsed());
        self.ctx.fail_retryably();
        tracing::warn!(
            session,
            key,
            holder_ticket,
            ?waited,
            attempts = self.attempt,
            "an update kept losing deadlock-avoidance races for the same key and was given up; nothing was written"
        );
        SessionError::LockTimeout {
            session,
            key,
            holder_ticket,
            waited,
        }
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
        drop(effects);
        // Decided by the flag set where the race was lost, not by the error: a handler may
        // have wrapped the accessor's error in a type of its own.
        if !self.ctx.has_lost_race() {
            return Verdict::Finished;
        }
        // Boxed: a rare path, and its future would otherwise make every update's bigger.
        Box::pin(self.prepare_rerun()).await
    }

    /// After an attempt that lost a race: gives up, or readies the next attempt once the key it
    /// lost is free.
    async fn prepare_rerun(&mut self) -> Verdict {
        let (since, pause_ms) = *self.racing.get_or_insert((Instant::now(), 1));
        let pause = Duration::from_millis(u64::from(pause_ms));
        if self.attempt >= MAX_ATTEMPTS || since.elapsed() >= MAX_RACING {
            return Verdict::GaveUp;
        }
        updates::rerun(|| self.ctx.last_lost_race().0);
        self.ctx = self.ctx.next_attempt();
        self.attempt += 1;
        tracing::debug!(
            attempt = self.attempt,
            kind = self.ctx.update_kind(),
            "retrying an update after a lock conflict"
        );
        // Every key of the update is released by now: wait for the older update that holds
        // the key this one gave up on. A holder in another process cannot be waited for: the
        // update pauses, longer each time (a holder that died keeps its key for a lease).
        if !self.ctx.wait_for_blocker().await {
            let _waiting = self.ctx.waiting_elsewhere();
            tokio::time::sleep(pause).await;
            let next = (pause * 2).min(MAX_PAUSE).as_millis();
            self.racing = Some((since, u32::try_from(next).unwrap_or(u32::MAX)));
        }
        Verdict::RunAgain
    }
}
