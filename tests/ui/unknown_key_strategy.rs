use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chats")]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "per_message")]
struct Seen {
    seen: bool,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = user)]
struct Prefs {
    lang: String,
}

fn main() {}
