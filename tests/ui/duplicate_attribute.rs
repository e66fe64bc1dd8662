use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl = 60, key = "user", ttl = 120)]
#[session(key = "chat")]
struct Counter {
    count: u64,
}

fn main() {}
