use bot_session::teloxide::Sessions;
use bot_session::{Context, MemoryStorage, Session};
use serde::{Deserialize, Serialize};
use teloxide::prelude::*;

#[derive(Session, Serialize, Deserialize, Default)]
struct Counter {
    count: u64,
}

type BotError = Box<dyn std::error::Error + Send + Sync>;

async fn count(ctx: Context, bot: Bot, msg: Message) -> Result<(), BotError> {
    let mut counter = ctx.counter()?;
    counter.count += 1;
    // The guard is still alive here: the endpoint's future is not `Send`.
    bot.send_message(msg.chat.id, counter.count.to_string()).await?;
    Ok(())
}

fn main() {
    let sessions = Sessions::new().with(Counter::middleware(MemoryStorage::new()));
    let _handler: teloxide::dispatching::UpdateHandler<BotError> =
        Update::filter_message().chain(sessions.wrap(dptree::endpoint(count)));
}
