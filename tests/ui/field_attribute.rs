use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
struct Counter {
    #[session(ttl = 60)]
    count: u64,
}

fn main() {}
