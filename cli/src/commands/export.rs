//! `export [PREFIX]`: JSON lines on standard output, one a session.

use std::io::IsTerminal;

use super::Opened;
use crate::args::Encoding;
use crate::failure::Failure;
use crate::output::Output;
use crate::progress;
use crate::record::Record;

pub async fn run(opened: &Opened, prefix: &str, encoding: Encoding) -> Result<(), Failure> {
    let mut out = Output::new();
    // Drawn only when the export goes to a file or a pipe, not over the lines on the screen.
    let bar = progress::sessions("exporting", !std::io::stdout().is_terminal());
    let mut count = 0u64;
    opened
        .for_each_session(prefix, async |session| {
            let line = serde_json::to_string(&Record::new(&session, encoding))
                .map_err(|err| Failure::failed(format!("cannot write `{}`: {err}", session.key)))?;
            count += 1;
            bar.inc(1);
            out.line(&line)
        })
        .await?;
    out.flush()?;
    bar.finish_and_clear();
    eprintln!("exported {count} sessions from {}", opened.target);
    Ok(())
}
