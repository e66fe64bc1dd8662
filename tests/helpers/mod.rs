//! Update builders shared by the integration tests, and a store in memory that behaves as a
//! shared one (`shared_memory.rs`).
#![allow(dead_code)]

pub mod shared_memory;

use bot_session::Update;
use serde_json::json;

/// A text message from user `user` in chat `chat`.
pub fn message(update_id: i64, chat: i64, user: i64, text: &str) -> Update {
    let chat_type = if chat < 0 { "supergroup" } else { "private" };
    from_json(json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat, "type": chat_type},
            "from": {"id": user, "is_bot": false, "first_name": "u"},
            "text": text
        }
    }))
}

/// A private text message: chat id and user id are equal.
pub fn private(update_id: i64, user: i64) -> Update {
    message(update_id, user, user, "hi")
}

/// An inline query: a user id, no chat.
pub fn inline_query(update_id: i64, user: i64) -> Update {
    from_json(json!({
        "update_id": update_id,
        "inline_query": {
            "id": format!("q{update_id}"),
            "from": {"id": user, "is_bot": false, "first_name": "u"},
            "query": "cats",
            "offset": ""
        }
    }))
}

/// A poll update: neither a chat nor a user.
pub fn poll(update_id: i64) -> Update {
    from_json(json!({
        "update_id": update_id,
        "poll": {
            "id": "p1", "question": "?", "options": [], "total_voter_count": 0,
            "is_closed": false, "is_anonymous": true, "type": "regular",
            "allows_multiple_answers": false
        }
    }))
}

/// The service message in an old group announcing its new supergroup id.
pub fn migrate_to(update_id: i64, group: i64, supergroup: i64) -> Update {
    from_json(json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000,
            "chat": {"id": group, "type": "group", "title": "g"},
            "from": {"id": 1, "is_bot": false, "first_name": "u"},
            "migrate_to_chat_id": supergroup
        }
    }))
}

/// The service message in the new supergroup naming the group it came from.
pub fn migrate_from(update_id: i64, group: i64, supergroup: i64) -> Update {
    from_json(json!({
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 1_700_000_000,
            "chat": {"id": supergroup, "type": "supergroup", "title": "g"},
            "from": {"id": 1, "is_bot": false, "first_name": "u"},
            "migrate_from_chat_id": group
        }
    }))
}

pub fn from_json(value: serde_json::Value) -> Update {
    serde_json::from_value(value).expect("test update must deserialize")
}
