//! The connection that carries lease takes and commits.
//!
//! The batcher sends at most one request at a time, so this connection needs no multiplexing:
//! whoever sends a request owns the connection until its replies are read, writing the request
//! and reading the replies itself, with no task in between. It speaks RESP2 whatever the URL
//! asks of the main connection, authenticates and selects the database as the URL says, and is
//! made again, with back-off, when it broke. A sender that stops waiting (its task was
//! cancelled) drops it mid-request: the next request starts on a fresh one, never reading
//! replies meant for another.

use std::fmt;
use std::io;
#[cfg(unix)]
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use super::commands::Commands;
use super::resp::{self, Encoder, Reply, ServerError};

/// A connection left idle this long may have been closed by the server meanwhile: it is
/// checked before use, so that a commit is not written into a dead connection (it could not
/// be sent again, not knowing whether it arrived).
const IDLE_CHECK: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A read buffer grown past this (by a huge value) is not kept for the next request.
const KEEP_BUFFER: usize = 1 << 20;

/// Why a request did not get its replies.
#[derive(Debug, Clone)]
pub(super) enum LinkError {
    /// No connection could be made: nothing was sent.
    Connect(String),
    /// The connection failed before any byte of the request left: nothing was sent.
    Unsent(String),
    /// The connection failed or timed out after the request was (maybe partly) sent: it may
    /// have been applied.
    Lost(String),
    /// Redis refused the connection's set-up (`AUTH`, `SELECT`).
    Refused(ServerError),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Connect(why) => write!(f, "could not connect: {why}"),
            LinkError::Unsent(why) => write!(f, "the connection failed: {why}"),
            LinkError::Lost(why) => write!(
                f,
                "the connection failed before Redis answered (the operation may or may not \
                 have been applied): {why}"
            ),
            LinkError::Refused(err) => write!(f, "Redis refused the connection: {err}"),
        }
    }
}

impl std::error::Error for LinkError {}

#[derive(Debug, Clone)]
enum Addr {
    Tcp(String, u16),
    #[cfg(unix)]
    Unix(PathBuf),
}

/// Where and how to connect.
#[derive(Debug)]
pub(super) struct Link {
    addr: Addr,
    /// `AUTH` and `SELECT`, as the URL asks, sent first on every connection.
    setup: Vec<u8>,
    setup_replies: usize,
    connection_timeout: Duration,
    response_timeout: Duration,
    reconnect_attempts: usize,
}

/// Timeouts and retries, as [`super::RedisBuilder`] sets them.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkSettings {
    pub connection_timeout: Duration,
    pub response_timeout: Duration,
    pub reconnect_attempts: usize,
}

/// One open connection.
pub(super) struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    last_used: Instant,
}

