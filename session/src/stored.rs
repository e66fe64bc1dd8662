//! Stored session bytes taken apart, or built: for tools that read a store directly, tests of
//! a migration, and checks of what a bot wrote.

use crate::envelope;
use crate::envelope::remembered::{self, MAX_REMEMBERED, NOTHING_CONFIRMED, Remembered};

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
    remembered: Remembered<'a>,
    version: u32,
    payload: &'a [u8],
}

impl<'a> StoredBytes<'a> {
    /// Takes stored bytes apart. Bytes without headers (a version-0 session that remembers no
    /// update, or what another framework wrote) are a version-0 payload.
    pub fn parse(bytes: &'a [u8]) -> Self {
        let (remembered, rest) = remembered::split(bytes);
        let (version, payload) = envelope::split(rest);
        StoredBytes {
            remembered,
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

    /// The ids of the updates that changed the session and are remembered, largest (latest)
    /// first.
    pub fn remembered_updates(&self) -> Vec<i64> {
        self.remembered.iter().map(|entry| entry.id).collect()
    }

    /// The replies the remembered update `update_id` kept (see
    /// [`Context::reply_after_commit`](crate::Context::reply_after_commit)), each as the JSON
    /// its handler's reply encoded to; `None` when the update is not remembered.
    pub fn kept_replies(&self, update_id: i64) -> Option<Vec<&'a [u8]>> {
        let entry = self.remembered.find(update_id)?;
        let mut rest = entry.replies;
        let mut replies = Vec::new();
        while let Some((len, used)) = remembered::read_varint(rest) {
            let end = used.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            let Some(reply) = rest.get(used..end) else {
                break;
            };
            replies.push(reply);
            rest = &rest[end..];
        }
        Some(replies)
    }

    /// The bytes a build of schema `version` stores for `payload`, remembering the largest 255
    /// of `updates` (in any order) without replies: e.g. version-0 bytes for a test of a
    /// migration to version 1.
    pub fn build(version: u32, updates: &[i64], payload: &[u8]) -> Vec<u8> {
        let mut ids = updates.to_vec();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(MAX_REMEMBERED);
        let mut header = Vec::new();
        let mut previous = 0..0;
        for &id in ids.iter().rev() {
            let start = header.len();
            remembered::append(
                id,
                &[],
                previous,
                MAX_REMEMBERED,
                NOTHING_CONFIRMED,
                &mut header,
            );
            previous = start..header.len();
        }
        let mut out = header[previous].to_vec();
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
