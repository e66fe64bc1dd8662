use bot_session::Session;
use serde::{Deserialize, Serialize};

// No `#[default]` variant, no `Default`, no `initial`: nothing says how a session starts.
#[derive(Session, Serialize, Deserialize)]
enum State {
    Start,
    ReceiveAge { name: String },
}

fn main() {}
