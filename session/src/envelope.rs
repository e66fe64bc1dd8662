//! The headers in front of stored session bytes: the updates that changed the session, and
//! the schema version.
//!
//! Stored bytes are `[seen updates] [version] payload`, each header optional:
//! - *seen updates*: the ids of the last updates that changed the session, so a redelivered
//!   update is recognized and not applied twice. Written unless the middleware is set to
//!   remember no updates (`remember_updates(0)`).
//! - *version*: absent for version 0 (no `version` attribute), so a session of version 0 that
//!   remembers no updates is the bare codec payload, exactly what a JavaScript framework
//!   sharing the store would write, and data written before versioning reads as version 0.

/// `0xFF` cannot start a JSON text and is rare at the start of binary payloads; the three
/// letters make an accidental match vanishingly unlikely.
const MAGIC: [u8; 4] = [0xFF, b'b', b's', b'v'];
const HEADER_LEN: usize = MAGIC.len() + 4;
/// Starts the seen-updates header, then a count byte and the ids: the newest as a zigzag
/// varint, each older one as the zigzag varint of its distance from the one before (ids of
/// one chat are close together, so most take a byte).
const SEEN_MAGIC: [u8; 4] = [0xFF, b'b', b's', b'u'];

/// The update ids a session's stored bytes remember, newest first.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen<'a> {
    count: u8,
    ids: &'a [u8],
}

impl Seen<'_> {
    /// The remembered ids, newest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let mut rest = self.ids;
        let mut previous: Option<i64> = None;
        (0..self.count).map_while(move |_| {
            let (value, used) = read_varint(rest)?;
            rest = &rest[used..];
            let value = unzigzag(value);
            let id = match previous {
                None => value,
                Some(previous) => previous.wrapping_sub(value),
            };
            previous = Some(id);
            Some(id)
        })
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, id: i64) -> bool {
        self.iter().any(|seen| seen == id)
    }
}

/// Splits stored bytes into the updates they remember and the rest (version header and
/// payload). Bytes without the header remember nothing.
pub(crate) fn split_seen(bytes: &[u8]) -> (Seen<'_>, &[u8]) {
    let none = (Seen::default(), bytes);
    if bytes.len() < SEEN_MAGIC.len() + 1 || bytes[..SEEN_MAGIC.len()] != SEEN_MAGIC {
        return none;
    }
    let count = bytes[SEEN_MAGIC.len()];
    let ids = &bytes[SEEN_MAGIC.len() + 1..];
    let mut used = 0;
    for _ in 0..count {
        match read_varint(&ids[used..]) {
            Some((_, n)) => used += n,
            None => return none,
        }
    }
    (
        Seen {
            count,
            ids: &ids[..used],
        },
        &ids[used..],
    )
}

/// The most update ids a session remembers.
pub(crate) const MAX_REMEMBERED: usize = 16;

/// Appends the seen-updates header for `newest` to `out`, followed by up to `remember - 1` of
/// the ids remembered in `out[previous]` (a seen-updates header already in `out`, or an empty
/// range), which must not contain `newest`. Appends nothing when `remember` is 0.
///
/// Only the previous newest id is decoded (it becomes a distance from `newest`); the older
/// distances are copied as they are, since each is relative to the id before it.
pub(crate) fn append_seen(
    newest: i64,
    previous: std::ops::Range<usize>,
    remember: usize,
    out: &mut Vec<u8>,
) {
    let remember = remember.min(MAX_REMEMBERED);
    if remember == 0 {
        return;
    }
    out.extend_from_slice(&SEEN_MAGIC);
    let count_at = out.len();
    out.push(1);
    write_varint(zigzag(newest), out);
    let header = SEEN_MAGIC.len() + 1;
    if remember < 2 || previous.len() <= header {
        return;
    }
    let count = usize::from(out[previous.start + SEEN_MAGIC.len()]);
    let mut at = previous.start + header;
    let Some((first, used)) = read_varint(&out[at..previous.end]) else {
        return;
    };
    at += used;
    write_varint(zigzag(newest.wrapping_sub(unzigzag(first))), out);
    let copied_from = at;
    let mut kept = 0;
    while kept < count.saturating_sub(1).min(remember - 2) {
        match out[at..previous.end]
            .iter()
            .position(|byte| byte & 0x80 == 0)
        {
            Some(last) => at += last + 1,
            None => break,
        }
        kept += 1;
    }
    out.extend_from_within(copied_from..at);
    // At most MAX_REMEMBERED ids: the count fits a byte.
    out[count_at] = (2 + kept) as u8;
}

