use bot_session::Session;
use serde::{Deserialize, Serialize};

// Every mistake is reported in one compile, each at its own token.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "room", ttl = 0, lazy = yes, nmae = "x", codec = "toml", name = "Bad Name")]
struct Counter {
    count: u64,
}

fn main() {}
