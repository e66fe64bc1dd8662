//! The buffers sessions are read into, reused by the thread that is done with them.
//!
//! Every update that loads a session reads its stored bytes into a buffer, which at write-back
//! also receives the new encoding (see `write_back.rs`), and is then dropped. A few such
//! buffers kept per thread save each update an allocation and its free (about 130
//! instructions with glibc); a thread keeps at most [`KEPT`] of them, none larger than
//! [`MAX_KEPT`], so what it holds stays bounded. A buffer taken on one thread and given back on
//! another (a multi-thread runtime moving the update) simply joins the other thread's.

use std::cell::RefCell;

/// The capacity of a new buffer: room for a session's stored bytes and its new encoding in one
/// allocation for sessions up to about 120 bytes, the common case (a small value with a few
/// dozen remembered update ids); larger ones grow it.
pub(crate) const READ_BUFFER: usize = 256;
/// The most buffers one thread keeps.
const KEPT: usize = 8;
/// The largest buffer kept: inside the sizes glibc serves from its per-thread cache.
const MAX_KEPT: usize = 1024;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least [`READ_BUFFER`] bytes.
pub(crate) fn take() -> Vec<u8> {
    let kept = FREE
        .try_with(|free| free.try_borrow_mut().ok().and_then(|mut free| free.pop()))
        .ok()
        .flatten();
    kept.unwrap_or_else(|| Vec::with_capacity(READ_BUFFER))
}

/// Gives a buffer back for a later [`take`] on this thread; frees it instead when the thread
/// keeps enough, or when it is too small or too large to keep.
pub(crate) fn give_back(mut buffer: Vec<u8>) {
    if !(READ_BUFFER..=MAX_KEPT).contains(&buffer.capacity()) {
        return;
    }
    buffer.clear();
    let _ = FREE.try_with(|free| {
        if let Ok(mut free) = free.try_borrow_mut()
            && free.len() < KEPT
        {
            free.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty() {
        let mut buffer = take();
        assert!(buffer.capacity() >= READ_BUFFER);
        buffer.extend_from_slice(b"stored bytes");
        let at = buffer.as_ptr();
        give_back(buffer);
        let again = take();
        assert_eq!(again.as_ptr(), at, "the same allocation");
        assert!(again.is_empty());
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_buffers_within_bounded_sizes() {
        std::thread::spawn(|| {
            for _ in 0..KEPT + 4 {
                give_back(Vec::with_capacity(READ_BUFFER));
            }
            give_back(Vec::with_capacity(MAX_KEPT + 1));
            give_back(Vec::with_capacity(READ_BUFFER - 1));
            let kept = FREE.with(|free| free.borrow().len());
            assert_eq!(kept, KEPT);
            assert!(FREE.with(|free| free.borrow().iter().all(|b| b.capacity() == READ_BUFFER)));
        })
        .join()
        .expect("the test thread");
    }
}
