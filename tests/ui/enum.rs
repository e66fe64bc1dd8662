use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
enum Dialog {
    #[default]
    Idle,
    AskingName,
}

fn main() {}
