use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(version = -1)]
struct Negative {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(version = "2")]
struct Quoted {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(version = 5000000000)]
struct TooLarge {
    count: u64,
}

fn main() {}
