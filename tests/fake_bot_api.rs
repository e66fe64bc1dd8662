//! The fake Bot API server (`tests/support/fake_bot_api.rs`) as a real teloxide `Bot` sees
//! it: `getMe`, `sendMessage` recorded, `getUpdates` with Telegram's offset, limit and timeout
//! semantics, webhooks, and the failures it can inject. (Feature `teloxide`.)

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_bot_api::{Failure, FakeBotApi, SentMessage};
use teloxide::prelude::*;
use teloxide::types::{MessageId, Seconds, ThreadId, UpdateKind};
use teloxide::{ApiError, RequestError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn bot(api: &FakeBotApi) -> Bot {
    let url = url::Url::parse(&api.url()).expect("the fake server's URL");
    Bot::new(api.token()).set_api_url(url)
}

/// A text message from user `from` in their private chat.
fn text_update(update_id: i64, from: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_760_000_000,
            "chat": {"id": from, "type": "private", "first_name": "U"},
            "from": {"id": from, "is_bot": false, "first_name": "U"},
            "text": text,
        },
    })
}

fn ids(updates: &[teloxide::types::Update]) -> Vec<u32> {
    updates.iter().map(|update| update.id.0).collect()
}

#[tokio::test]
async fn get_me_names_the_bot_of_the_token() {
    let api = FakeBotApi::start_with_token("4242:secret").await;
    let me = bot(&api).get_me().await.expect("getMe");
    assert_eq!(me.user.id, UserId(4242));
    assert!(me.user.is_bot);
    assert_eq!(me.username(), "fake_bot");
    // teloxide spells the method its own way; the server matched it anyway.
    assert_eq!(api.calls_of("getMe").len(), 1);
    assert_eq!(api.calls()[0].method, "GetMe");
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let api = FakeBotApi::start().await;
    let url = url::Url::parse(&api.url()).expect("the fake server's URL");
    let stranger = Bot::new("999:wrong").set_api_url(url);
    let err = stranger.get_me().await.expect_err("a wrong token fails");
    assert!(
        matches!(err, RequestError::Api(ApiError::InvalidToken)),
        "{err:?}"
    );
}

#[tokio::test]
async fn sent_messages_are_recorded_and_answered() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    let plain = bot.send_message(ChatId(5), "hello").await.expect("sent");
    assert_eq!(plain.chat.id, ChatId(5));
    assert_eq!(plain.text(), Some("hello"));
    let in_topic = bot
        .send_message(ChatId(-1001987654321), "in a topic")
        .message_thread_id(ThreadId(MessageId(5310)))
        .await
        .expect("sent");
    assert_eq!(in_topic.thread_id, Some(ThreadId(MessageId(5310))));
    assert_ne!(plain.id, in_topic.id);

    let sent = api.await_messages(2, Duration::from_secs(5)).await;
    assert_eq!(
        sent,
        [
            SentMessage {
                chat_id: 5,
                text: "hello".to_owned(),
                message_thread_id: None,
            },
            SentMessage {
                chat_id: -1001987654321,
                text: "in a topic".to_owned(),
                message_thread_id: Some(5310),
            },
        ]
    );
}

#[tokio::test]
async fn awaiting_messages_wakes_when_they_are_sent() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for n in 0..3 {
            bot.send_message(ChatId(n + 1), format!("message {n}"))
                .await
                .expect("sent");
        }
    });
    let sent = api.await_messages(3, Duration::from_secs(5)).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].text, "message 2");
    sender.await.expect("the sender finished");
}

#[tokio::test]
#[should_panic(expected = "expected 1 messages sent within")]
async fn awaiting_messages_that_never_come_fails() {
    let api = FakeBotApi::start().await;
    api.await_messages(1, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_offset_confirms_every_update_below_it() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.push_updates((10..13).map(|id| text_update(id, 7, "hi")));

    let all = bot.get_updates().await.expect("getUpdates");
    assert_eq!(ids(&all), [10, 11, 12]);
    assert!(matches!(all[0].kind, UpdateKind::Message(_)));
    // Without an offset nothing is confirmed: the same updates again.
    assert_eq!(
        ids(&bot.get_updates().await.expect("getUpdates")),
        [10, 11, 12]
    );

    let rest = bot.get_updates().offset(12).await.expect("getUpdates");
    assert_eq!(ids(&rest), [12]);
    assert_eq!(api.pending_updates(), 1);
    // 10 and 11 are gone for good.
    assert_eq!(ids(&bot.get_updates().await.expect("getUpdates")), [12]);

    let none = bot.get_updates().offset(13).await.expect("getUpdates");
    assert!(none.is_empty());
    assert_eq!(api.pending_updates(), 0);
}

#[tokio::test]
async fn a_negative_offset_keeps_only_the_last_updates() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.push_updates((1..=5).map(|id| text_update(id, 7, "hi")));
    let last_two = bot.get_updates().offset(-2).await.expect("getUpdates");
    assert_eq!(ids(&last_two), [4, 5]);
    assert_eq!(api.pending_updates(), 2);
}

#[tokio::test]
async fn the_limit_caps_a_batch_and_is_clamped_to_1_to_100() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.push_updates((1..=120).map(|id| text_update(id, 7, "hi")));
    let two = bot.get_updates().limit(2).await.expect("getUpdates");
    assert_eq!(ids(&two), [1, 2]);
    let zero_is_one = bot.get_updates().limit(0).await.expect("getUpdates");
    assert_eq!(ids(&zero_is_one), [1]);
    let default = bot.get_updates().await.expect("getUpdates");
    assert_eq!(default.len(), 100);
    let over = bot.get_updates().limit(200).await.expect("getUpdates");
    assert_eq!(over.len(), 100);
    assert_eq!(api.calls_of("getUpdates")[1].int("limit"), Some(0));
}

