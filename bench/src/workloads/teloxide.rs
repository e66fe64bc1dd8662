//! W1-teloxide, W1-teloxide-dialogue and W1-dialogue (feature `teloxide`): W1's stream as
//! teloxide `Update` values through a dptree handler tree, with bot-session's adaptor and the
//! counter session; with bot-session's dialogue shape (`enter_session`, the `Dialogue` handle
//! storing `count + 1` through a session in the memory store); and with teloxide's own
//! `dialogue::enter` over `InMemStorage` and an endpoint that stores `count + 1`; and
//! W1-dptree, the adaptor's floor: a bare endpoint doing W1-limit's `HashMap` work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bot_session::teloxide::{SessionHandlerExt, Sessions};
use bot_session::{Context, MemoryStorage, Session, Storage};
use serde::{Deserialize, Serialize};
use teloxide::dispatching::UpdateHandler;
use teloxide::dispatching::dialogue::{Dialogue, InMemStorage, Storage as _};
use teloxide::dptree;
use teloxide::dptree::di::DependencyMap;
use teloxide::prelude::*;
use teloxide::types::Update;

use super::common::{
    Counter, CounterExt, Result, current_thread_runtime, distinct_chats, stored_sum, verify,
    warm_up_len,
};
use super::counter::{K, N};
use crate::bots::{BotError, Updates};
use crate::report::Figures;
use crate::stream;

/// The dialogue's state: the chat's count.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Count {
    count: u64,
}

type CountDialogue = Dialogue<Count, InMemStorage<Count>>;

/// The same state as a session, for the dialogue shape: keyed by chat, in the memory store.
#[derive(Session, Clone, Default, Serialize, Deserialize)]
#[session(key = "chat", name = "count_state")]
struct CountState {
    count: u64,
}

/// Dispatches the updates one after another through `handler` with `deps`.
async fn sequential(
    handler: &UpdateHandler<BotError>,
    deps: &DependencyMap,
    updates: &Updates,
    indices: &[u32],
) -> Result<Duration> {
    let start = Instant::now();
    for (i, &chat) in indices.iter().enumerate() {
        let mut deps = deps.clone();
        deps.insert(updates.update(i, chat));
        match handler.dispatch(deps).await {
            std::ops::ControlFlow::Break(result) => result?,
            std::ops::ControlFlow::Continue(_) => {
                return Err(format!("update {} was not handled", i + 1).into());
            }
        }
    }
    Ok(start.elapsed())
}

/// `Update::filter_message()`, then the adaptor with the counter session over `store`, then
/// an endpoint that increments the count.
pub fn adaptor_tree(store: impl Storage) -> UpdateHandler<BotError> {
    let sessions = Sessions::new().with(Counter::middleware(store));
    Update::filter_message().chain(sessions.wrap(dptree::endpoint(|ctx: Context| async move {
        ctx.counter()?.count += 1;
        Ok(())
    })))
}

/// The chats' counts as W1-limit keeps them: JSON bytes under `counter:<chat id>`.
type Counts = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// `Update::filter_message()`, then an endpoint doing by hand what the adaptor and the counter
/// session do (W1-limit's work: get, decode, increment, encode, insert), with no session
/// layer: the floor the adaptor's cost is read against.
fn bare_tree(counts: Counts) -> UpdateHandler<BotError> {
    Update::filter_message().endpoint(move |message: Message| {
        let counts = Arc::clone(&counts);
        async move {
            let key = format!("counter:{}", message.chat.id);
            let mut counts = counts.lock().map_err(|_| "the counts' lock is poisoned")?;
            let mut counter = match counts.get(&key) {
                Some(bytes) => serde_json::from_slice::<Count>(bytes)?,
                None => Count::default(),
            };
            counter.count += 1;
            let bytes = serde_json::to_vec(&counter)?;
            counts.insert(key, bytes);
            Ok(())
        }
    })
}

fn dialogue_tree() -> UpdateHandler<BotError> {
    Update::filter_message()
        .enter_dialogue::<Message, InMemStorage<Count>, Count>()
        .endpoint(|dialogue: CountDialogue, state: Count| async move {
            dialogue
                .update(Count {
                    count: state.count + 1,
                })
                .await?;
            Ok(())
        })
}

fn session_dialogue_tree() -> UpdateHandler<BotError> {
    Update::filter_message()
        .enter_session::<CountState>()
        .endpoint(
            |dialogue: bot_session::teloxide::Dialogue<CountState>, state: CountState| async move {
                dialogue
                    .update(CountState {
                        count: state.count + 1,
                    })
                    .await?;
                Ok(())
            },
        )
}

