//! The update stream of BENCH.md: its chats (see `chats`), each update as a bot-session
//! `Update`.

pub use crate::chats::{chat_id, chat_indices, json_line};
use bot_session::Update;
use bot_session::update::{Chat, ChatType, Message, User};

/// Update `i`: a private text message in chat `1_000_000 + chat_index` from the same user.
pub fn update(i: usize, chat_index: u32) -> Update {
    let id = chat_id(chat_index);
    let i = i as i64;
    Update {
        update_id: i + 1,
        message: Some(Box::new(Message {
            message_id: i + 1,
            date: 1_700_000_000 + i,
            chat: Chat {
                id,
                kind: ChatType::Private,
                ..Default::default()
            },
            from: Some(User {
                id,
                is_bot: false,
                first_name: "u".to_owned(),
                ..Default::default()
            }),
            text: Some("hi".to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_the_update() {
        let parsed: Update = serde_json::from_str(&json_line(7, 3)).unwrap();
        assert_eq!(parsed, update(7, 3));
    }
}
