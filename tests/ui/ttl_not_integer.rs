use bot_session::Session;
use serde::{Deserialize, Serialize};

const HOUR: u64 = 3600;

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl = 1.5)]
struct Fractional {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl = -60)]
struct Negative {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl = HOUR)]
struct Constant {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(ttl)]
struct Missing {
    count: u64,
}

fn main() {}
