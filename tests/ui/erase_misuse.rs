use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(erase)]
struct Bare {
    members: Vec<i64>,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(erase = |roster, user| roster.members.retain(|m| *m != user))]
struct Closure {
    members: Vec<i64>,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(erase = Called::forget(42))]
struct Called {
    members: Vec<i64>,
}

impl Called {
    fn forget(&mut self, user: i64) {
        self.members.retain(|m| *m != user);
    }
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(erase = 42, erase = Bare::forget)]
struct Twice {
    members: Vec<i64>,
}

fn main() {}
