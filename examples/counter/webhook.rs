//! Webhook mode: Telegram's webhook protocol over HTTP/1.1 (hyper), one update per POST.
//!
//! - The request must carry `X-Telegram-Bot-Api-Secret-Token` once, equal to `--secret`
//!   (compared in constant time); otherwise 401 whatever the path or method, so a client
//!   without the secret learns nothing about the routes, and the body is not even read.
//! - A body over 1 MiB, or one that is not a Telegram update (a JSON object), is answered
//!   400; nothing is handled or stored.
//! - The response is sent once the update is handled and its sessions are written back. A
//!   reply rides along in the response as a webhook reply, `{"method":"sendMessage",...}`,
//!   which saves a Bot API call. Telegram takes one method per response: should an update
//!   produce several replies, the first goes in the response and the others are printed, where
//!   a real bot would send them through the Bot API. Without a reply: 200 and an empty body.
//! - An update that fails (a store that is down) is answered 500: nothing was written for it,
//!   and Telegram delivers it again later.
//! - An update is handled in a task of its own: a client that hangs up (Telegram gave up
//!   waiting) does not cancel it, so it is stored or fails cleanly (its keys and leases
//!   released) and a later delivery finds it done. A delivery of an update whose handling is
//!   still running waits for it and gets the same answer.
//! - An update delivered again after it was stored (the answer was lost on the way) is
//!   answered with the reply its first delivery kept (`Context::reply_after_commit`), so
//!   Telegram gets the answer it missed, and nothing is counted twice.
//! - Concurrent requests are handled concurrently; updates of one chat never interleave (the
//!   session middleware serializes them), so no count is lost.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bot_session::{Composer, Update};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::replies::{Outbox, Reply};
use crate::wire::{MAX_UPDATE_BYTES, parse_update};
/// How long a client may take to send a body once its headers are in.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Updates handled at once; further requests wait their turn.
const MAX_IN_FLIGHT: usize = 256;
/// How long Ctrl-C waits for requests in flight before leaving anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The updates being handled, by update id: the replies their handler delivered so far, and
/// where their answer goes once they are done. The handler's [`Outbox`] fills the replies once
/// an update is stored, before `handle_update` returns.
#[derive(Clone, Default)]
pub struct Pending {
    flights: Arc<Mutex<HashMap<i64, Flight>>>,
}

struct Flight {
    replies: Vec<Reply>,
    answer: watch::Sender<Option<Answer>>,
}

/// How an update's handling ended, for every delivery of it that waits.
#[derive(Clone)]
enum Answer {
    Replies(Vec<Reply>),
    Failed,
}

/// A delivery's place in [`Pending`]: the first one handles the update, the others wait.
enum Opened {
    First(watch::Receiver<Option<Answer>>),
    Again(watch::Receiver<Option<Answer>>),
}