impl Link {
    /// The link for the server `info` describes; fails for addresses it cannot reach (TLS).
    pub(super) fn new(
        info: &redis::ConnectionInfo,
        settings: LinkSettings,
    ) -> Result<Self, String> {
        let addr = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => Addr::Tcp(host.clone(), *port),
            #[cfg(unix)]
            redis::ConnectionAddr::Unix(path) => Addr::Unix(path.clone()),
            other => {
                return Err(format!(
                    "the lease connection cannot reach {other}: use redis:// or unix://"
                ));
            }
        };
        let redis = info.redis_settings();
        let mut setup = Vec::new();
        let mut setup_replies = 0;
        let mut out = Encoder::new(&mut setup);
        if let Some(password) = redis.password() {
            match redis.username() {
                Some(user) => out
                    .command(3)
                    .arg(b"AUTH")
                    .arg(user.as_bytes())
                    .arg(password.as_bytes()),
                None => out.command(2).arg(b"AUTH").arg(password.as_bytes()),
            };
            setup_replies += 1;
        }
        if redis.db() != 0 {
            let mut digits = [0u8; 20];
            let db = resp::decimal(redis.db().unsigned_abs(), &mut digits);
            out.command(2).arg(b"SELECT").arg(db);
            setup_replies += 1;
        }
        Ok(Link {
            addr,
            setup,
            setup_replies,
            connection_timeout: settings.connection_timeout,
            response_timeout: settings.response_timeout,
            reconnect_attempts: settings.reconnect_attempts,
        })
    }

    /// A new connection, trying `1 + reconnect_attempts` times with back-off.
    pub(super) async fn connect(&self) -> Result<Conn, LinkError> {
        let mut backoff = MIN_BACKOFF;
        let mut attempt = 0;
        loop {
            let error =
                match tokio::time::timeout(self.connection_timeout, self.connect_once()).await {
                    Ok(Ok(conn)) => return Ok(conn),
                    Ok(Err(err @ LinkError::Refused(_))) => return Err(err),
                    Ok(Err(err)) => err,
                    Err(_) => LinkError::Connect(format!(
                        "no connection within {:?}",
                        self.connection_timeout
                    )),
                };
            if attempt >= self.reconnect_attempts {
                return Err(error);
            }
            attempt += 1;
            tracing::debug!(%error, attempt, "redis lease connection failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect_once(&self) -> Result<Conn, LinkError> {
        let connect_error = |err: io::Error| LinkError::Connect(err.to_string());
        let stream = match &self.addr {
            Addr::Tcp(host, port) => {
                let stream = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(connect_error)?;
                // Requests are written whole: waiting to fill a segment only adds latency.
                stream.set_nodelay(true).map_err(connect_error)?;
                Stream::Tcp(stream)
            }
            #[cfg(unix)]
            Addr::Unix(path) => {
                Stream::Unix(UnixStream::connect(path).await.map_err(connect_error)?)
            }
        };
        let mut conn = Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            last_used: Instant::now(),
        };
        if self.setup_replies > 0 {
            let replies = conn
                .exchange(&self.setup, self.setup_replies)
                .await
                .map_err(|err| LinkError::Connect(err.to_string()))?;
            for reply in replies {
                match reply {
                    Reply::Status(_) => {}
                    Reply::Error(err) => return Err(LinkError::Refused(err)),
                    other => {
                        return Err(LinkError::Connect(format!(
                            "unexpected reply to AUTH or SELECT: {other:?}"
                        )));
                    }
                }
            }
        }
        Ok(conn)
    }

    /// Sends `request`, which holds `replies` commands, and reads their replies: on `conn`
    /// when it holds a healthy connection, else on a new one left in `conn`. A connection
    /// that failed is dropped from `conn`.
    pub(super) async fn request(
        &self,
        conn: &mut Option<Conn>,
        request: &[u8],
        replies: usize,
    ) -> Result<Vec<Reply>, LinkError> {
        if conn
            .as_mut()
            .is_some_and(|c| c.last_used.elapsed() >= IDLE_CHECK && !c.is_open())
        {
            tracing::debug!("redis closed the idle lease connection; reconnecting");
            *conn = None;
        }
        let open = match conn {
            Some(open) => open,
            None => conn.insert(self.connect().await?),
        };
        let outcome = tokio::time::timeout(self.response_timeout, open.exchange(request, replies))
            .await
            .unwrap_or_else(|_| {
                Err(LinkError::Lost(format!(
                    "no reply within {:?}",
                    self.response_timeout
                )))
            });
        match outcome {
            Ok(replies) => {
                open.last_used = Instant::now();
                Ok(replies)
            }
            Err(err) => {
                *conn = None;
                Err(err)
            }
        }
    }
}

impl Conn {
    async fn exchange(&mut self, request: &[u8], replies: usize) -> Result<Vec<Reply>, LinkError> {
        let mut written = 0;
        while written < request.len() {
            match self.stream.write(&request[written..]).await {
                Ok(0) => return Err(lost_or_unsent(written, "the connection is closed")),
                Ok(n) => written += n,
                Err(err) => return Err(lost_or_unsent(written, &err.to_string())),
            }
        }
        let mut out = Vec::with_capacity(replies);
        let mut parsed = 0;
        self.buf.clear();
        while out.len() < replies {
            match resp::parse(&self.buf[parsed..]) {
                Ok(Some((reply, used))) => {
                    out.push(reply);
                    parsed += used;
                    continue;
                }
                Ok(None) => {}
                Err(err) => return Err(LinkError::Lost(err.to_string())),
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => {
                    return Err(LinkError::Lost("Redis closed the connection".to_owned()));
                }
                Ok(_) => {}
                Err(err) => return Err(LinkError::Lost(err.to_string())),
            }
        }
        if parsed != self.buf.len() {
            return Err(LinkError::Lost(format!(
                "{} bytes Redis sent beyond the replies asked for",
                self.buf.len() - parsed
            )));
        }
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::with_capacity(16 * 1024);
        }
        Ok(out)
    }

    /// Whether the server still has the connection open: nothing to read (and not end of
    /// stream) without waiting.
    fn is_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        match self.stream.try_read(&mut probe) {
            Err(err) => err.kind() == io::ErrorKind::WouldBlock,
            // End of stream, or bytes nobody asked for.
            Ok(_) => false,
        }
    }
}

fn lost_or_unsent(written: usize, why: &str) -> LinkError {
    if written == 0 {
        LinkError::Unsent(why.to_owned())
    } else {
        LinkError::Lost(why.to_owned())
    }
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.try_read(buf),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
