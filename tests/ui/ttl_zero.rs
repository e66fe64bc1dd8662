use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl = 0)]
struct Counter {
    count: u64,
}

fn main() {}
