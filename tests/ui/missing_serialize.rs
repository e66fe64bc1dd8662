use bot_session::Session;
use serde::Deserialize;

#[derive(Session, Deserialize, Default)]
struct Counter {
    count: u64,
}

fn main() {}
