//! A fake Telegram Bot API server on 127.0.0.1, for tests of bots in live mode (long polling,
//! sending replies) that must never reach Telegram.
//!
//! It speaks the Bot API's HTTP protocol, `POST` or `GET` `/bot<token>/<method>` with JSON,
//! form or query-string parameters, and answers a few methods as Telegram does:
//!
//! - `getMe`: the bot, its id taken from the token (`123:abc` is bot 123).
//! - `getUpdates`: from a queue of recorded updates ([`FakeBotApi::push_update`]). `offset`
//!   confirms (drops) every update below it, a negative one keeps only the last `-offset`;
//!   `limit` is clamped to 1–100 (default 100) and `timeout` to 0–50 seconds (default 0), as
//!   the real server (tdlib/telegram-bot-api) does; with a timeout and nothing to give, the
//!   call waits for an update to be pushed, or answers `[]` when the timeout passes.
//!   While a webhook is set, `409 Conflict`.
//! - `setWebhook`, `deleteWebhook` (`drop_pending_updates` empties the queue),
//!   `getWebhookInfo`.
//! - `sendMessage`: recorded ([`FakeBotApi::sent`], [`FakeBotApi::await_messages`]) and
//!   answered with the message, as Telegram would have sent it.
//!
//! Method names are matched case-insensitively, like the real server does (teloxide sends
//! `GetUpdates`, the docs say `getUpdates`). A wrong token is answered `401`, another method
//! `404`, both as Telegram words them. [`FakeBotApi::fail_next`] makes the next calls of a
//! method fail: `429` (and `retry_after`), `500`, a connection closed before or after the call
//! took effect, a slow answer, or a `200` whose body is not JSON. Not modelled: the real
//! server's throttling of repeated `getUpdates` with one offset, `allowed_updates`, and the
//! `409` a second concurrent `getUpdates` gets.
//!
//! For fault tests: [`FakeBotApi::redeliver`] loses confirmations (`getUpdates` does not apply
//! an offset and serves the updates it would have confirmed again, as Telegram does for a
//! batch whose confirmation never reached it: what an earlier answered call confirmed stays
//! confirmed), [`FakeBotApi::set_latency`] slows every call of a method,
//! and [`FakeBotApi::send_log`] tells when each message was taken and whether its answer got
//! lost on the way back.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The longest long poll the real server allows, in seconds.
const MAX_POLL_TIMEOUT: i64 = 50;

/// A `sendMessage` call the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub chat_id: i64,
    pub text: String,
    pub message_thread_id: Option<i64>,
}

/// One request, as the server understood it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method name as the client spelled it (`GetUpdates`, `sendMessage`).
    pub method: String,
    /// Its parameters; form and query-string values are strings.
    pub params: Map<String, Value>,
    /// The HTTP status it was answered with; 0 when the connection was closed instead.
    pub status: u16,
    /// When the answer was ready.
    pub at: Instant,
    /// The fault injected into this call, if any, in words (`connection reset`, `lost
    /// confirmations: offset 201 ignored, serving again from update 101`).
    pub fault: Option<String>,
    /// For `getUpdates`: the first and last update id it returned.
    pub served: Option<(i64, i64)>,
}

impl Call {
    /// Parameter `name` as an integer, whether it came as a JSON number or a string.
    pub fn int(&self, name: &str) -> Option<i64> {
        int_param(&self.params, name).ok().flatten()
    }
}

/// How [`FakeBotApi::fail_next`] makes a call fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `429 Too Many Requests` with `parameters.retry_after` seconds.
    TooManyRequests { retry_after: u32 },
    /// `500 Internal Server Error`.
    ServerError,
    /// The connection is closed without an answer; the call had no effect.
    ConnectionReset,
    /// The call takes effect (a message is sent, an offset confirms), then the connection is
    /// closed without an answer: the client cannot know it happened.
    AnswerLost,
    /// The call is answered normally after `millis` milliseconds.
    Slow { millis: u64 },
    /// `200` with a body that is not JSON (20 KB of a cut-off answer, as a broken proxy
    /// sends); the call had no effect.
    Malformed,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TooManyRequests { retry_after } => write!(f, "429 retry_after {retry_after}"),
            Failure::ServerError => f.write_str("500"),
            Failure::ConnectionReset => f.write_str("connection reset before the call"),
            Failure::AnswerLost => f.write_str("answer lost after the call took effect"),
            Failure::Slow { millis } => write!(f, "answered after {millis} ms"),
            Failure::Malformed => f.write_str("malformed 200 answer"),
        }
    }
}

