//! Locking a standard mutex whatever an earlier panic left in it.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning.
///
/// Every mutex of this crate guards state that a panic cannot leave half-changed: the lock
/// table changes an entry in one step and wakes tasks only after unlocking, a session's state
/// holds a valid value at every point a handler can panic in, and the stores' maps and
/// counters are updated by single operations. So a panic in one update must not fail every
/// later update that takes the same lock.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
