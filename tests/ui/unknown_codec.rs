use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(codec = "yaml")]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(codec = "jsn")]
struct Prefs {
    lang: String,
}

fn main() {}
