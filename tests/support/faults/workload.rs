//! The updates of a run: text messages in private chats and in groups with several members,
//! every one counted and answered with `Message #n in this chat`, plus optionally one update
//! over 1 MiB that every mode must skip. The true counts come from a clean replay of the same
//! updates into a fresh store.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::random::Rng;
use super::stores::stored_counts;
use crate::example_bin::{TempDir, example};

/// A little over 1 MiB of text: over the bound every mode promises.
const OVERSIZED_TEXT_BYTES: usize = (1 << 20) + (100 << 10);

#[derive(Debug, Clone)]
pub struct Update {
    pub id: i64,
    pub chat: i64,
    pub json: Value,
    /// Which counted message of its chat this is (1 for the first); `None` for the oversized
    /// update, which is neither counted nor answered.
    pub ordinal: Option<u64>,
}

impl Update {
    /// The reply a clean run sends for it.
    pub fn expected_text(&self) -> Option<String> {
        self.ordinal.map(counted_text)
    }

    /// `update 1000123 (chat -1001000000003, its message #12)`.
    pub fn describe(&self) -> String {
        match self.ordinal {
            Some(n) => format!("update {} (chat {}, its message #{n})", self.id, self.chat),
            None => format!("update {} (chat {}, over 1 MiB)", self.id, self.chat),
        }
    }
}

/// What the counter answers the `n`th counted message of a chat with (English: the updates
/// carry no language code and nobody sends `/lang`).
pub fn counted_text(n: u64) -> String {
    format!("Message #{n} in this chat")
}

/// The number a counted reply announces.
pub fn announced(text: &str) -> Option<u64> {
    text.strip_prefix("Message #")?
        .strip_suffix(" in this chat")?
        .parse()
        .ok()
}

pub struct Workload {
    /// In update id order.
    pub updates: Vec<Update>,
    pub chats: Vec<i64>,
}

impl Workload {
    /// `count` updates over `chats` chats (half of them groups), ids consecutive from a
    /// random start; with `oversized`, one of them (not among the first or last ten) is a
    /// message of more than 1 MiB.
    pub fn generate(rng: &mut Rng, chats: usize, count: usize, oversized: bool) -> Workload {
        assert!(
            chats >= 2 && count >= 30,
            "a workload needs a few chats and updates"
        );
        // Below 2^31: teloxide keeps update ids in a u32 and getUpdates' offset in an i32.
        let first_id = 1_000_000 + rng.range(0..=1_000_000) as i64;
        let chat_ids: Vec<i64> = (0..chats as i64)
            .map(|n| {
                if n % 2 == 0 {
                    -1_001_000_000_000 - n
                } else {
                    7_000_000 + n
                }
            })
            .collect();
        // Group members; some write in several groups, so their `prefs` key is shared.
        let members: Vec<i64> = (0..12).map(|n| 5_000_000 + n).collect();
        let oversized_at = oversized.then(|| 10 + rng.index(count - 20));
        let mut ordinals: BTreeMap<i64, u64> = BTreeMap::new();
        let mut updates = Vec::with_capacity(count);
        for n in 0..count {
            let id = first_id + n as i64;
            let chat = chat_ids[rng.index(chat_ids.len())];
            let is_oversized = oversized_at == Some(n);
            let text = if is_oversized {
                "x".repeat(OVERSIZED_TEXT_BYTES)
            } else {
                format!("hello {id}")
            };
            let (from, chat_json) = if chat < 0 {
                let from = members[rng.index(members.len())];
                (
                    from,
                    json!({"id": chat, "type": "supergroup", "title": format!("Group {chat}")}),
                )
            } else {
                (
                    chat,
                    json!({"id": chat, "type": "private", "first_name": "U"}),
                )
            };
            let json = json!({
                "update_id": id,
                "message": {
                    "message_id": n + 1,
                    "date": 1_718_000_000 + n as i64,
                    "from": {"id": from, "is_bot": false, "first_name": "U"},
                    "chat": chat_json,
                    "text": text,
                },
            });
            let ordinal = (!is_oversized).then(|| {
                let next = ordinals.entry(chat).or_default();
                *next += 1;
                *next
            });
            updates.push(Update {
                id,
                chat,
                json,
                ordinal,
            });
        }
        Workload {
            updates,
            chats: chat_ids,
        }
    }

    pub fn first_id(&self) -> i64 {
        self.updates[0].id
    }

    pub fn last_id(&self) -> i64 {
        self.updates[self.updates.len() - 1].id
    }

    pub fn oversized(&self) -> Option<&Update> {
        self.updates.iter().find(|update| update.ordinal.is_none())
    }

    /// The counted updates of `chat`, in order.
    pub fn of_chat(&self, chat: i64) -> impl Iterator<Item = &Update> {
        self.updates
            .iter()
            .filter(move |update| update.chat == chat && update.ordinal.is_some())
    }

    /// The update that a clean run answers with `text` in `chat`.
    pub fn answered_with(&self, chat: i64, text: &str) -> Option<&Update> {
        let n = announced(text)?;
        self.of_chat(chat).find(|update| update.ordinal == Some(n))
    }

    /// The true count of each chat: the counter replays the counted updates, one at a time,
    /// into a fresh SQLite store, which is then read through the library. Also checks that
    /// the replay answers each update as [`Update::expected_text`] says, so the harness's
    /// expectations are the counter's own.
    pub async fn truth(&self) -> BTreeMap<i64, u64> {
        let dir = TempDir::new("faults-truth");
        let input = dir.path().join("updates.jsonl");
        let mut lines = String::new();
        for update in self
            .updates
            .iter()
            .filter(|update| update.ordinal.is_some())
        {
            lines.push_str(&update.json.to_string());
            lines.push('\n');
        }
        std::fs::write(&input, lines).expect("write the updates for the replay");
        let db = dir.path().join("truth.db");
        let output = Command::new(example("counter"))
            .args(["--concurrency", "1", "--storage"])
            .arg(format!("sqlite:{}", db.display()))
            .arg(&input)
            .stdin(Stdio::null())
            .output()
            .expect("the counter replays");
        assert!(
            output.status.success(),
            "the clean replay failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = self
            .updates
            .iter()
            .filter_map(|update| {
                let text = update.expected_text()?;
                Some(format!("chat_id={} text={text:?}", update.chat))
            })
            .collect();
        assert_eq!(
            printed, expected,
            "the harness expects other replies than a clean replay prints"
        );
        let store = bot_session::SqliteStorage::open(&db)
            .await
            .expect("open the replay's store");
        let counts = stored_counts(&store, &self.chats).await;
        let truth: BTreeMap<i64, u64> = counts
            .into_iter()
            .map(|(chat, count)| (chat, count.unwrap_or(0)))
            .collect();
        for (&chat, &count) in &truth {
            assert_eq!(
                count,
                self.of_chat(chat).count() as u64,
                "the clean replay stored another count for chat {chat} than it has messages"
            );
        }
        truth
    }
}
