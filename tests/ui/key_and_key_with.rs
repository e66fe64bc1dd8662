use bot_session::{Context, Session};
use serde::{Deserialize, Serialize};

fn by_topic(ctx: &Context) -> Option<String> {
    ctx.ids().thread.map(|t| t.to_string())
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat", key_with = by_topic)]
struct Counter {
    count: u64,
}

fn main() {}
