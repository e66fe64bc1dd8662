//! [`Context::send_after_commit`]: a teloxide request sent once the update is stored, its
//! failure logged, a flood-control answer (429) waited out.

use std::time::Duration;

use ::teloxide::RequestError;
use ::teloxide::requests::{Payload, Request};

use crate::context::Context;

/// How many times a request is sent at most: the first try and the retries after 429s.
const MAX_TRIES: u32 = 4;
/// The longest `retry_after` waited for. Telegram asks for longer waits when a bot floods a
/// chat for minutes; holding the update's task (and, with teloxide's per-chat workers, the
/// chat's next updates) that long would do more harm than the lost reply.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl Context {
    /// Sends a teloxide request once this update's sessions are stored, and never if the update
    /// fails: `ctx.send_after_commit(bot.send_message(msg.chat.id, "Saved."))` in place of
    /// `bot.send_message(..).await?` in an endpoint, where the reply would go out before the
    /// write-back and stay out if storing then failed. (Feature `teloxide`.)
    ///
    /// The request runs as an effect of [`Context::after_commit`], in order with the others,
    /// on the update's task once its sessions are written back. Its answer is not returned: a
    /// failure is logged at `error` level with the chat id, the update id and the method (the
    /// update is stored by then, and teloxide's error handler would only log it too). When
    /// Telegram answers `429 Too Many Requests` with `retry_after`, the request is sent again
    /// after that wait, up to 4 tries in all and for a `retry_after` of at most 60 s.
    ///
    /// # Redelivered updates
    ///
    /// When the update is a redelivery ([`Context::is_redelivery`], final once the update is
    /// stored, which is when this runs), nothing is sent, and that is logged at `debug`
    /// level: the first delivery stored its change and then sent its reply, while the handler
    /// of the redelivery saw the state after that change (a counter one higher) and its reply
    /// could say something else. The cost is the rare reply lost when a process stopped
    /// between storing an update and sending its reply.
    pub fn send_after_commit<R>(&self, request: R)
    where
        R: Request<Err = RequestError> + Send + Sync + 'static,
    {
        let ctx = self.clone();
        self.after_commit(async move {
            let chat = ctx.ids().chat;
            let update_id = ctx.update_id();
            let method = <R::Payload as Payload>::NAME;
            if ctx.is_redelivery() {
                tracing::debug!(
                    chat,
                    update_id,
                    method,
                    "a redelivered update: its reply is not sent again"
                );
                return;
            }
            // The effect holds the context only to ask this: let it go before waiting.
            drop(ctx);
            send(&request, chat, update_id, method).await;
        });
    }
}

/// Sends `request`, waiting out 429s within the bounds above; logs what fails for good.
async fn send<R>(request: &R, chat: Option<i64>, update_id: Option<i64>, method: &str)
where
    R: Request<Err = RequestError>,
{
    for tries in 1..=MAX_TRIES {
        let err = match request.send_ref().await {
            Ok(_) => return,
            Err(err) => err,
        };
        match err {
            RequestError::RetryAfter(wait)
                if tries < MAX_TRIES && wait.duration() <= MAX_RETRY_AFTER =>
            {
                tracing::warn!(
                    chat,
                    update_id,
                    method,
                    retry_after = wait.seconds(),
                    "Telegram asks to slow down: sending the reply again after the wait"
                );
                tokio::time::sleep(wait.duration()).await;
            }
            err => {
                tracing::error!(
                    chat,
                    update_id,
                    method,
                    tries,
                    error = %err,
                    "a reply sent after the update was stored failed (the update itself is \
                     stored and is not retried)"
                );
                return;
            }
        }
    }
}
