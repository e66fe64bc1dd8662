//! Stored session bytes taken apart, or built: for tools that read a store directly, tests of
//! a migration, and checks of what a bot wrote.

use crate::envelope;

/// The bytes the session middleware stores for one session, taken apart: the updates that
/// last changed it (see `SessionMiddleware::remember_updates`), the schema version, and the
/// codec payload.
///
/// ```
/// use bot_session::StoredBytes;
/// // What a build with `version = 1` and JSON stores for `{"count":3}`, remembering no update:
/// let bytes = StoredBytes::build(1, &[], br#"{"count":3}"#);
/// let stored = StoredBytes::parse(&bytes);
/// assert_eq!(stored.version(), 1);
/// assert_eq!(stored.payload(), br#"{"count":3}"#);
/// assert!(stored.remembered_updates().is_empty());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StoredBytes<'a> {
    seen: envelope::Seen<'a>,
    version: u32,
    payload: &'a [u8],
}

impl<'a> StoredBytes<'a> {
    /// Takes stored bytes apart. Bytes without headers (a version-0 session that remembers no
    /// update, or what another framework wrote) are a version-0 payload.
    pub fn parse(bytes: &'a [u8]) -> Self {
        let (seen, rest) = envelope::split_seen(bytes);
        let (version, payload) = envelope::split(rest);
        StoredBytes {
            seen,
            version,
            payload,
        }
    }

    /// The codec payload (`{"count":3}` for JSON).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The schema version that wrote it.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The ids of the latest updates that changed the session, largest (latest) first.
    pub fn remembered_updates(&self) -> Vec<i64> {
        self.seen.iter().collect()
    }

    /// The bytes a build of schema `version` stores for `payload`, remembering the largest 16
    /// of `updates` (in any order): e.g. version-0 bytes for a test of a migration to
    /// version 1.
    pub fn build(version: u32, updates: &[i64], payload: &[u8]) -> Vec<u8> {
        let mut ids = updates.to_vec();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(envelope::MAX_REMEMBERED);
        let mut seen = Vec::new();
        let mut previous = 0..0;
        for &id in ids.iter().rev() {
            let start = seen.len();
            envelope::append_seen(id, previous, envelope::MAX_REMEMBERED, &mut seen);
            previous = start..seen.len();
        }
        let mut out = seen[previous].to_vec();
        envelope::write_header(version, &mut out);
        out.extend_from_slice(payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_bytes_parse_back() {
        let bytes = StoredBytes::build(2, &[20, 30, 10], b"{}");
        let stored = StoredBytes::parse(&bytes);
        assert_eq!(stored.remembered_updates(), [30, 20, 10]);
        assert_eq!((stored.version(), stored.payload()), (2, &b"{}"[..]));
        assert_eq!(StoredBytes::build(0, &[], b"{}"), b"{}");
    }
}
