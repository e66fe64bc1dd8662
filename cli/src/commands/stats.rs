//! `stats [PREFIX]`: how many sessions, and how many bytes, per session prefix.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use serde_json::json;

use super::Opened;
use crate::failure::Failure;
use crate::output::Output;
use crate::progress;
use crate::render::size;

/// Sessions and bytes of one prefix.
#[derive(Default)]
struct Tally {
    sessions: u64,
    bytes: u64,
    expiring: u64,
}

pub async fn run(opened: &Opened, prefix: &str, json: bool) -> Result<(), Failure> {
    let bar = progress::sessions("counting", !std::io::stdout().is_terminal() || !json);
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    opened
        .for_each_session(prefix, async |session| {
            // The session's prefix: its key up to the first colon.
            let name = session.key.split_once(':').map_or("", |(name, _)| name);
            let tally = match tallies.get_mut(name) {
                Some(tally) => tally,
                None => tallies.entry(name.to_owned()).or_default(),
            };
            tally.sessions += 1;
            tally.bytes += session.value.len() as u64;
            tally.expiring += u64::from(session.time_left.is_some());
            bar.inc(1);
            Ok(())
        })
        .await?;
    bar.finish_and_clear();
    let (sessions, bytes) = tallies.values().fold((0, 0), |(s, b), tally| {
        (s + tally.sessions, b + tally.bytes)
    });
    let mut out = Output::new();
    if json {
        let prefixes: Vec<_> = tallies
            .iter()
            .map(|(name, tally)| {
                json!({
                    "prefix": name,
                    "sessions": tally.sessions,
                    "bytes": tally.bytes,
                    "expiring": tally.expiring,
                })
            })
            .collect();
        out.line(&json!({"prefixes": prefixes, "sessions": sessions, "bytes": bytes}).to_string())?;
    } else {
        out.line(&format!(
            "{:<24} {:>12} {:>12} {:>12}",
            "PREFIX", "SESSIONS", "BYTES", "EXPIRING"
        ))?;
        for (name, tally) in &tallies {
            let name = if name.is_empty() { "(no prefix)" } else { name };
            out.line(&format!(
                "{name:<24} {:>12} {:>12} {:>12}",
                tally.sessions,
                size(tally.bytes),
                tally.expiring
            ))?;
        }
        out.line(&format!(
            "{:<24} {sessions:>12} {:>12}",
            "total",
            size(bytes)
        ))?;
    }
    out.flush()
}
