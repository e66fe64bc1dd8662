use bot_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(name = "UserPrefs")]
struct NotSnakeCase {
    lang: String,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(name = "match")]
struct Keyword {
    lang: String,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(name = "user-prefs")]
struct NotAnIdentifier {
    lang: String,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(name = "update")]
struct ContextMethod {
    lang: String,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(name = prefs)]
struct NotAString {
    lang: String,
}

fn main() {}
