use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize)]
enum Dialog {
    #[default]
    Asking { name: String },
    #[default]
    Idle,
    #[session(ttl = 5)]
    Done(#[default] u32),
}

#[derive(Session, Serialize, Deserialize)]
enum Quiz {
    #[default(0)]
    Question,
    Answer,
}

fn main() {}
