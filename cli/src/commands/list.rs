//! `list [PREFIX]`: one line a session, key, size and time left.

use serde_json::json;

use super::Opened;
use crate::failure::Failure;
use crate::output::Output;
use crate::render::{millis, size, time_left};

pub async fn run(opened: &Opened, prefix: &str, json: bool) -> Result<(), Failure> {
    let mut out = Output::new();
    if !json {
        out.line(&format!("{:>10}  {:>10}  KEY", "SIZE", "EXPIRES IN"))?;
    }
    let mut count = 0u64;
    opened
        .for_each_session(prefix, async |session| {
            count += 1;
            let bytes = session.value.len() as u64;
            let line = if json {
                json!({
                    "key": session.key,
                    "bytes": bytes,
                    "time_left_ms": millis(session.time_left),
                })
                .to_string()
            } else {
                format!(
                    "{:>10}  {:>10}  {}",
                    size(bytes),
                    time_left(session.time_left),
                    session.key
                )
            };
            out.line(&line)
        })
        .await?;
    out.flush()?;
    if !out.is_closed() {
        eprintln!("{count} sessions in {}", opened.target);
    }
    Ok(())
}
