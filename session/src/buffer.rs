//! The byte buffer an update reads a session into and encodes it back into, reused across
//! updates.
//!
//! Every update that loads a session needs one: the stored bytes are read into it, and at
//! write-back the new encoding goes after them (see `write_back::plan`). Allocating and freeing
//! it for each update cost a tenth of the middleware's own work with the memory store, so a
//! dropped buffer goes back to a small per-thread cache and the next update on that thread takes
//! it from there. Buffers move freely between threads (a task may finish on another thread); the
//! cache only bounds how many each thread keeps, and how large they may be.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers a thread keeps for reuse: one per update in flight on it, in the common case of
/// a handful.
const KEEP: usize = 8;
/// A buffer grown past this (by a large session) is freed rather than kept.
const KEEP_CAPACITY: usize = 4096;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty byte buffer that returns to this thread's cache when dropped.
#[derive(Debug, Default)]
pub(crate) struct Buffer(Vec<u8>);

impl Buffer {
    /// An empty buffer with room for at least `capacity` bytes, from the cache if it has one.
    pub(crate) fn with_capacity(capacity: usize) -> Buffer {
        // `try_with` fails only while the thread is being torn down: allocate then.
        let spare = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten();
        let mut bytes = spare.unwrap_or_default();
        bytes.reserve(capacity);
        Buffer(bytes)
    }
}

/// Bytes from elsewhere (a network store's reply), cached like any other when dropped.
impl From<Vec<u8>> for Buffer {
    fn from(bytes: Vec<u8>) -> Buffer {
        Buffer(bytes)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let capacity = self.0.capacity();
        if capacity == 0 || capacity > KEEP_CAPACITY {
            return;
        }
        let mut bytes = std::mem::take(&mut self.0);
        bytes.clear();
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < KEEP {
                spare.push(bytes);
            }
        });
    }
}

impl Deref for Buffer {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached() -> usize {
        SPARE.with(|spare| spare.borrow().len())
    }

    #[test]
    fn a_dropped_buffer_is_reused_empty() {
        let mut first = Buffer::with_capacity(64);
        first.extend_from_slice(b"stale bytes");
        let address = first.as_ptr();
        drop(first);
        let second = Buffer::with_capacity(16);
        assert!(second.is_empty(), "a reused buffer starts empty");
        assert_eq!(second.as_ptr(), address, "the cached allocation is reused");
        assert!(second.capacity() >= 64);
    }

    #[test]
    fn the_cache_keeps_few_and_small_buffers() {
        let many: Vec<Buffer> = (0..KEEP + 5).map(|_| Buffer::with_capacity(32)).collect();
        drop(many);
        assert_eq!(cached(), KEEP);

        SPARE.with(|spare| spare.borrow_mut().clear());
        drop(Buffer::with_capacity(KEEP_CAPACITY + 1));
        drop(Buffer::default());
        assert_eq!(cached(), 0, "a large or unallocated buffer is not kept");
    }
}
