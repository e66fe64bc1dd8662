use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(lazy = true)]
struct Prefs {
    lang: String,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(lazy(true))]
struct Settings {
    mute: bool,
}

fn main() {}
