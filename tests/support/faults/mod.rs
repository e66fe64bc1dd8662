//! The fault harness: the counter example driven from outside, as a user runs it, through
//! the faults a real bot meets, then checked against a clean replay of the same updates.
//!
//! - [`workload`]: the updates, and the true counts from a clean replay into a fresh store.
//! - [`process`]: the counter as a process, SIGKILLed and started again.
//! - [`stores`]: a store of its own per run (SQLite file, private redis-server, PostgreSQL
//!   schema), stalled, killed, its connections terminated; counts read back through the
//!   library.
//! - [`actions`]: the faults of a run, in a random order from a printed seed.
//! - [`poll`], [`webhook`]: a run in each mode (the fake Bot API of `fake_bot_api.rs`; the
//!   harness playing Telegram).
//! - [`verdict`]: counts and replies against the truth, every problem with its cause.
//! - [`timeline`], [`random`]: what happened when, and the seeded sequence.

pub mod actions;
pub mod poll;
pub mod process;
pub mod random;
pub mod stores;
pub mod timeline;
pub mod verdict;
pub mod webhook;
pub mod workload;