/// One run of W1-teloxide-dialogue.
pub fn session_dialogue_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    let updates = Updates::new(K)?;
    current_thread_runtime().block_on(async {
        let tree = session_dialogue_tree();
        let warm = dptree::deps![CountState::middleware(MemoryStorage::new())];
        sequential(&tree, &warm, &updates, &indices[..warm_up_len(N)]).await?;
        let store = MemoryStorage::new();
        let deps = dptree::deps![CountState::middleware(store.clone())];
        let elapsed = sequential(&tree, &deps, &updates, &indices).await?;
        let (sum, sessions) = stored_sum(&store, CountState::PREFIX, K as u32).await?;
        verify(
            "W1-teloxide-dialogue",
            "the sum of the counts",
            sum,
            N as u64,
        )?;
        verify(
            "W1-teloxide-dialogue",
            "the number of sessions",
            sessions,
            distinct_chats(&indices),
        )?;
        Ok(Figures::new(N, elapsed))
    })
}

/// One run of W1-teloxide.
pub fn adaptor_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    let updates = Updates::new(K)?;
    current_thread_runtime().block_on(async {
        let none = DependencyMap::new();
        let warm = adaptor_tree(MemoryStorage::new());
        sequential(&warm, &none, &updates, &indices[..warm_up_len(N)]).await?;
        let store = MemoryStorage::new();
        let tree = adaptor_tree(store.clone());
        let elapsed = sequential(&tree, &none, &updates, &indices).await?;
        let (sum, sessions) =
            stored_sum(&store, <Counter as bot_session::Session>::PREFIX, K as u32).await?;
        verify("W1-teloxide", "the sum of the counts", sum, N as u64)?;
        verify(
            "W1-teloxide",
            "the number of sessions",
            sessions,
            distinct_chats(&indices),
        )?;
        Ok(Figures::new(N, elapsed))
    })
}

/// One run of W1-dptree.
pub fn bare_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    let updates = Updates::new(K)?;
    current_thread_runtime().block_on(async {
        let none = DependencyMap::new();
        let warm = bare_tree(Counts::default());
        sequential(&warm, &none, &updates, &indices[..warm_up_len(N)]).await?;
        let counts = Counts::default();
        let tree = bare_tree(Arc::clone(&counts));
        let elapsed = sequential(&tree, &none, &updates, &indices).await?;
        let counts = counts.lock().map_err(|_| "the counts' lock is poisoned")?;
        let mut sum = 0;
        for bytes in counts.values() {
            sum += serde_json::from_slice::<Count>(bytes)?.count;
        }
        verify("W1-dptree", "the sum of the counts", sum, N as u64)?;
        verify(
            "W1-dptree",
            "the number of chats",
            counts.len() as u64,
            distinct_chats(&indices),
        )?;
        Ok(Figures::new(N, elapsed))
    })
}

/// One run of W1-dialogue.
pub fn dialogue_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    let updates = Updates::new(K)?;
    current_thread_runtime().block_on(async {
        let tree = dialogue_tree();
        let warm = dptree::deps![InMemStorage::<Count>::new()];
        sequential(&tree, &warm, &updates, &indices[..warm_up_len(N)]).await?;
        let storage: Arc<InMemStorage<Count>> = InMemStorage::new();
        let deps = dptree::deps![Arc::clone(&storage)];
        let elapsed = sequential(&tree, &deps, &updates, &indices).await?;
        let mut sum = 0;
        let mut sessions = 0;
        for chat in 0..K as u32 {
            let id = ChatId(stream::chat_id(chat));
            if let Some(state) = Arc::clone(&storage).get_dialogue(id).await? {
                sum += state.count;
                sessions += 1;
            }
        }
        verify("W1-dialogue", "the sum of the counts", sum, N as u64)?;
        verify(
            "W1-dialogue",
            "the number of dialogues",
            sessions,
            distinct_chats(&indices),
        )?;
        Ok(Figures::new(N, elapsed))
    })
}

/// One untimed pass of W1-teloxide, for instruction counts (the chats' parsed templates are
/// built first, as in a timed run).
pub fn profile_adaptor_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    let updates = Updates::new(K)?;
    current_thread_runtime().block_on(async {
        let none = DependencyMap::new();
        sequential(
            &adaptor_tree(MemoryStorage::new()),
            &none,
            &updates,
            &indices,
        )
        .await?;
        Ok(())
    })
}

/// One untimed pass of W1-dialogue, for instruction counts.
pub fn profile_dialogue_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    let updates = Updates::new(K)?;
    current_thread_runtime().block_on(async {
        let deps = dptree::deps![InMemStorage::<Count>::new()];
        sequential(&dialogue_tree(), &deps, &updates, &indices).await?;
        Ok(())
    })
}

/// One untimed pass of W1-dptree, for instruction counts.
pub fn profile_bare_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    let updates = Updates::new(K)?;
    current_thread_runtime().block_on(async {
        let none = DependencyMap::new();
        sequential(&bare_tree(Counts::default()), &none, &updates, &indices).await?;
        Ok(())
    })
}