#[tokio::test]
async fn a_long_poll_waits_for_its_timeout_when_nothing_comes() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    let started = Instant::now();
    let none = bot.get_updates().timeout(1).await.expect("getUpdates");
    let waited = started.elapsed();
    assert!(none.is_empty());
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "waited {waited:?} for a 1 s long poll"
    );
    // Short polling (no timeout) answers at once.
    let started = Instant::now();
    assert!(bot.get_updates().await.expect("getUpdates").is_empty());
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn a_long_poll_answers_as_soon_as_an_update_comes() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let updates = bot.get_updates().timeout(10).await.expect("getUpdates");
        (updates, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    api.push_update(text_update(1, 7, "wake up"));
    let (updates, waited) = poll.await.expect("the poll finished");
    assert_eq!(ids(&updates), [1]);
    assert!(
        waited < Duration::from_secs(2),
        "the poll took {waited:?} after the update came"
    );
}

#[tokio::test]
async fn get_updates_is_refused_while_a_webhook_is_set() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.set_webhook("https://example.invalid/hook");
    api.push_update(text_update(1, 7, "hi"));
    let err = bot.get_updates().await.expect_err("a conflict");
    // The real server's wording (tdlib/telegram-bot-api); teloxide 0.17's
    // `ApiError::CantGetUpdates` expects an older one, so it sees an unknown error.
    assert!(
        matches!(&err, RequestError::Api(ApiError::Unknown(text))
            if text.starts_with("Conflict: can't use getUpdates method while webhook is active")),
        "{err:?}"
    );
    let info = bot.get_webhook_info().await.expect("getWebhookInfo");
    assert_eq!(
        info.url.as_ref().map(url::Url::as_str),
        Some("https://example.invalid/hook")
    );
    assert_eq!(info.pending_update_count, 1);

    bot.delete_webhook().await.expect("deleteWebhook");
    assert!(bot.get_webhook_info().await.expect("info").url.is_none());
    assert_eq!(ids(&bot.get_updates().await.expect("getUpdates")), [1]);

    api.set_webhook("https://example.invalid/hook");
    bot.delete_webhook()
        .drop_pending_updates(true)
        .await
        .expect("deleteWebhook");
    assert_eq!(api.pending_updates(), 0);
}

#[tokio::test]
async fn too_many_requests_is_retry_after_for_teloxide() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.fail_next(
        "sendMessage",
        2,
        Failure::TooManyRequests { retry_after: 3 },
    );
    for _ in 0..2 {
        let err = bot.send_message(ChatId(5), "flood").await.expect_err("429");
        assert!(
            matches!(err, RequestError::RetryAfter(after) if after == Seconds::from_seconds(3)),
            "{err:?}"
        );
    }
    assert!(api.sent().is_empty(), "a refused message was not sent");
    bot.send_message(ChatId(5), "flood").await.expect("sent");
    assert_eq!(api.sent().len(), 1);
    let statuses: Vec<u16> = api
        .calls_of("sendMessage")
        .iter()
        .map(|call| call.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
}

/// teloxide waits 10 s after any 5xx answer before reading it (its `DELAY_ON_SERVER_ERROR`),
/// so this test takes that long.
#[tokio::test]
async fn a_server_error_is_an_api_error_for_teloxide() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.fail_next("getupdates", 1, Failure::ServerError);
    api.push_update(text_update(1, 7, "hi"));
    let err = bot.get_updates().await.expect_err("500");
    assert!(
        matches!(&err, RequestError::Api(ApiError::Unknown(text)) if text == "Internal Server Error"),
        "{err:?}"
    );
    assert_eq!(ids(&bot.get_updates().await.expect("getUpdates")), [1]);
}

/// Sends one raw HTTP/1.1 request and returns the status and the JSON body.
async fn raw(api: &FakeBotApi, request: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(api.addr()).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}

fn post_form(path: &str, form: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
}

#[tokio::test]
async fn form_bodies_and_query_strings_are_read_too() {
    let api = FakeBotApi::start().await;
    let form = post_form(
        "/bot123:abc/sendmessage",
        "chat_id=-42&text=hello+world%21&message_thread_id=9",
    );
    let (status, body) = raw(&api, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["text"], "hello world!");
    let query = "GET /bot123:abc/SENDMESSAGE?chat_id=8&text=%F0%9F%91%8B HTTP/1.1\r\n\
                 Host: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(&api, query).await.0, 200);
    assert_eq!(
        api.sent(),
        [
            SentMessage {
                chat_id: -42,
                text: "hello world!".to_owned(),
                message_thread_id: Some(9),
            },
            SentMessage {
                chat_id: 8,
                text: "👋".to_owned(),
                message_thread_id: None,
            },
        ]
    );
}

#[tokio::test]
async fn bad_requests_are_answered_as_telegram_words_them() {
    let api = FakeBotApi::start().await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (status, body) = raw(&api, &get("/bot123:abc/sendPhoto")).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (404, Some("Not Found"))
    );
    let (status, body) = raw(&api, &get("/bot123:abc/sendMessage?chat_id=5")).await;
    assert_eq!(status, 400);
    assert_eq!(body["description"], "Bad Request: message text is empty");
    let (status, body) = raw(&api, &get("/bot123:abc/sendMessage?chat_id=@x&text=t")).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (400, Some("Bad Request: chat not found"))
    );
    let (status, _) = raw(&api, &get("/bot123:abc/getUpdates?offset=soon")).await;
    assert_eq!(status, 400);
    let (status, body) = raw(&api, &get("/bot9:nope/getMe")).await;
    assert_eq!((status, body["ok"].as_bool()), (401, Some(false)));
    assert!(api.sent().is_empty());
}
