use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(tll = 60)]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(storage = "redis")]
struct Prefs {
    lang: String,
}

fn main() {}