/// A message the server took, with when and whether the client got the answer.
#[derive(Debug, Clone)]
pub struct SendRecord {
    pub message: SentMessage,
    /// When the request reached the server, before any latency or slow answer: the bot sent
    /// it by then.
    pub requested: Instant,
    /// When the server took it.
    pub at: Instant,
    /// The connection was closed instead of answering ([`Failure::AnswerLost`]): the bot
    /// could not know the message went out.
    pub answer_lost: bool,
}

/// A lost confirmation ([`FakeBotApi::redeliver`]).
#[derive(Debug, Clone, Copy)]
struct Redelivery {
    after: i64,
    back_to: i64,
    times: u32,
}

/// The running server; it stops when dropped.
pub struct FakeBotApi {
    addr: SocketAddr,
    token: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

struct Shared {
    token: String,
    bot_id: i64,
    state: Mutex<State>,
    /// Bumped on every change a waiting call or test may be waiting for.
    changes: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Value>,
    redeliveries: Vec<Redelivery>,
    /// Milliseconds every call of a method (lowercase) waits before its answer: a range.
    latency: HashMap<String, (u64, u64)>,
    /// For the latencies: a xorshift state, never 0.
    random: u64,
    send_log: Vec<SendRecord>,
    last_update_id: Option<i64>,
    webhook_url: String,
    sent: Vec<SentMessage>,
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    next_message_id: i64,
    /// What `getMe` names the bot; `fake_bot` when empty.
    username: String,
}

impl FakeBotApi {
    /// Makes `getMe` name the bot `username` (the recorded updates address `@bs_counter_bot`).
    pub fn set_username(&self, username: &str) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .username = username.to_owned();
    }

    /// Starts a server for the bot token `123:abc` on an ephemeral port.
    pub async fn start() -> FakeBotApi {
        FakeBotApi::start_with_token("123:abc").await
    }

