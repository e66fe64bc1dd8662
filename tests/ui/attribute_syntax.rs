use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session]
struct Bare {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session = "chat"]
struct Assigned {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "user" ttl = 60)]
struct MissingComma {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(initial = )]
struct MissingValue {
    count: u64,
}

fn main() {}
