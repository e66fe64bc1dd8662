use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(prefix = "")]
struct Empty {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(prefix = "app:counter")]
struct Colon {
    count: u64,
}

fn main() {}