    /// Starts a server for `token` (`<bot id>:<secret>`) on an ephemeral port.
    pub async fn start_with_token(token: &str) -> FakeBotApi {
        let bot_id = token
            .split_once(':')
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or_else(|| panic!("a bot token is `<bot id>:<secret>`, not {token:?}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Bot API server to 127.0.0.1");
        let addr = listener.local_addr().expect("the server's address");
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot_id,
            state: Mutex::new(State {
                next_message_id: 1,
                random: 0x9E37_79B9_7F4A_7C15,
                ..State::default()
            }),
            changes: watch::Sender::new(0),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        FakeBotApi {
            addr,
            token: token.to_owned(),
            shared,
            server,
        }
    }

    /// The API URL to point a client at (teloxide's `Bot::set_api_url`, the counter's
    /// `--api-url`): `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Queues a recorded update for `getUpdates`. Its `update_id` must be above every queued
    /// one's, as Telegram's are.
    pub fn push_update(&self, update: Value) {
        let id = update["update_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("an update needs an integer update_id: {update}"));
        let mut state = self.shared.lock();
        if let Some(last) = state.last_update_id {
            assert!(
                id > last,
                "update_id {id} is not above the last one queued, {last}"
            );
        }
        state.last_update_id = Some(id);
        state.queue.push_back(update);
        drop(state);
        self.shared.changed();
    }

    /// Queues several updates, in order.
    pub fn push_updates(&self, updates: impl IntoIterator<Item = Value>) {
        for update in updates {
            self.push_update(update);
        }
    }

    /// How many updates are queued and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Sets a webhook, as `setWebhook` would: `getUpdates` is refused until it is deleted.
    pub fn set_webhook(&self, url: &str) {
        self.shared.lock().webhook_url = url.to_owned();
    }

    /// Answers the next `times` calls of `method` (any case) with `failure`.
    pub fn fail_next(&self, method: &str, times: usize, failure: Failure) {
        let mut state = self.shared.lock();
        let queue = state
            .failures
            .entry(method.to_ascii_lowercase())
            .or_default();
        queue.extend(std::iter::repeat_n(failure, times));
    }

    /// Loses confirmations `times` times: whenever a `getUpdates` carries an offset above
    /// `after`, only the updates below `back_to` (`back_to <= after`) are confirmed, and every
    /// update from there on that is still queued is served again, as if the confirmation had
    /// never reached Telegram. What an earlier answered call confirmed stays confirmed: Telegram
    /// never serves those again. Several rules take turns in the order given.
    pub fn redeliver(&self, after: i64, back_to: i64, times: u32) {
        assert!(
            back_to <= after,
            "redeliver: back_to {back_to} is above after {after}"
        );
        self.shared.lock().redeliveries.push(Redelivery {
            after,
            back_to,
            times,
        });
    }

    /// Lost confirmations still to come (see [`FakeBotApi::redeliver`]).
    pub fn redeliveries_left(&self) -> u32 {
        self.shared
            .lock()
            .redeliveries
            .iter()
            .map(|rule| rule.times)
            .sum()
    }

    /// Every call of `method` (any case) waits `min..=max` milliseconds (uniformly, from a
    /// sequence `seed` fixes) before it is answered.
    pub fn set_latency(&self, method: &str, min: u64, max: u64, seed: u64) {
        let mut state = self.shared.lock();
        state
            .latency
            .insert(method.to_ascii_lowercase(), (min, max.max(min)));
        state.random = seed | 1;
    }

    /// The lowest update id not confirmed yet: the first queued one, else one above the last
    /// one pushed (`None` before any push).
    pub fn first_unconfirmed(&self) -> Option<i64> {
        let state = self.shared.lock();
        match state.queue.front() {
            Some(update) => update["update_id"].as_i64(),
            None => state.last_update_id.map(|last| last + 1),
        }
    }

    /// Every message taken, in order, with when and whether its answer was lost.
    pub fn send_log(&self) -> Vec<SendRecord> {
        self.shared.lock().send_log.clone()
    }

    /// Failures [`FakeBotApi::fail_next`] queued for `method` (any case) that have not
    /// fired yet.
    pub fn pending_failures(&self, method: &str) -> usize {
        self.shared
            .lock()
            .failures
            .get(&method.to_ascii_lowercase())
            .map_or(0, VecDeque::len)
    }

    /// The messages sent so far, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// The requests of `method` (any case) so far, in order.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| call.method.eq_ignore_ascii_case(method))
            .collect()
    }

    /// Waits until at least `count` messages were sent and returns them all; panics, listing
    /// what was sent, if that takes longer than `within`.
    pub async fn await_messages(&self, count: usize, within: Duration) -> Vec<SentMessage> {
        let shared = &self.shared;
        let reached = shared
            .wait_until(within, |state| state.sent.len() >= count)
            .await;
        let sent = self.sent();
        assert!(
            reached,
            "expected {count} messages sent within {within:?}, got {}: {sent:#?}",
            sent.len()
        );
        sent
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        // The accept loop owns the connections' tasks: aborting it ends them, long polls too.
        self.server.abort();
    }
}

impl State {
    /// The next number of a xorshift64 sequence.
    fn next_random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Waits up to `within` for `done` to hold; whether it did.
    async fn wait_until(&self, within: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        // Subscribed before the first check, so a change between the check and the wait is
        // not missed.
        let mut changes = self.changes.subscribe();
        loop {
            if done(&self.lock()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The deadline passed, or the server is gone.
                Ok(Err(_)) | Err(_) => return done(&self.lock()),
            }
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                eprintln!("fake Bot API server: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let service = service_fn(move |request| {
            let shared = Arc::clone(&shared);
            async move { respond(&shared, request).await }
        });
        connections.spawn(async move {
            // A client that hangs up mid-request (a test that ended) is no failure of ours.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connections, so a long test does not accumulate them.
        while connections.try_join_next().is_some() {}
    }
}

/// An answer: HTTP status and the Bot API's JSON body.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn ok(result: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: json!({"ok": true, "result": result}),
        }
    }

