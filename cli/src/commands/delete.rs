//! `delete KEY...`: asks first on a terminal; `--yes` where nobody can be asked.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;

use super::Opened;
use crate::failure::Failure;
use crate::output::Output;

pub async fn run(opened: &Opened, keys: &[String], yes: bool, json: bool) -> Result<(), Failure> {
    if !yes {
        confirm(opened, keys)?;
    }
    let mut deleted = Vec::new();
    let mut missing = Vec::new();
    for key in keys {
        if opened.store.inspect(key).await?.is_some() {
            opened.store.delete(key).await?;
            deleted.push(key.as_str());
        } else {
            missing.push(key.as_str());
        }
    }
    let mut out = Output::new();
    if json {
        out.line(&json!({"deleted": deleted, "not_found": missing}).to_string())?;
    } else {
        for key in &deleted {
            out.line(key)?;
        }
    }
    out.flush()?;
    eprintln!("deleted {} sessions from {}", deleted.len(), opened.target);
    match missing.as_slice() {
        [] => Ok(()),
        missing => Err(Failure::not_found(format!(
            "no session {} in {}",
            missing
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(", "),
            opened.target
        ))),
    }
}

/// Asks on the terminal; refuses where there is none to ask.
fn confirm(opened: &Opened, keys: &[String]) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Failure::usage(
            "refusing to delete without asking, and there is no terminal to ask on: pass --yes",
        ));
    }
    let shown: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
    let more = keys.len().saturating_sub(shown.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    eprint!(
        "Delete {} session(s) ({}{more}) from {}? This cannot be undone. [y/N] ",
        keys.len(),
        shown.join(", "),
        opened.target
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::failed("nothing deleted")),
    }
}
