//! A session's storage key (`prefix:id`), kept inline when short.
//!
//! Keys are nearly always short (`counter:1005413`), and every update that loads a session
//! makes one: kept inside the slot instead of in a `String`, it costs no allocation.

use std::fmt;
use std::ops::Deref;

use arrayvec::ArrayString;

/// Bytes a key may have and still be kept inline; the built-in strategies' longest key,
/// `prefix:user:chat`, fits with a prefix of up to 6 characters, a chat key with up to 25.
const INLINE: usize = 46;

#[derive(Clone)]
pub(crate) enum StorageKey {
    Inline(ArrayString<INLINE>),
    Heap(String),
}

impl StorageKey {
    pub(crate) fn new() -> Self {
        StorageKey::Inline(ArrayString::new())
    }

    /// A copy of `key`, inline when it fits (for the Redis store's queued operations).
    #[cfg(feature = "redis")]
    pub(crate) fn copied(key: &str) -> Self {
        let mut copy = StorageKey::new();
        copy.push_str(key);
        copy
    }

    pub(crate) fn push_str(&mut self, s: &str) {
        match self {
            StorageKey::Inline(inline) => {
                if inline.try_push_str(s).is_err() {
                    let mut heap = String::with_capacity(inline.len() + s.len());
                    heap.push_str(inline);
                    heap.push_str(s);
                    *self = StorageKey::Heap(heap);
                }
            }
            StorageKey::Heap(heap) => heap.push_str(s),
        }
    }

    /// Appends the `:` between a key's parts: a byte stored in place, where `push_str` would
    /// call `memcpy` for it.
    pub(crate) fn push_colon(&mut self) {
        if let StorageKey::Inline(inline) = self
            && inline.try_push(':').is_ok()
        {
            return;
        }
        self.push_str(":");
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            StorageKey::Inline(inline) => inline,
            StorageKey::Heap(heap) => heap,
        }
    }
}

impl Deref for StorageKey {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for StorageKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_stay_inline_and_long_ones_move_to_the_heap() {
        let mut key = StorageKey::new();
        key.push_str("counter:");
        key.push_str("-1001234567890");
        assert!(matches!(key, StorageKey::Inline(_)));
        assert_eq!(key.as_str(), "counter:-1001234567890");

        let long = "é".repeat(INLINE); // two bytes each: does not fit
        key.push_str(&long);
        assert!(matches!(key, StorageKey::Heap(_)));
        assert_eq!(key.as_str(), format!("counter:-1001234567890{long}"));
    }

    #[test]
    fn a_key_filling_the_inline_room_exactly_stays_inline() {
        let mut key = StorageKey::new();
        key.push_str(&"k".repeat(INLINE));
        assert!(matches!(key, StorageKey::Inline(_)));
        assert_eq!(key.len(), INLINE);
        key.push_str("x");
        assert!(matches!(key, StorageKey::Heap(_)));
        assert_eq!(key.as_str(), format!("{}x", "k".repeat(INLINE)));
    }

    #[test]
    fn a_colon_goes_inline_while_it_fits_then_to_the_heap() {
        let mut key = StorageKey::new();
        key.push_str(&"k".repeat(INLINE - 1));
        key.push_colon();
        assert!(matches!(key, StorageKey::Inline(_)));
        key.push_colon();
        assert!(matches!(key, StorageKey::Heap(_)));
        assert_eq!(key.as_str(), format!("{}::", "k".repeat(INLINE - 1)));
    }
}