    fn error(status: StatusCode, description: &str) -> Answer {
        Answer {
            status,
            body: json!({
                "ok": false,
                "error_code": status.as_u16(),
                "description": description,
            }),
        }
    }

    fn bad_request(description: &str) -> Answer {
        Answer::error(
            StatusCode::BAD_REQUEST,
            &format!("Bad Request: {description}"),
        )
    }

    fn failure(failure: Failure) -> Answer {
        match failure {
            Failure::TooManyRequests { retry_after } => Answer {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: json!({
                    "ok": false,
                    "error_code": 429,
                    "description": format!("Too Many Requests: retry after {retry_after}"),
                    "parameters": {"retry_after": retry_after},
                }),
            },
            Failure::ServerError => {
                Answer::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Failure::ConnectionReset
            | Failure::AnswerLost
            | Failure::Slow { .. }
            | Failure::Malformed => {
                unreachable!("{failure} is not an answer of its own")
            }
        }
    }
}

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug)]
struct ConnectionCut;

impl std::fmt::Display for ConnectionCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fake Bot API server cut the connection (an injected fault)")
    }
}

impl std::error::Error for ConnectionCut {}

/// About 20 KB of an answer cut off mid-way, as a broken proxy might pass on.
fn malformed_body() -> String {
    let mut body = String::from(r#"{"ok":true,"result":[{"update_id":1,"message":{"text":""#);
    while body.len() < 20_000 {
        body.push_str("lorem ipsum dolor sit amet ");
    }
    body
}

async fn respond(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionCut> {
    let requested = Instant::now();
    let (method, params) = match read_request(shared, request).await {
        Ok(parsed) => parsed,
        Err(answer) => return Ok(to_response(answer)),
    };
    let lowercase = method.to_ascii_lowercase();
    let (injected, latency) = {
        let mut state = shared.lock();
        let injected = state
            .failures
            .get_mut(&lowercase)
            .and_then(VecDeque::pop_front);
        let latency = state
            .latency
            .get(&lowercase)
            .copied()
            .map(|(min, max)| min + state.next_random() % (max - min + 1));
        (injected, latency)
    };
    let mut fault = injected.map(|failure| failure.to_string());
    let record = |status: u16, fault: Option<String>, served: Option<(i64, i64)>| {
        shared.lock().calls.push(Call {
            method: method.clone(),
            params: params.clone(),
            status,
            at: Instant::now(),
            fault,
            served,
        });
        shared.changed();
    };
    let answer = match injected {
        Some(Failure::ConnectionReset) => {
            record(0, fault, None);
            return Err(ConnectionCut);
        }
        Some(Failure::Malformed) => {
            record(200, fault, None);
            let mut response = Response::new(Full::new(Bytes::from(malformed_body())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Ok(response);
        }
        Some(failure @ (Failure::TooManyRequests { .. } | Failure::ServerError)) => {
            Answer::failure(failure)
        }
        Some(Failure::Slow { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            answer(shared, &lowercase, &params, (requested, false), &mut fault).await
        }
        Some(Failure::AnswerLost) => {
            answer(shared, &lowercase, &params, (requested, true), &mut fault).await
        }
        None => {
            if let Some(millis) = latency {
                tokio::time::sleep(Duration::from_millis(millis)).await;
            }
            answer(shared, &lowercase, &params, (requested, false), &mut fault).await
        }
    };
    let served = served_range(&answer);
    if injected == Some(Failure::AnswerLost) {
        record(0, fault, served);
        return Err(ConnectionCut);
    }
    record(answer.status.as_u16(), fault, served);
    Ok(to_response(answer))
}

/// The first and last update id of a successful `getUpdates` answer.
fn served_range(answer: &Answer) -> Option<(i64, i64)> {
    let updates = answer.body["result"].as_array()?;
    let id = |update: &Value| update["update_id"].as_i64();
    Some((id(updates.first()?)?, id(updates.last()?)?))
}

fn to_response(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *response.status_mut() = answer.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The method and parameters of a request to `/bot<token>/<method>`.
async fn read_request(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<(String, Map<String, Value>), Answer> {
    let path = request.uri().path().trim_start_matches('/');
    let Some((token, method)) = path
        .strip_prefix("bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Err(Answer::error(StatusCode::NOT_FOUND, "Not Found"));
    };
    if token != shared.token {
        return Err(Answer::error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    let method = method.to_owned();
    let mut params = request.uri().query().map(parse_form).unwrap_or_default();
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(|err| Answer::bad_request(&format!("cannot read the body: {err}")))?
        .to_bytes();
    if body.is_empty() {
        return Ok((method, params));
    }
    let from_body = if content_type.starts_with("application/json") {
        match serde_json::from_slice(&body) {
            Ok(Value::Object(object)) => object,
            Ok(_) | Err(_) => return Err(Answer::bad_request("the JSON body is not an object")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(&body)
            .map_err(|_| Answer::bad_request("the form body is not UTF-8"))?;
        parse_form(text)
    } else {
        return Err(Answer::bad_request(&format!(
            "the fake Bot API server reads JSON, form and query-string parameters, not {content_type:?}"
        )));
    };
    params.extend(from_body);
    Ok((method, params))
}

/// `application/x-www-form-urlencoded` pairs (also a URL's query string), values as strings.
fn parse_form(text: &str) -> Map<String, Value> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), Value::String(percent_decode(value)))
        })
        .collect()
}

/// `+` is a space and `%XX` a byte; a malformed escape is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (byte, None) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parameter `name` as an integer: a JSON number, or a string of one (forms, query strings).
fn int_param(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, Answer> {
    let invalid = || Answer::bad_request(&format!("parameter \"{name}\" is not an integer"));
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number.as_i64().map(Some).ok_or_else(invalid),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => text.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

fn bool_param(params: &Map<String, Value>, name: &str) -> bool {
    match params.get(name) {
        Some(Value::Bool(value)) => *value,
        Some(Value::String(text)) => text == "true" || text == "1",
        _ => false,
    }
}

/// `taken`: when the request arrived, and whether the client will not see this answer (both
/// recorded with a sent message); `fault` gets a note when `getUpdates` loses a confirmation.
async fn answer(
    shared: &Shared,
    method: &str,
    params: &Map<String, Value>,
    taken: (Instant, bool),
    fault: &mut Option<String>,
) -> Answer {
    let result = match method {
        "getme" => Ok(Answer::ok(get_me(shared))),
        "getupdates" => get_updates(shared, params, fault).await,
        "getwebhookinfo" => Ok(Answer::ok(webhook_info(&shared.lock()))),
        "setwebhook" => Ok(set_webhook(shared, params)),
        "deletewebhook" => {
            let mut state = shared.lock();
            state.webhook_url.clear();
            if bool_param(params, "drop_pending_updates") {
                state.queue.clear();
            }
            Ok(Answer::ok(json!(true)))
        }
        "sendmessage" => send_message(shared, params, taken),
        _ => Ok(Answer::error(StatusCode::NOT_FOUND, "Not Found")),
    };
    result.unwrap_or_else(|answer| answer)
}

fn bot_user(shared: &Shared) -> Value {
    let username = {
        let state = shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.username.as_str() {
            "" => "fake_bot".to_owned(),
            name => name.to_owned(),
        }
    };
    json!({
        "id": shared.bot_id,
        "is_bot": true,
        "first_name": "Fake Bot",
        "username": username,
    })
}

fn get_me(shared: &Shared) -> Value {
    let mut me = bot_user(shared);
    me["can_join_groups"] = json!(true);
    me["can_read_all_group_messages"] = json!(false);
    me["supports_inline_queries"] = json!(false);
    me["can_connect_to_business"] = json!(false);
    me["has_main_web_app"] = json!(false);
    me
}

fn webhook_info(state: &State) -> Value {
    json!({
        "url": state.webhook_url,
        "has_custom_certificate": false,
        "pending_update_count": state.queue.len(),
    })
}

fn set_webhook(shared: &Shared, params: &Map<String, Value>) -> Answer {
    let url = params.get("url").and_then(Value::as_str).unwrap_or("");
    shared.lock().webhook_url = url.to_owned();
    Answer::ok(json!(true))
}

async fn get_updates(
    shared: &Shared,
    params: &Map<String, Value>,
    fault: &mut Option<String>,
) -> Result<Answer, Answer> {
    let offset = int_param(params, "offset")?.unwrap_or(0);
    let limit = int_param(params, "limit")?.unwrap_or(100).clamp(1, 100);
    let timeout = int_param(params, "timeout")?
        .unwrap_or(0)
        .clamp(0, MAX_POLL_TIMEOUT);
    {
        let mut state = shared.lock();
        if !state.webhook_url.is_empty() {
            return Err(Answer::error(
                StatusCode::CONFLICT,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            ));
        }
        let state = &mut *state;
        let lost = state
            .redeliveries
            .iter_mut()
            .find(|rule| rule.times > 0 && offset > rule.after);
        let applied = match lost {
            Some(rule) => {
                rule.times -= 1;
                rule.back_to
            }
            None => offset,
        };
        confirm(&mut state.queue, applied);
        if applied != offset {
            let from = state
                .queue
                .front()
                .and_then(|update| update["update_id"].as_i64());
            let note = format!(
                "lost confirmations: offset {offset} not applied past {applied}, serving again from update {}",
                from.map_or_else(|| "(none queued)".to_owned(), |from| from.to_string())
            );
            *fault = Some(match fault.take() {
                Some(before) => format!("{before}; {note}"),
                None => note,
            });
        }
    }
    let within = Duration::from_secs(timeout.unsigned_abs());
    shared
        .wait_until(within, |state| !state.queue.is_empty())
        .await;
    let state = shared.lock();
    let batch: Vec<Value> = state
        .queue
        .iter()
        .take(usize::try_from(limit).unwrap_or(100))
        .cloned()
        .collect();
    Ok(Answer::ok(Value::Array(batch)))
}

/// Drops what an `offset` confirms: every update below a positive one; all but the last
/// `-offset` for a negative one.
fn confirm(queue: &mut VecDeque<Value>, offset: i64) {
    let forget = if offset > 0 {
        queue
            .iter()
            .take_while(|update| update["update_id"].as_i64().is_some_and(|id| id < offset))
            .count()
    } else if offset < 0 {
        let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
        queue.len().saturating_sub(keep)
    } else {
        0
    };
    queue.drain(..forget);
}

fn send_message(
    shared: &Shared,
    params: &Map<String, Value>,
    (requested, answer_lost): (Instant, bool),
) -> Result<Answer, Answer> {
    let chat_id = match params.get("chat_id") {
        Some(Value::String(name)) if name.starts_with('@') => {
            return Err(Answer::bad_request("chat not found"));
        }
        _ => int_param(params, "chat_id")?
            .ok_or_else(|| Answer::bad_request("parameter \"chat_id\" is required"))?,
    };
    let text = params.get("text").and_then(Value::as_str).unwrap_or("");
    if text.is_empty() {
        return Err(Answer::bad_request("message text is empty"));
    }
    let message_thread_id = int_param(params, "message_thread_id")?;
    let mut state = shared.lock();
    let message_id = state.next_message_id;
    state.next_message_id += 1;
    let sent = SentMessage {
        chat_id,
        text: text.to_owned(),
        message_thread_id,
    };
    state.send_log.push(SendRecord {
        message: sent.clone(),
        requested,
        at: Instant::now(),
        answer_lost,
    });
    state.sent.push(sent);
    drop(state);
    let mut message = json!({
        "message_id": message_id,
        "date": unix_now(),
        "chat": chat(chat_id),
        "from": bot_user(shared),
        "text": text,
    });
    if let Some(thread) = message_thread_id {
        message["message_thread_id"] = json!(thread);
        message["is_topic_message"] = json!(true);
    }
    Ok(Answer::ok(message))
}

/// The chat of a sent message, by the shape of its id: supergroups and channels are
/// `-100…`, basic groups other negative ids, private chats the user's (positive) id.
fn chat(id: i64) -> Value {
    if id > 0 {
        json!({"id": id, "type": "private", "first_name": "User"})
    } else if id <= -1_000_000_000_000 {
        json!({"id": id, "type": "supergroup", "title": "Supergroup"})
    } else {
        json!({"id": id, "type": "group", "title": "Group"})
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
