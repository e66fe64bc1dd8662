use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize)]
#[session(initial = Counter::fresh())]
struct Counter {
    count: u64,
}

impl Counter {
    fn fresh() -> Self {
        Counter { count: 1 }
    }
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key_with = 5)]
struct Numbered {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(version = 2, migrate = |_, stored| stored.decode())]
struct Closure {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(crate = "not a path")]
struct CratePath {
    count: u64,
}

fn main() {}
