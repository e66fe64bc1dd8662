//! A private `redis-server` on a free loopback port, which a test may kill and restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, find_program, free_port, skip_or_fail};

/// A store on the Redis server at `url` whose keys start with `prefix` (one test's own
/// namespace: `delete_prefix` cleans it up).
#[cfg(feature = "redis")]
pub async fn connect(url: &str, prefix: &str) -> bot_session::RedisStorage {
    bot_session::RedisStorage::builder(url)
        .key_prefix(prefix)
        .connect()
        .await
        .unwrap_or_else(|err| panic!("connect to redis at {url}: {err}"))
}

pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` from `PATH` with an append-only file fsynced on every write, so
    /// what a client saw acknowledged survives a kill. `None` (locally) when it is missing.
    pub fn start() -> Option<RedisServer> {
        let Some(binary) = find_program("redis-server") else {
            return skip_or_fail(
                "redis-server is not on PATH: .ci/run installs it (locally: apt-get install redis-server)",
            );
        };
        let mut server = RedisServer {
            binary,
            port: free_port(),
            dir: TempDir::new("redis"),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL: no shutdown, no final save.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the server keeps its connections but answers nothing, as a stalled one does,
    /// until [`RedisServer::resume`]. Commands sent meanwhile run when it resumes, even those
    /// of a client that died in between.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`RedisServer::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {signal} redis-server failed");
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let child = Command::new(&self.binary)
                .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ])
                .arg("--dir")
                .arg(self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            self.child = Some(child);
            if self.wait_ready(Duration::from_secs(5)) {
                return;
            }
            // The port may still be held by the killed server's sockets: try again.
            self.kill();
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// True once the server answers PING with PONG (not LOADING).
    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false; // exited (port taken?)
            }
            if ping(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 5];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Deletes every key under `prefix` on the server at `url` (`redis://host:port/db`), for test
/// clean-up. Best effort: errors are ignored.
pub fn delete_prefix(url: &str, prefix: &str) {
    let Some(rest) = url.strip_prefix("redis://") else {
        return;
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let (addr, db) = rest.split_once('/').unwrap_or((rest, "0"));
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let script = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end";
    let pattern = format!("{prefix}*");
    let mut request = Vec::new();
    for command in [
        vec!["SELECT", if db.is_empty() { "0" } else { db }],
        vec!["EVAL", script, "0", &pattern],
    ] {
        request.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
        for arg in command {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
    }
    if stream.write_all(&request).is_ok() {
        // Wait for both replies so the deletion has happened before the test ends.
        let mut reply = [0u8; 64];
        let mut seen = 0;
        while seen < 2 {
            match stream.read(&mut reply) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += reply[..n].iter().filter(|&&b| b == b'\n').count(),
            }
        }
    }
}

/// Sends one command to the server on 127.0.0.1:`port` on a connection of its own (already
/// authenticated with `password` if given) and returns the reply: a status, error or integer
/// line as it came (`+OK`, `-ERR ..`, `:1`), or a bulk string's content. For tests that look
/// at the server from outside the store (`INFO commandstats`, `SCRIPT FLUSH`, `CLIENT KILL`).
pub fn command(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis-server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut commands: Vec<Vec<&str>> = Vec::new();
    if let Some(password) = password {
        commands.push(vec!["AUTH", password]);
    }
    commands.push(args.to_vec());
    let mut request = Vec::new();
    for command in &commands {
        request.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
        for arg in command {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
    }
    stream.write_all(&request).expect("send the command");
    let mut reader = std::io::BufReader::new(stream);
    let mut reply = String::new();
    for _ in &commands {
        reply = read_reply(&mut reader);
    }
    reply
}

fn read_reply(reader: &mut impl std::io::BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read a reply");
    let line = line.trim_end().to_owned();
    match line.strip_prefix('$').map(str::parse::<i64>) {
        Some(Ok(len)) if len >= 0 => {
            let mut body = vec![0; len as usize + 2];
            reader.read_exact(&mut body).expect("read a bulk reply");
            body.truncate(len as usize);
            String::from_utf8_lossy(&body).into_owned()
        }
        _ => line,
    }
}
