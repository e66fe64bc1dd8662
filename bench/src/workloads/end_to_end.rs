//! W5: the counter bot end to end, as `examples/counter.rs` runs it: Telegram updates as JSON
//! lines in a file, each parsed with serde into an `Update` and handled by a composer with the
//! `Counter` session in SQLite, whose handler composes the reply the bot would send. (Built here
//! rather than by running the example, so the timing covers exactly the per-update path.)
//! `W5` handles the updates one after another, as the example does by default; `W5c` keeps 64
//! in flight, as `--concurrency 64` does. Neither is pinned to a core: they stand for the
//! example as a user runs it.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bot_session::{Composer, Context, Session, SqliteStorage, Update};

use super::common::{
    Counter, CounterExt, Error, Result, current_thread_runtime, remove_sqlite, stored_sum, verify,
    warm_up_len,
};
use crate::report::Figures;
use crate::{stream, sys};

pub const N: usize = 200_000;
pub const K: u64 = 10_000;
/// Updates in flight in `W5c`.
pub const IN_FLIGHT: usize = 64;

/// The workload's name: `W5`, or `W5c` with updates in flight.
pub fn workload(in_flight: usize) -> &'static str {
    if in_flight > 1 { "W5c" } else { "W5" }
}

/// Writes the first `n` updates of W1's stream as JSON lines (before timing).
fn write_lines(path: &Path, indices: &[u32]) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (i, &chat) in indices.iter().enumerate() {
        writeln!(out, "{}", stream::json_line(i, chat))?;
    }
    out.flush()?;
    Ok(())
}

fn bot(store: SqliteStorage) -> Composer {
    Composer::new()
        .with(Counter::middleware(store))
        .handler(async |ctx: Context| {
            let count = {
                let mut counter = ctx.counter()?;
                counter.count += 1;
                counter.count
            };
            // The reply the example sends; composed, not sent.
            let chat = ctx.ids().chat.unwrap_or_default();
            let mut reply = String::with_capacity(48);
            let _ = write!(reply, "chat {chat}: message #{count}");
            std::hint::black_box(reply);
            Ok(())
        })
}

/// Reads the file line by line, parses each update and handles it, `in_flight` at once.
async fn replay(bot: &Composer, path: &Path, in_flight: usize) -> Result<(u64, Duration)> {
    let start = Instant::now();
    let lines = BufReader::new(std::fs::File::open(path)?).lines();
    let mut failure: Option<Error> = None;
    let mut handled = 0;
    let updates = lines
        .filter(|line| line.as_ref().map_or(true, |line| !line.trim().is_empty()))
        .map_while(|line| {
            let update = line
                .map_err(Error::from)
                .and_then(|line| serde_json::from_str::<Update>(&line).map_err(Error::from));
            update.map_err(|err| failure = Some(err)).ok()
        });
    if in_flight > 1 {
        let report = bot.run(updates, in_flight).await;
        if let Some(err) = report.first_error {
            return Err(format!("{} updates failed; the first: {err}", report.failed).into());
        }
        handled = report.handled;
    } else {
        for update in updates {
            bot.handle_update(update).await?;
            handled += 1;
        }
    }
    if let Some(err) = failure {
        return Err(err);
    }
    Ok((handled, start.elapsed()))
}

/// Files removed when the run ends, however it ends.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        self.0.iter().for_each(|path| remove_sqlite(path));
    }
}

pub fn run_once(in_flight: usize) -> Result<Figures> {
    let workload = workload(in_flight);
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let name = |what: &str| dir.join(format!("bot-session-bench-w5-{pid}-{what}"));
    let files = TempFiles(vec![
        name("updates.jsonl"),
        name("warm.jsonl"),
        name("sessions.db"),
        name("warm.db"),
    ]);
    let [updates, warm_updates, db, warm_db] = [0, 1, 2, 3].map(|i| files.0[i].clone());
    files.0.iter().for_each(|path| remove_sqlite(path));
    let indices = stream::chat_indices(N, K);
    write_lines(&updates, &indices)?;
    write_lines(&warm_updates, &indices[..warm_up_len(N)])?;
    current_thread_runtime().block_on(async {
        let warm_bot = bot(SqliteStorage::open(&warm_db).await?);
        replay(&warm_bot, &warm_updates, in_flight).await?;
        let store = SqliteStorage::open(&db).await?;
        let (handled, elapsed) = replay(&bot(store.clone()), &updates, in_flight).await?;
        verify(workload, "the number of updates handled", handled, N as u64)?;
        let (sum, _) = stored_sum(&store, Counter::PREFIX, K as u32).await?;
        verify(workload, "the sum of the counts", sum, N as u64)?;
        Ok(Figures::new(N, elapsed)
            .setting("store", "sqlite")
            .setting("in_flight", in_flight)
            .setting("cpus", sys::current_thread_cpus()))
    })
}
