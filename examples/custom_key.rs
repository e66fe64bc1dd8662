//! A custom key: `key_with = function` computes the key from the update.
//!
//! ```sh
//! cargo run --example custom_key              # on examples/data/custom_key.jsonl
//! ```
//!
//! A daily quota: each user may ask 3 questions per day (UTC). The session is keyed by the user
//! *and the day the message was sent*, so a new day starts with a fresh quota without any
//! reset code, and the TTL lets the old days' sessions expire by themselves. Updates the
//! function returns `None` for (no user, or not a message) have no quota session:
//! `Err(SessionError::NoKey)`.

#[path = "common/recorded.rs"]
mod recorded;

use bot_session::{
    Composer, Context, HandlerError, HandlerResult, MemoryStorage, Session, SessionError,
};
use serde::{Deserialize, Serialize};

const QUESTIONS_PER_DAY: u32 = 3;

/// `<user>:<day>`, stored as `quota:<user>:<day>`; `None` for anything but a user's message.
fn user_and_day(ctx: &Context) -> Option<String> {
    let user = ctx.ids().user?;
    let message = ctx.update()?.kind().message()?;
    Some(format!("{user}:{}", message.date.div_euclid(86_400)))
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key_with = user_and_day, ttl = 172800)] // kept two days, then gone
struct Quota {
    asked: u32,
}

async fn handle(ctx: Context) -> HandlerResult {
    let day = ctx
        .update()
        .and_then(|update| update.kind().message())
        .map_or("----------".to_owned(), |message| utc_date(message.date));
    let who = ctx
        .ids()
        .user
        .map_or("-".to_owned(), |user| user.to_string());
    let answer = match ctx.quota() {
        Ok(mut quota) if quota.asked < QUESTIONS_PER_DAY => {
            quota.asked += 1;
            format!("answered ({} of {QUESTIONS_PER_DAY} today)", quota.asked)
        }
        Ok(_) => "refused: 3 questions a day, come back tomorrow".to_owned(),
        Err(SessionError::NoKey { update_kind, .. }) => {
            format!("no quota session: the key function gave None for this {update_kind}")
        }
        Err(err) => return Err(err.into()),
    };
    println!("{day} user {who:<3} {answer}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), HandlerError> {
    let bot = Composer::new()
        .with(Quota::middleware(MemoryStorage::new()))
        .handler(handle);
    for update in recorded::read_updates("custom_key.jsonl")? {
        bot.handle_update(update).await?;
    }
    Ok(())
}

/// `YYYY-MM-DD` of a Unix time, in UTC (days to civil date, after Howard Hinnant).
fn utc_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
