use bot_session::Session;
use serde::Serialize;

#[derive(Session, Serialize, Default)]
struct Counter {
    count: u64,
}

fn main() {}
