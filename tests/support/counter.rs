//! A per-chat counter session and updates for it, to drive stores through the real middleware.
//!
//! The `Session` impl is written out by hand (what `#[derive(Session)]` expands to), so these
//! tests depend on the runtime only, not on the derive.

use bot_session::{Composer, Context, SessionMiddleware, Storage, Update};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default, Debug)]
pub struct Counter {
    pub count: u64,
}

impl bot_session::Session for Counter {
    const NAME: &'static str = "counter";
    const TYPE_NAME: &'static str = "Counter";
    const KEY: bot_session::KeyStrategy = bot_session::KeyStrategy::Chat;
    const TTL: Option<std::time::Duration> = None;
    const LAZY: bool = false;
    const PREFIX: &'static str = "counter";
    const VERSION: u32 = 0;
    type Codec = bot_session::Json;

    fn initial() -> Self {
        Counter::default()
    }
}

/// The middleware a test configures (lease, lock wait) before building the bot.
pub fn middleware(storage: impl Storage) -> SessionMiddleware<Counter> {
    SessionMiddleware::new(storage)
}

/// A bot whose handler adds one to the chat's counter.
pub fn bot(middleware: SessionMiddleware<Counter>) -> Composer {
    Composer::new()
        .with(middleware)
        .handler(|ctx: Context| async move {
            ctx.session::<Counter>()?.count += 1;
            Ok(())
        })
}

/// A text message in `chat`, with an update id of its own (sessions recognize an update id
/// they have seen as a redelivery).
pub fn message(chat: i64) -> Update {
    static NEXT_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    let update_id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    serde_json::from_value(serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 0, "text": "hi",
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": false, "first_name": "u"}
        }
    }))
    .expect("a valid update")
}

/// The stored count of `chat`, decoded the way the middleware stores it.
pub async fn stored_count(store: &dyn Storage, chat: i64) -> Option<u64> {
    let bytes = store
        .read(&format!("counter:{chat}"))
        .await
        .expect("read the counter")?;
    let counter: Counter =
        serde_json::from_slice(bot_session::StoredBytes::parse(&bytes).payload())
            .unwrap_or_else(|err| panic!("stored counter is not whole JSON ({err}): {bytes:?}"));
    Some(counter.count)
}
