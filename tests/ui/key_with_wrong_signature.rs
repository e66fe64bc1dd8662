use bot_session::{Context, Session};
use serde::{Deserialize, Serialize};

fn by_topic(ctx: &Context) -> String {
    format!("{:?}", ctx.ids().thread)
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key_with = by_topic)]
struct Counter {
    count: u64,
}

fn main() {}
