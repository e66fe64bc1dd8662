//! Recorded Telegram updates for the feature examples: one Bot API JSON object per line.

use bot_session::{HandlerError, Update};

/// The updates in the file given as the first argument, or in `examples/data/<default>`.
pub fn read_updates(default: &str) -> Result<Vec<Update>, HandlerError> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{}/examples/data/{default}", env!("CARGO_MANIFEST_DIR")));
    let text = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
    let lines = text.lines().filter(|line| !line.trim().is_empty());
    Ok(lines.map(serde_json::from_str).collect::<Result<_, _>>()?)
}
