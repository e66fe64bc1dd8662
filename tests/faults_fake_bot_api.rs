//! The fault-injecting parts of the fake Bot API (`tests/support/fake_bot_api.rs`) that the
//! fault harness (`tests/faults.rs`) relies on, as a real teloxide `Bot` sees them: lost
//! confirmations serve unconfirmed updates again, a connection cut before a call leaves no
//! trace, one cut after it leaves the message sent, slow and malformed answers, latency.
//! (Feature `teloxide`.)

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_bot_api::{Failure, FakeBotApi};
use teloxide::RequestError;
use teloxide::prelude::*;

fn bot(api: &FakeBotApi) -> Bot {
    let url = url::Url::parse(&api.url()).expect("the fake server's URL");
    Bot::new(api.token()).set_api_url(url)
}

fn text_update(update_id: i64) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_760_000_000,
            "chat": {"id": 7, "type": "private", "first_name": "U"},
            "from": {"id": 7, "is_bot": false, "first_name": "U"},
            "text": "hi",
        },
    })
}

async fn fetch(bot: &Bot, offset: Option<i32>) -> Vec<u32> {
    let mut request = bot.get_updates().limit(3);
    if let Some(offset) = offset {
        request = request.offset(offset);
    }
    request
        .await
        .expect("getUpdates")
        .iter()
        .map(|update| update.id.0)
        .collect()
}

/// Each time the bot confirms past update 4, twice, the confirmation is lost: the updates it
/// would have confirmed come again, never those an earlier answered call confirmed; then the
/// offset counts again. A rule may keep part of the offset (`back_to` above what is queued).
#[tokio::test]
async fn lost_confirmations_serve_unconfirmed_updates_again() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.push_updates((1..=6).map(text_update));
    api.redeliver(4, 2, 2);
    assert_eq!(fetch(&bot, None).await, [1, 2, 3]);
    assert_eq!(
        fetch(&bot, Some(4)).await,
        [4, 5, 6],
        "offset 4 is not past 4"
    );
    assert_eq!(api.first_unconfirmed(), Some(4));
    assert_eq!(
        fetch(&bot, Some(7)).await,
        [4, 5, 6],
        "offset 7 lost; 1 to 3 stay confirmed"
    );
    assert_eq!(api.first_unconfirmed(), Some(4));
    assert_eq!(fetch(&bot, Some(7)).await, [4, 5, 6], "offset 7 lost again");
    assert_eq!(api.redeliveries_left(), 0);
    assert!(fetch(&bot, Some(7)).await.is_empty());
    assert_eq!(api.first_unconfirmed(), Some(7));

    api.push_updates((7..=9).map(text_update));
    api.redeliver(8, 8, 1);
    assert_eq!(fetch(&bot, Some(7)).await, [7, 8, 9]);
    assert_eq!(
        fetch(&bot, Some(10)).await,
        [8, 9],
        "offset 10 applied up to 8 only"
    );
    assert!(fetch(&bot, Some(10)).await.is_empty());
    let notes: Vec<String> = api
        .calls_of("getUpdates")
        .iter()
        .filter_map(|call| call.fault.clone())
        .collect();
    assert_eq!(
        notes,
        [
            "lost confirmations: offset 7 not applied past 2, serving again from update 4",
            "lost confirmations: offset 7 not applied past 2, serving again from update 4",
            "lost confirmations: offset 10 not applied past 8, serving again from update 8",
        ]
    );
}

#[tokio::test]
async fn a_connection_cut_before_the_call_sends_nothing() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.fail_next("sendMessage", 1, Failure::ConnectionReset);
    let err = bot.send_message(ChatId(5), "hi").await.expect_err("cut");
    assert!(matches!(err, RequestError::Network(_)), "{err:?}");
    assert!(api.sent().is_empty());
    assert_eq!(api.calls_of("sendMessage")[0].status, 0);
    bot.send_message(ChatId(5), "hi").await.expect("sent");
    assert_eq!(api.sent().len(), 1);
}

/// The message went out, the bot got an error: what a connection cut after Telegram accepted
/// a message looks like.
#[tokio::test]
async fn a_lost_answer_leaves_the_message_sent() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.fail_next("sendMessage", 1, Failure::AnswerLost);
    let err = bot.send_message(ChatId(5), "hi").await.expect_err("cut");
    assert!(matches!(err, RequestError::Network(_)), "{err:?}");
    let log = api.send_log();
    assert_eq!(log.len(), 1);
    assert!(log[0].answer_lost);
    assert_eq!(log[0].message.text, "hi");
}

#[tokio::test]
async fn a_malformed_answer_is_invalid_json_and_sends_nothing() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.fail_next("sendMessage", 1, Failure::Malformed);
    let err = bot
        .send_message(ChatId(5), "hi")
        .await
        .expect_err("not JSON");
    match err {
        RequestError::InvalidJson { raw, .. } => assert!(raw.len() >= 20_000, "{}", raw.len()),
        other => panic!("{other:?}"),
    }
    assert!(api.sent().is_empty());
}

#[tokio::test]
async fn slow_answers_and_latency_delay_the_answer() {
    let api = FakeBotApi::start().await;
    let bot = bot(&api);
    api.fail_next("getMe", 1, Failure::Slow { millis: 300 });
    let started = Instant::now();
    bot.get_me().await.expect("getMe");
    assert!(started.elapsed() >= Duration::from_millis(300));
    api.set_latency("sendMessage", 100, 150, 42);
    let started = Instant::now();
    bot.send_message(ChatId(5), "hi").await.expect("sent");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert_eq!(api.pending_failures("getMe"), 0);
}
