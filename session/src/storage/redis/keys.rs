//! Where a session and its lease live in Redis: the store's key prefix, and in a cluster the
//! hash tag that keeps both in one slot.
//!
//! | | session `k` | its lease |
//! |---|---|---|
//! | one server | `<prefix>k` | `<prefix>k\0lease` |
//! | cluster | `{<prefix>k}` | `{<prefix>k}\0lease` |
//!
//! In a cluster Redis hashes only what is between the first `{` and the first `}` after it:
//! the session key is all in braces, and the lease is that key and a suffix, so both hash the
//! same and one script can check the lease and write the session. A session key with a `}`
//! in it still works (the tag then ends at that `}`, for both keys alike); only one whose
//! tag would be empty, a `}` right after the `{`, cannot be placed and is refused.

use std::sync::Arc;

/// What follows a session key to name its lease: a NUL byte, then `lease`.
pub(super) const LEASE_SUFFIX: &[u8] = b"\0lease";

/// How this store names keys (shared by its clones).
#[derive(Debug, Clone)]
pub(super) struct KeyScheme {
    prefix: Arc<[u8]>,
    /// A cluster's layout: session keys in braces.
    tagged: bool,
}

impl KeyScheme {
    pub(super) fn new(prefix: &str, tagged: bool) -> Self {
        KeyScheme {
            prefix: prefix.as_bytes().into(),
            tagged,
        }
    }

    pub(super) fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    pub(super) fn is_tagged(&self) -> bool {
        self.tagged
    }

    /// The session key of `key` in pieces (a command argument is written from them without
    /// joining them first).
    pub(super) fn value_parts<'a>(&'a self, key: &'a [u8]) -> [&'a [u8]; 4] {
        if self.tagged {
            [b"{", &self.prefix, key, b"}"]
        } else {
            [&self.prefix, key, b"", b""]
        }
    }

    /// The lease key of `key` in pieces.
    pub(super) fn lease_parts<'a>(&'a self, key: &'a [u8]) -> [&'a [u8]; 5] {
        let [a, b, c, d] = self.value_parts(key);
        [a, b, c, d, LEASE_SUFFIX]
    }

    /// The session key of `key`, joined.
    pub(super) fn value_key(&self, key: &str) -> Vec<u8> {
        self.value_parts(key.as_bytes()).concat()
    }

    /// Why `key` cannot be stored under this scheme, if it cannot: in a cluster, a prefix and
    /// key starting with `}` would make an empty hash tag, and Redis would hash the session
    /// and its lease apart.
    pub(super) fn refusal(&self, key: &str) -> Option<String> {
        let starts_with_brace = match self.prefix.first() {
            Some(&first) => first == b'}',
            None => key.starts_with('}'),
        };
        (self.tagged && starts_with_brace).then(|| {
            format!(
                "in a Redis Cluster the key prefix and session key `{key}` may not start with `}}`: \
                 the hash tag `{{<prefix><key>}}` that keeps a session and its lease in one slot \
                 would be empty; set a key prefix (`RedisBuilder::key_prefix`) that does not \
                 start with `}}`"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::cluster_routing::Slot;

    #[test]
    fn one_server_keys_are_prefix_then_key() {
        let keys = KeyScheme::new("bot:", false);
        assert_eq!(keys.value_key("chat:1"), b"bot:chat:1");
        assert_eq!(keys.lease_parts(b"chat:1").concat(), b"bot:chat:1\0lease");
        assert_eq!(keys.refusal("}odd"), None);
    }

    #[test]
    fn cluster_keys_put_a_session_and_its_lease_in_one_slot() {
        for (prefix, key) in [
            ("bot:", "chat:1"),
            ("", "chat:1"),
            ("bot:", "with {braces} inside"),
            ("bot:", "}starts with a brace"),
            ("", "ends with {"),
        ] {
            let keys = KeyScheme::new(prefix, true);
            assert_eq!(keys.refusal(key), None, "{prefix:?} {key:?}");
            let value = keys.value_key(key);
            assert_eq!(value, format!("{{{prefix}{key}}}").into_bytes());
            let lease = keys.lease_parts(key.as_bytes()).concat();
            assert_eq!(
                Slot::for_key(&value),
                Slot::for_key(&lease),
                "{prefix:?} {key:?}"
            );
        }
        // Different sessions spread over the slots.
        let keys = KeyScheme::new("bot:", true);
        assert_ne!(
            Slot::for_key(keys.value_key("chat:1")),
            Slot::for_key(keys.value_key("chat:2"))
        );
    }

    #[test]
    fn an_empty_hash_tag_is_refused_with_the_key() {
        let keys = KeyScheme::new("", true);
        let why = keys.refusal("}x").expect("refused");
        assert!(why.contains("`}x`") && why.contains("key_prefix"), "{why}");
        assert!(KeyScheme::new("}p", true).refusal("k").is_some());
    }
}
