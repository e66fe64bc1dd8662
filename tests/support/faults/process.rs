//! The counter example as a process the harness starts, SIGKILLs and starts again, keeping
//! what every incarnation wrote on standard error.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::timeline::Timeline;
use crate::example_bin::{example, keep_reading};

/// How long a start may take: the process, the store's connection, `getMe`.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long Ctrl-C may take at the end of a run before the process is killed.
const STOP_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub enum Mode {
    Poll {
        api_url: String,
        token: String,
        concurrency: usize,
    },
    Webhook {
        secret: String,
    },
}

/// One run of the process.
struct Incarnation {
    started: Instant,
    stderr: Arc<Mutex<String>>,
}

pub struct Counter {
    mode: Mode,
    storage: String,
    child: Option<Child>,
    incarnations: Vec<Incarnation>,
    timeline: Timeline,
    /// Webhook mode: where the live incarnation listens; `None` while it is down.
    addr: watch::Sender<Option<SocketAddr>>,
}

impl Counter {
    /// Starts the counter in `mode` on `storage` (a `--storage` value) and waits until it is
    /// ready: polling, or listening.
    pub async fn start(mode: Mode, storage: String, timeline: &Timeline) -> Counter {
        let mut counter = Counter {
            mode,
            storage,
            child: None,
            incarnations: Vec::new(),
            timeline: timeline.clone(),
            addr: watch::Sender::new(None),
        };
        counter.spawn().await;
        counter
    }

    /// Webhook mode: the address of the live incarnation, as it changes.
    pub fn addr(&self) -> watch::Receiver<Option<SocketAddr>> {
        self.addr.subscribe()
    }

    /// Starts an incarnation and waits for its first line that says it is ready.
    async fn spawn(&mut self) {
        let mut command = Command::new(example("counter"));
        match &self.mode {
            Mode::Poll {
                api_url,
                token,
                concurrency,
            } => {
                command
                    .args(["--poll", "--api-url", api_url, "--concurrency"])
                    .arg(concurrency.to_string())
                    .env("BOT_TOKEN", token);
            }
            Mode::Webhook { secret } => {
                command.args(["--webhook", "127.0.0.1:0", "--secret", secret]);
            }
        }
        let mut child = command
            .args(["--storage", &self.storage])
            .stdin(Stdio::null())
            // Replies go to the fake Bot API or into webhook answers: nothing to read here.
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the counter starts");
        let number = self.incarnations.len() + 1;
        self.timeline
            .note(format!("counter #{number} started (pid {})", child.id()));
        let (ready, mut is_ready) = watch::channel(None::<String>);
        let stderr_lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let stderr = keep_reading(stderr_lines, move |line| {
            if line.starts_with("polling as @") || line.starts_with("listening on http://") {
                ready.send_if_modified(|first| {
                    let fresh = first.is_none();
                    if fresh {
                        *first = Some(line.to_owned());
                    }
                    fresh
                });
            }
        });
        self.incarnations.push(Incarnation {
            started: Instant::now(),
            stderr,
        });
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        let line = loop {
            if let Some(line) = is_ready.borrow().clone() {
                break line;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "counter #{number} exited ({status}) before it was ready:\n{}",
                    self.tail(30)
                );
            }
            assert!(
                Instant::now() < deadline,
                "counter #{number} was not ready within {READY_WITHIN:?}:\n{}",
                self.tail(30)
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), is_ready.changed()).await;
        };
        if let Some(rest) = line.strip_prefix("listening on http://") {
            let addr = rest
                .split('/')
                .next()
                .and_then(|addr| addr.parse().ok())
                .unwrap_or_else(|| panic!("no address in {line:?}"));
            self.addr.send_replace(Some(addr));
        }
        self.timeline.note(format!("counter #{number} ready"));
    }

    /// SIGKILL: no shutdown, no confirmation, no final write.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.addr.send_replace(None);
            let _ = child.kill();
            let _ = child.wait();
            self.timeline
                .note(format!("counter #{} SIGKILLed", self.incarnations.len()));
        }
    }

    /// SIGSTOP: the process freezes (as under a long GC pause or a VM migration) with its
    /// connections open, until [`Counter::resume`].
    pub fn pause(&self) {
        self.signal("-STOP", "frozen (SIGSTOP)");
    }

    /// SIGCONT after [`Counter::pause`].
    pub fn resume(&self) {
        self.signal("-CONT", "resumed (SIGCONT)");
    }

    fn signal(&self, signal: &str, what: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
            self.timeline
                .note(format!("counter #{} {what}", self.incarnations.len()));
        }
    }

    /// A new incarnation on the same store (after [`Counter::kill`]).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Ctrl-C (SIGINT), then up to 20 s for the process to finish; SIGKILL after that. The
    /// exit status, `None` if it had to be killed.
    pub async fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_WITHIN;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The reader threads see the end of the pipes shortly after the exit.
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.addr.send_replace(None);
        self.timeline.note(match status {
            Some(status) => format!(
                "counter #{} stopped by Ctrl-C: {status}",
                self.incarnations.len()
            ),
            None => format!(
                "counter #{} did not stop within {STOP_WITHIN:?} of Ctrl-C: SIGKILLed",
                self.incarnations.len()
            ),
        });
        status
    }

    pub fn incarnations(&self) -> usize {
        self.incarnations.len()
    }

    /// Standard error of every incarnation, each under a header line.
    pub fn stderr(&self) -> String {
        let mut all = String::new();
        for (n, incarnation) in self.incarnations.iter().enumerate() {
            all.push_str(&format!(
                "--- counter #{} ({}) ---\n",
                n + 1,
                self.timeline.at(incarnation.started)
            ));
            all.push_str(&lock(&incarnation.stderr));
        }
        all
    }

    /// The last `lines` lines of [`Counter::stderr`], each cut to 300 characters.
    pub fn tail(&self, lines: usize) -> String {
        let all = self.stderr();
        let all: Vec<&str> = all.lines().collect();
        all[all.len().saturating_sub(lines)..]
            .iter()
            .map(|line| format!("    {}\n", shorten(line, 300)))
            .collect()
    }

    /// The lines of standard error that contain any of `needles` (at most `max`).
    pub fn lines_with(&self, needles: &[String], max: usize) -> String {
        let all = self.stderr();
        let mut header = "";
        let mut out = String::new();
        let mut found = 0;
        for line in all.lines() {
            if line.starts_with("--- counter #") {
                header = line;
                continue;
            }
            if needles.iter().any(|needle| line.contains(needle.as_str())) {
                if found == max {
                    out.push_str("    ...\n");
                    break;
                }
                found += 1;
                out.push_str(&format!(
                    "    [{}] {}\n",
                    header.trim_matches('-').trim(),
                    shorten(line, 300)
                ));
            }
        }
        out
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn lock(text: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    text.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `line` cut to `max` characters, saying how long it was.
pub fn shorten(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        return line.to_owned();
    }
    let cut: String = line.chars().take(max).collect();
    format!("{cut}… ({} bytes in all)", line.len())
}
