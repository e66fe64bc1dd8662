use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize)]
struct Counter {
    count: u64,
}

fn main() {}
