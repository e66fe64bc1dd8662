use bot_session::Session;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

// A session is shared by the tasks of a multi-threaded runtime: it must be `Send + Sync`.
#[derive(Session, Serialize, Deserialize, Default)]
struct Clicks {
    count: Cell<u32>,
}

fn main() {}
