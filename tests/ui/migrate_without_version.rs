use bot_session::{HandlerError, Session, StoredData};
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(migrate = Counter::upgrade)]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(version = 0, migrate = Counter::upgrade)]
struct Explicit {
    count: u64,
}

impl Counter {
    fn upgrade(_version: u32, stored: StoredData<'_, Self>) -> Result<Self, HandlerError> {
        Ok(stored.decode()?)
    }
}

fn main() {}
