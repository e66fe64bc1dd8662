//! T-seq and T-64 with bot-session (feature `teloxide`): the stream of `crate::bots` through
//! `Update::filter_message()`, the teloxide adaptor with the counter session and an endpoint
//! that increments the count, on every store. Reports `lost` (N − the stored sum) and `failed`
//! (updates whose handler failed) rather than failing the run, as the dialogue storages beside
//! it do (bench/teloxide-storages).

use std::sync::Arc;

use bot_session::{MemoryStorage, Session, Storage};
use teloxide::dispatching::UpdateHandler;
use teloxide::dptree::di::DependencyMap;

use super::common::{Counter, Result, stored_sum};
use super::stores::{self, Backend, Opened};
use super::teloxide::adaptor_tree;
use crate::bots::{self, BotError, Updates, Workload};
use crate::report::Figures;

/// A store T-seq and T-64 run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Memory,
    Shared(Backend),
}

/// Every store, in the order they run.
pub const STORES: [Store; 4] = [
    Store::Memory,
    Store::Shared(Backend::Sqlite),
    Store::Shared(Backend::Redis),
    Store::Shared(Backend::Postgres),
];

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Shared(backend) => backend.name(),
        }
    }

    /// Why the store cannot be used here, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        match self {
            Store::Memory => None,
            Store::Shared(backend) => backend.unavailable(),
        }
    }
}

/// An opened store, emptied of the counters of the run's chats.
enum Held {
    Memory(MemoryStorage),
    Shared(Opened),
}

impl Held {
    async fn open(store: Store, space: &str) -> Result<Held> {
        Ok(match store {
            Store::Memory => Held::Memory(MemoryStorage::new()),
            Store::Shared(backend) => {
                Held::Shared(stores::open(backend, space, bots::K as u32).await?)
            }
        })
    }

    fn store(&self) -> Arc<dyn Storage> {
        match self {
            Held::Memory(store) => Arc::new(store.clone()),
            Held::Shared(opened) => Arc::clone(&opened.store),
        }
    }

    /// The handler tree over this store: the memory store as its own type, as a bot holds it
    /// (behind `dyn Storage` every call would box its future), a shared store as the bench
    /// opens it.
    fn tree(&self) -> UpdateHandler<BotError> {
        match self {
            Held::Memory(store) => adaptor_tree(store.clone()),
            Held::Shared(opened) => adaptor_tree(Arc::clone(&opened.store)),
        }
    }

    async fn close(self) -> Result<()> {
        match self {
            Held::Memory(_) => Ok(()),
            Held::Shared(opened) => stores::close(opened, bots::K as u32).await,
        }
    }
}

/// One run: warm up on a throw-away namespace, then time a fresh one over all N updates and
/// read every chat's count back.
pub fn run_once(store: Store, workload: Workload) -> Result<Figures> {
    let indices = bots::chat_indices(bots::N);
    let warm_up = bots::warm_up(&indices);
    let updates = Updates::new(bots::K)?;
    let in_flight = workload.in_flight();
    let deps = DependencyMap::new();
    bots::runtime().block_on(async {
        let warm = Held::open(store, "bot-session-bench-warm").await?;
        let handler = warm.tree();
        bots::drive(&handler, &deps, &updates, &warm_up, in_flight).await;
        warm.close().await?;

        let held = Held::open(store, "bot-session-bench").await?;
        let handler = held.tree();
        let driven = bots::drive(&handler, &deps, &updates, &indices, in_flight).await;
        let (sum, _) = stored_sum(&*held.store(), Counter::PREFIX, bots::K as u32).await?;
        held.close().await?;
        if let Some(error) = driven.first_error {
            eprintln!(
                "bot-session {} on {}: {} updates failed; the first: {error}",
                workload.name(),
                store.name(),
                driven.failed
            );
        }
        Ok(Figures::new(bots::N, driven.elapsed)
            .number("lost", bots::N as f64 - sum as f64)
            .number("failed", driven.failed as f64)
            .setting("store", store.name())
            .setting("updates", bots::N)
            .setting("workers", bots::WORKERS)
            .setting("pinned", "no"))
    })
}
