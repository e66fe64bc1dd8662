use bot_session::Session;
use serde::{Deserialize, Serialize};

// The default accessor name is the struct name in snake_case; here that cannot work.
#[derive(Session, Serialize, Deserialize, Default)]
struct Match {
    round: u32,
}

#[derive(Session, Serialize, Deserialize, Default)]
struct Update {
    seen: u32,
}

fn main() {}
