use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
struct Wrapper<T> {
    value: T,
}

#[derive(Session, Serialize, Deserialize, Default)]
struct Borrowed<'a> {
    name: &'a str,
}

fn main() {}