/// The length of the seen-updates header at the start of `bytes` (0 when there is none), and
/// whether `id` is among its ids: one pass over them.
pub(crate) fn scan_seen(bytes: &[u8], id: Option<i64>) -> (usize, bool) {
    let header = SEEN_MAGIC.len() + 1;
    if bytes.len() < header || bytes[..SEEN_MAGIC.len()] != SEEN_MAGIC {
        return (0, false);
    }
    let mut at = header;
    let mut found = false;
    let mut last = 0i64;
    for i in 0..bytes[SEEN_MAGIC.len()] {
        let Some((value, used)) = read_varint(&bytes[at..]) else {
            return (0, false);
        };
        at += used;
        let value = unzigzag(value);
        last = if i == 0 {
            value
        } else {
            last.wrapping_sub(value)
        };
        found |= id == Some(last);
    }
    (at, found)
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A varint and how many bytes it took; `None` when the bytes end inside it or it is longer
/// than a `u64`'s.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Appends the header for `version` (nothing for version 0).
pub(crate) fn write_header(version: u32, out: &mut Vec<u8>) {
    if version > 0 {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
    }
}

/// Splits stored bytes into (schema version, codec payload).
pub(crate) fn split(bytes: &[u8]) -> (u32, &[u8]) {
    if bytes.len() >= HEADER_LEN && bytes[..MAGIC.len()] == MAGIC {
        let mut version = [0u8; 4];
        version.copy_from_slice(&bytes[MAGIC.len()..HEADER_LEN]);
        (u32::from_le_bytes(version), &bytes[HEADER_LEN..])
    } else {
        (0, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_zero_is_the_bare_payload() {
        let mut out = Vec::new();
        write_header(0, &mut out);
        out.extend_from_slice(b"{}");
        assert_eq!(out, b"{}");
        assert_eq!(split(&out), (0, &b"{}"[..]));
    }

    #[test]
    fn later_versions_round_trip() {
        let mut out = Vec::new();
        write_header(3, &mut out);
        out.extend_from_slice(b"{\"a\":1}");
        assert_eq!(split(&out), (3, &b"{\"a\":1}"[..]));
    }

    #[test]
    fn seen_updates_round_trip_newest_first_and_bounded() {
        let mut first = Vec::new();
        append_seen(1_000_005, 0..0, 3, &mut first);
        write_header(2, &mut first);
        first.extend_from_slice(b"{}");
        let (seen, rest) = split_seen(&first);
        assert_eq!(seen.iter().collect::<Vec<_>>(), [1_000_005]);
        assert_eq!(split(rest), (2, &b"{}"[..]));
        let _ = seen;
        // Each header is appended after the previous one, which it reads from the same buffer.
        let mut buffer = first[..first.len() - rest.len()].to_vec();
        let mut previous = 0..buffer.len();
        for id in [1_000_002, -7, i64::MAX] {
            let start = buffer.len();
            append_seen(id, previous, 3, &mut buffer);
            previous = start..buffer.len();
        }
        let fourth = buffer[previous].to_vec();
        let (seen, rest) = split_seen(&fourth);
        assert_eq!(seen.iter().collect::<Vec<_>>(), [i64::MAX, -7, 1_000_002]);
        assert!(seen.contains(-7) && !seen.contains(1_000_005));
        assert!(rest.is_empty());
        let mut none = Vec::new();
        append_seen(1, 0..0, 0, &mut none);
        assert!(none.is_empty());
        assert_eq!(scan_seen(&fourth, Some(-7)), (fourth.len(), true));
        assert_eq!(scan_seen(&fourth, Some(8)), (fourth.len(), false));
        assert_eq!(scan_seen(b"{}", Some(8)), (0, false));
    }

    #[test]
    fn bytes_without_seen_updates_remember_nothing() {
        for bytes in [&b"{\"count\":1}"[..], b"", b"\xFFbsu", b"\xFFbsu\x02\x80"] {
            let (seen, rest) = split_seen(bytes);
            assert_eq!(seen.iter().count(), 0);
            assert_eq!(rest, bytes);
        }
    }

    #[test]
    fn short_or_foreign_bytes_are_version_zero() {
        assert_eq!(split(b"\xFFbs"), (0, &b"\xFFbs"[..]));
        assert_eq!(split(b""), (0, &b""[..]));
    }
}
