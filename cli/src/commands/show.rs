//! `show KEY`: one session taken apart.

use bot_session::StoredBytes;
use serde_json::json;

use super::Opened;
use crate::failure::Failure;
use crate::output::Output;
use crate::payload::Payload;
use crate::render::{millis, size, time_left};

pub async fn run(opened: &Opened, key: &str, json: bool) -> Result<(), Failure> {
    let Some(session) = opened.store.inspect(key).await? else {
        return Err(Failure::not_found(format!(
            "no session `{key}` in {} (it never existed, was deleted, or expired)",
            opened.target
        )));
    };
    let stored = StoredBytes::parse(&session.value);
    let payload = Payload::read(stored.payload());
    let updates = stored.remembered_updates();
    let mut out = Output::new();
    if json {
        let shown = json!({
            "key": session.key,
            "bytes": session.value.len(),
            "time_left_ms": millis(session.time_left),
            "version": stored.version(),
            "remembered_updates": updates,
            "payload_format": payload.format(),
            "payload": payload.to_json(),
        });
        out.line(&shown.to_string())?;
    } else {
        let updates: Vec<String> = updates.iter().map(i64::to_string).collect();
        let updates = if updates.is_empty() {
            "none".to_owned()
        } else {
            updates.join(", ")
        };
        out.line(&format!("key:                {}", session.key))?;
        out.line(&format!(
            "stored:             {}",
            size(session.value.len() as u64)
        ))?;
        out.line(&format!(
            "expires in:         {}",
            time_left(session.time_left)
        ))?;
        out.line(&format!("schema version:     {}", stored.version()))?;
        out.line(&format!("remembered updates: {updates}"))?;
        out.line(&format!("payload ({}):", payload.format()))?;
        out.line(&payload.pretty())?;
    }
    out.flush()
}
