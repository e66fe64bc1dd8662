//! `import FILE`: the JSON lines of an export, written into the store.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::Opened;
use crate::failure::Failure;
use crate::output::Output;
use crate::progress;
use crate::record::Record;
use crate::writes::Writes;

pub async fn run(opened: &Opened, file: &Path, json: bool) -> Result<(), Failure> {
    let started = Instant::now();
    let source = file.display().to_string();
    let (written, skipped) = if file == Path::new("-") {
        import(opened, BufReader::new(tokio::io::stdin()), "standard input").await?
    } else {
        let input = tokio::fs::File::open(file)
            .await
            .map_err(|err| Failure::failed(format!("cannot open `{source}`: {err}")))?;
        import(opened, BufReader::new(input), &source).await?
    };
    let mut out = Output::new();
    if json {
        out.line(&json!({"imported": written, "expired": skipped}).to_string())?;
    }
    out.flush()?;
    eprintln!(
        "imported {written} sessions into {} in {:.1?}{}",
        opened.target,
        started.elapsed(),
        if skipped > 0 {
            format!(" ({skipped} had expired and were left out)")
        } else {
            String::new()
        }
    );
    Ok(())
}

async fn import(
    opened: &Opened,
    mut input: impl AsyncBufRead + Unpin,
    source: &str,
) -> Result<(u64, u64), Failure> {
    let bar = progress::sessions("importing", true);
    let mut writes = Writes::new(opened.store.clone());
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .await
            .map_err(|err| Failure::failed(format!("cannot read `{source}`: {err}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| {
            Failure::failed(format!(
                "{source}, line {number}: {why}; the lines before it were imported (an import \
                 can be run again)"
            ))
        };
        let record: Record = serde_json::from_str(&line)
            .map_err(|err| bad(format!("not an exported session: {err}")))?;
        let session = record.into_session().map_err(bad)?;
        writes.write(session).await?;
        bar.set_position(writes.written());
    }
    let done = writes.finish().await?;
    bar.finish_and_clear();
    Ok(done)
}
