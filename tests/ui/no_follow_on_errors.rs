use bot_session::{Composer, Context, MemoryStorage, Session};
use serde::{Deserialize, Serialize};

// One typo is one error: the middleware and the accessor still exist, so the code that uses
// them reports nothing more.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(tll = 60)]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(name = "Prefs", lazy)]
struct UserPrefs {
    lang: String,
}

fn main() {
    let storage = MemoryStorage::new();
    let _bot = Composer::new()
        .with(Counter::middleware(storage.clone()))
        .with(UserPrefs::middleware(storage))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            let _ = <UserPrefs as Session>::NAME;
            Ok(())
        });
}
