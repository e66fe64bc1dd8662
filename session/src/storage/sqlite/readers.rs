//! A few read connections, for reads on the caller's thread while the writer is busy.
//!
//! In WAL mode a reader never waits for the writer nor the writer for a reader: each read sees
//! the last commit made before it started. A caller takes a free connection without waiting;
//! when none is free its read is queued for the store thread instead.

use std::sync::{Mutex, TryLockError};

use rusqlite::Connection;

use super::turn::lock;

pub(super) struct Readers {
    /// `None` once closed.
    slots: Box<[Mutex<Option<Connection>>]>,
}

impl Readers {
    pub(super) fn new(conns: Vec<Connection>) -> Readers {
        Readers {
            slots: conns
                .into_iter()
                .map(|conn| Mutex::new(Some(conn)))
                .collect(),
        }
    }

    /// Whether the database has no read connection (it lives in memory).
    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Runs `f` on a free read connection; `None` when none is free (never waits).
    pub(super) fn try_read<T>(&self, f: impl FnOnce(&Connection) -> T) -> Option<T> {
        let guard = self.slots.iter().find_map(|slot| {
            let guard = match slot.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return None,
            };
            guard.is_some().then_some(guard)
        })?;
        guard.as_ref().map(f)
    }

    /// Runs `f` on a read connection, waiting for one to be free: for a thread that may
    /// block. `None` when the database has no read connection (it lives in memory) or they
    /// are closed.
    pub(super) fn read_waiting<T>(&self, f: impl FnOnce(&Connection) -> T) -> Option<T> {
        let free = self.slots.iter().find_map(|slot| match slot.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        });
        let guard = match free {
            Some(guard) => guard,
            None => lock(self.slots.first()?),
        };
        guard.as_ref().map(f)
    }

    /// Closes every read connection (waiting for one in use to be given back).
    pub(super) fn close(&self) {
        for slot in &self.slots {
            drop(lock(slot).take());
        }
    }
}