impl Pending {
    /// The outbox to build the bot with: replies are kept for the response of their update.
    pub fn outbox(&self, on_reply: impl Fn() + Clone + Send + Sync + 'static) -> Outbox {
        let pending = self.clone();
        Outbox::new(move |update_id, reply| {
            let (pending, on_reply) = (pending.clone(), on_reply.clone());
            async move {
                on_reply();
                match pending.lock().get_mut(&update_id) {
                    Some(flight) => flight.replies.push(reply),
                    None => println!("{reply}"),
                }
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Flight>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self, update_id: i64) -> Opened {
        let mut flights = self.lock();
        if let Some(flight) = flights.get(&update_id) {
            return Opened::Again(flight.answer.subscribe());
        }
        let (answer, waiting) = watch::channel(None);
        flights.insert(
            update_id,
            Flight {
                replies: Vec::new(),
                answer,
            },
        );
        Opened::First(waiting)
    }

    /// Ends the update's flight: every delivery waiting for it gets `answer` (with the replies
    /// delivered, when it succeeded).
    fn close(&self, update_id: i64, succeeded: bool) {
        let Some(flight) = self.lock().remove(&update_id) else {
            return;
        };
        let answer = if succeeded {
            Answer::Replies(flight.replies)
        } else {
            Answer::Failed
        };
        // No delivery waiting any more (every client hung up) is fine: the update is done.
        let _ = flight.answer.send(Some(answer));
    }
}

/// What every request needs.
struct Server {
    bot: Composer,
    pending: Pending,
    secret: String,
    path: String,
    in_flight: Arc<Semaphore>,
    /// Updates that failed, for the summary.
    failed: AtomicU64,
}

/// Serves webhooks on `addr` until Ctrl-C, then lets the requests in flight finish; returns
/// how many updates failed.
pub async fn serve(
    addr: SocketAddr,
    secret: String,
    path: String,
    bot: Composer,
    pending: Pending,
) -> io::Result<u64> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}")))?;
    // Tests read this line to learn the port when ADDR ends in :0.
    eprintln!("listening on http://{}{path}", listener.local_addr()?);
    let server = Arc::new(Server {
        bot,
        pending,
        secret,
        path,
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        failed: AtomicU64::new(0),
    });
    let graceful = GracefulShutdown::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // keep serving the others.
                    eprintln!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut ctrl_c => break,
        };
        let server = Arc::clone(&server);
        let service = service_fn(move |request| {
            let server = Arc::clone(&server);
            async move { Ok::<_, Infallible>(server.respond(request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that hangs up mid-request is its own problem, not the server's.
            let _ = connection.await;
        });
    }
    drop(listener);
    eprintln!("shutting down: finishing the requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("some requests were still running after {SHUTDOWN_GRACE:?}; leaving anyway");
    }
    Ok(server.failed.load(Ordering::Relaxed))
}

impl Server {
    async fn respond(self: &Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.is_authenticated(&request) {
            return text(
                StatusCode::UNAUTHORIZED,
                "wrong or missing X-Telegram-Bot-Api-Secret-Token",
            );
        }
        if request.uri().path() != self.path {
            return text(StatusCode::NOT_FOUND, "not found");
        }
        if request.method() != Method::POST {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "POST one update");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        // A declared length over the limit is refused before reading; a body without one is
        // cut off once it passes the limit.
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_UPDATE_BYTES as u64) {
            return text(StatusCode::BAD_REQUEST, "the body is over 1 MiB");
        }
        let reading = Limited::new(request.into_body(), MAX_UPDATE_BYTES).collect();
        let body = match tokio::time::timeout(BODY_TIMEOUT, reading).await {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(err)) if err.is::<LengthLimitError>() => {
                return text(StatusCode::BAD_REQUEST, "the body is over 1 MiB");
            }
            Ok(Err(err)) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the body: {err}"),
                );
            }
            Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "the body took too long"),
        };
        let update: Update = match parse_update(&body) {
            Ok(update) => update,
            Err(err) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("not a Telegram update: {err}"),
                );
            }
        };
        Arc::clone(self).handle(update).await
    }

    /// Exactly one secret header, and the right one: with two, which one a proxy in front
    /// would check is anyone's guess, so two are refused even when the first is right.
    fn is_authenticated(&self, request: &Request<Incoming>) -> bool {
        let mut given = request.headers().get_all(SECRET_HEADER).iter();
        match (given.next(), given.next()) {
            (Some(only), None) => same_secret(only.as_bytes(), self.secret.as_bytes()),
            _ => false,
        }
    }

    async fn handle(self: Arc<Self>, update: Update) -> Response<Full<Bytes>> {
        let update_id = update.update_id;
        let mut waiting = match self.pending.open(update_id) {
            Opened::First(waiting) => {
                // A task of its own: a client that hangs up drops this request's future, not
                // the update's handling.
                let server = Arc::clone(&self);
                tokio::spawn(async move {
                    let result = match Arc::clone(&server.in_flight).acquire_owned().await {
                        Ok(_permit) => server.bot.handle_update(update).await,
                        Err(_closed) => Err("the server is shutting down".into()),
                    };
                    if result.is_err() {
                        server.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    server.pending.close(update_id, result.is_ok());
                });
                waiting
            }
            Opened::Again(waiting) => {
                eprintln!(
                    "update {update_id} delivered again while still being handled; answered when it is done"
                );
                waiting
            }
        };
        let answer = match waiting.wait_for(Option::is_some).await {
            Ok(answer) => answer.clone(),
            // The handling task ended without an answer (it panicked).
            Err(_) => Some(Answer::Failed),
        };
        let replies = match answer {
            Some(Answer::Replies(replies)) => replies,
            _ => {
                // The tally middleware reported why; nothing was written for this update.
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the update failed; send it again later",
                );
            }
        };
        let mut replies = replies.into_iter();
        let Some(first) = replies.next() else {
            return empty();
        };
        for other in replies {
            println!("{other}");
        }
        let mut method = json!({
            "method": "sendMessage",
            "chat_id": first.chat_id,
            "text": first.text,
        });
        if let Some(thread) = first.message_thread_id {
            method["message_thread_id"] = thread.into();
        }
        let mut response = Response::new(Full::new(Bytes::from(method.to_string())));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// Compares every byte whatever the first difference, so the time taken does not tell an
/// attacker how much of a guess was right. (The length is not secret: Telegram's tokens are
/// up to 256 characters of a known alphabet.)
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    let difference = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty() -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::new()))
}
