use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl = "60")]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl = "1h")]
struct Hourly {
    count: u64,
}

fn main() {}
