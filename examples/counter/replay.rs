//! Offline mode: reads recorded updates as JSON lines and handles them as the bot would.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bot_session::{Composer, Update};
use tokio::sync::mpsc;

use crate::tally::Tally;
use crate::wire::{MAX_UPDATE_BYTES, parse_update};

/// What a run over a stream of updates (a replay, or polling) met and how long it took.
pub struct Replayed {
    pub elapsed: Duration,
    /// Lines (or polled updates) that were not a Telegram update: reported and skipped.
    pub malformed: u64,
    /// Updates that failed for good: the handler's or the store's error, a panic, a key that
    /// stayed busy. Each is reported on standard error as it happens.
    pub failed: u64,
}

/// Handles every update in `input` (a file, or standard input for `None`), at most
/// `concurrency` at once: 1 handles them one after another in the recorded order, as a bot
/// polling `getUpdates` would; more handles updates of different chats in parallel, which
/// keeps every count exact but prints replies in the order they are done.
pub async fn replay(
    bot: &Composer,
    input: Option<PathBuf>,
    concurrency: usize,
    tally: &Tally,
) -> io::Result<Replayed> {
    let (source, size) = match &input {
        Some(path) => {
            let file = File::open(path).map_err(|err| {
                io::Error::new(err.kind(), format!("cannot read {}: {err}", path.display()))
            })?;
            let size = file.metadata().ok().map(|meta| meta.len());
            (Box::new(file) as Box<dyn Read + Send>, size)
        }
        None => (Box::new(io::stdin()) as Box<dyn Read + Send>, None),
    };
    let read_bytes = Arc::new(AtomicU64::new(0));
    let (sender, receiver) = mpsc::channel(256.max(concurrency * 2));
    // Reading and parsing happen on a blocking thread, beside the handlers.
    let reader = tokio::task::spawn_blocking({
        let read_bytes = Arc::clone(&read_bytes);
        move || read_updates(source, &sender, &read_bytes)
    });
    let started = Instant::now();
    let progress = show_progress(tally.clone(), Arc::clone(&read_bytes), size, started);
    let report = bot.run_receiver(receiver, concurrency).await;
    let elapsed = started.elapsed();
    progress.abort();
    if io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
    let malformed = reader
        .await
        .map_err(|err| io::Error::other(format!("the reader thread failed: {err}")))??;
    Ok(Replayed {
        elapsed,
        malformed,
        failed: report.failed,
    })
}

/// Sends each line's update to the bot; reports lines that are not one and goes on.
fn read_updates(
    source: Box<dyn Read + Send>,
    sender: &mpsc::Sender<Update>,
    read_bytes: &AtomicU64,
) -> io::Result<u64> {
    let mut source = BufReader::with_capacity(1 << 16, source);
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut malformed = 0;
    loop {
        let read = read_line(&mut source, &mut line, MAX_UPDATE_BYTES)?;
        let bytes = match read {
            Line::End => return Ok(malformed),
            Line::Read(bytes) | Line::TooLong(bytes) => bytes,
        };
        number += 1;
        read_bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Line::TooLong(_) = read {
            malformed += 1;
            eprintln!(
                "line {number}: longer than {} KiB, the most a webhook takes; skipped",
                MAX_UPDATE_BYTES >> 10
            );
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_update(&line) {
            Ok(update) => {
                if sender.blocking_send(update).is_err() {
                    return Ok(malformed); // the bot stopped taking updates
                }
            }
            Err(err) => {
                malformed += 1;
                eprintln!("line {number}: not a Telegram update ({err}); skipped");
            }
        }
    }
}

/// What [`read_line`] found.
#[derive(Clone, Copy)]
enum Line {
    /// The end of the input.
    End,
    /// A line of this many bytes (newline included), in the buffer.
    Read(u64),
    /// A line of this many bytes, over the limit: skipped, the buffer is empty.
    TooLong(u64),
}

/// Reads the next line into `line` (cleared first), keeping at most `limit` bytes of it (not
/// counting the newline): a longer line is consumed without being kept, so one huge line
/// costs no more memory than the limit.
fn read_line(source: &mut impl BufRead, line: &mut Vec<u8>, limit: usize) -> io::Result<Line> {
    line.clear();
    let mut total = 0u64;
    let mut too_long = false;
    loop {
        let available = match source.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            break;
        }
        let (chunk, ends) = match available.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (&available[..=newline], true),
            None => (available, false),
        };
        let taken = chunk.len();
        let content = taken - usize::from(ends);
        if !too_long && line.len() + content > limit {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(chunk);
        }
        source.consume(taken);
        total += taken as u64;
        if ends {
            break;
        }
    }
    Ok(match (total, too_long) {
        (0, _) => Line::End,
        (bytes, true) => Line::TooLong(bytes),
        (bytes, false) => Line::Read(bytes),
    })
}

/// A one-line progress indicator on standard error: only when it is a terminal and the run
/// lasts long enough to be worth watching (a large input), so logs and tests never see it.
fn show_progress(
    tally: Tally,
    read_bytes: Arc<AtomicU64>,
    size: Option<u64>,
    started: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !io::stderr().is_terminal() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let (handled, failed) = tally.done();
            let done = handled + failed;
            let rate = done as f64 / started.elapsed().as_secs_f64();
            let share = size
                .filter(|&size| size > 0)
                .map(|size| {
                    let read = read_bytes.load(Ordering::Relaxed) as f64;
                    format!(" ({:.0}% read)", read * 100.0 / size as f64)
                })
                .unwrap_or_default();
            let mut stderr = io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[K{done} updates, {rate:.0}/s{share}");
            let _ = stderr.flush();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_skipped_and_the_next_one_read() {
        let mut input = io::Cursor::new(b"abc\nabcdef\n\nxy".to_vec());
        let mut line = Vec::new();
        let mut next = || match read_line(&mut input, &mut line, 4).unwrap() {
            Line::End => "end".to_owned(),
            Line::TooLong(n) => format!("too long {n}"),
            Line::Read(n) => format!("{n} {:?}", String::from_utf8_lossy(&line)),
        };
        assert_eq!(next(), "4 \"abc\\n\"");
        assert_eq!(next(), "too long 7");
        assert_eq!(next(), "1 \"\\n\"");
        assert_eq!(next(), "2 \"xy\"");
        assert_eq!(next(), "end");
    }
}
