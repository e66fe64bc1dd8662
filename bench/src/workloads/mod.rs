//! The workloads of BENCH.md, one file each (W1 and W1-limit share one).

#[cfg(feature = "teloxide")]
pub mod as_bots;
pub mod common;
pub mod concurrency;
pub mod counter;
pub mod dispatch;
pub mod end_to_end;
pub mod floor;
pub mod lazy;
pub mod stores;
#[cfg(feature = "teloxide")]
pub mod teloxide;
pub mod updates;
