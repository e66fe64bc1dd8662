use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(erase = Roster::forget)]
struct Roster {
    members: Vec<i64>,
}

impl Roster {
    // The user id is missing: `erase` takes `fn(&mut Self, i64)`.
    fn forget(&mut self) {
        self.members.clear();
    }
}

fn main() {}
