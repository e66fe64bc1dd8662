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
/// Starts the seen-updates header; then one byte, the length of the ids that follow; then the
/// ids, largest first: the largest as a zigzag varint, each smaller one as the varint of its
/// distance from the one before (ids of one chat are close together, so most take one to three
/// bytes). The length makes the header's end known without reading the ids, and the order
/// lets a check for an id stop at the first one not larger than it: for the usual update,
/// newer than every id remembered, that is the first.
const SEEN_MAGIC: [u8; 4] = [0xFF, b'b', b's', b'u'];
/// The magic and the length byte.
const SEEN_PREFIX: usize = SEEN_MAGIC.len() + 1;

/// The most update ids a session remembers.
pub(crate) const MAX_REMEMBERED: usize = 16;

/// The update ids a session's stored bytes remember, largest first.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen<'a> {
    ids: &'a [u8],
}

impl Seen<'_> {
    /// The remembered ids, largest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let mut rest = self.ids;
        let mut previous: Option<i64> = None;
        std::iter::from_fn(move || {
            let (value, used) = read_varint(rest)?;
            rest = &rest[used..];
            let id = match previous {
                None => unzigzag(value),
                Some(previous) => previous.wrapping_sub(value as i64),
            };
            previous = Some(id);
            Some(id)
        })
    }

    /// Whether `id` is remembered: stops at the first remembered id not larger than it.
    pub(crate) fn contains(&self, id: i64) -> bool {
        self.iter().find(|&seen| seen <= id) == Some(id)
    }
}

/// The seen-updates header at the start of `bytes`: its ids and its length in bytes (0, and no
/// ids, when there is none). Ids that do not end where the length says are no header.
fn seen_header(bytes: &[u8]) -> (Seen<'_>, usize) {
    if bytes.len() < SEEN_PREFIX || bytes[..SEEN_MAGIC.len()] != SEEN_MAGIC {
        return (Seen::default(), 0);
    }
    let len = SEEN_PREFIX + usize::from(bytes[SEEN_MAGIC.len()]);
    match bytes.get(SEEN_PREFIX..len) {
        Some(ids @ [.., last]) if last & 0x80 == 0 => (Seen { ids }, len),
        _ => (Seen::default(), 0),
    }
}

/// Splits stored bytes into the updates they remember and the rest (version header and
/// payload). Bytes without the header remember nothing.
pub(crate) fn split_seen(bytes: &[u8]) -> (Seen<'_>, &[u8]) {
    let (seen, len) = seen_header(bytes);
    (seen, &bytes[len..])
}

/// The length of the seen-updates header at the start of `bytes` (0 when there is none), and
/// whether `id` is among its ids.
pub(crate) fn scan_seen(bytes: &[u8], id: Option<i64>) -> (usize, bool) {
    let (seen, len) = seen_header(bytes);
    (len, id.is_some_and(|id| seen.contains(id)))
}

/// Appends the seen-updates header for `newest` to `out`, followed by the largest `remember -
/// 1` ids remembered in `out[previous]` (a seen-updates header already in `out`, or an empty
/// range), which must not contain `newest`. Appends nothing when `remember` is 0.
///
/// The usual update is newer than every remembered id: then only the largest of them is read
/// (it becomes a distance from `newest`), and the distances after it are copied as they are.
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
    let (seen, _) = seen_header(&out[previous.clone()]);
    let ids_at = previous.start + SEEN_PREFIX;
    let ids_end = ids_at + seen.ids.len();
    let largest = read_varint(seen.ids).map(|(value, used)| (unzigzag(value), used));
    // Older than the largest (updates of one chat applied out of order): rare, so decoded,
    // placed and encoded again below.
    let out_of_order = match largest {
        Some((largest, _)) if newest <= largest => {
            let mut ids: Vec<i64> = seen.iter().filter(|&id| id != newest).collect();
            ids.truncate(remember - 1);
            let at = ids.partition_point(|&id| id > newest);
            ids.insert(at, newest);
            Some(ids)
        }
        _ => None,
    };
    let start = out.len();
    out.extend_from_slice(&SEEN_MAGIC);
    out.push(0);
    match (largest, out_of_order) {
        (_, Some(ids)) => {
            let mut before = None;
            for id in ids {
                match before {
                    None => write_varint(zigzag(id), out),
                    Some(before) => write_varint(i64::wrapping_sub(before, id) as u64, out),
                }
                before = Some(id);
            }
        }
        (Some((largest, used)), None) if remember > 1 => {
            write_varint(zigzag(newest), out);
            write_varint(newest.wrapping_sub(largest) as u64, out);
            // Keep the distances of the next `remember - 2` ids: each ends in a byte without
            // the continuation bit.
            let rest = &out[ids_at + used..ids_end];
            let mut kept = 0;
            let mut ends = 0;
            while kept < remember - 2 && ends < rest.len() {
                if rest[ends] & 0x80 == 0 {
                    kept += 1;
                }
                ends += 1;
            }
            out.extend_from_within(ids_at + used..ids_at + used + ends);
        }
        _ => write_varint(zigzag(newest), out),
    }
    // At most MAX_REMEMBERED ids of at most 10 bytes: the length fits a byte.
    out[start + SEEN_MAGIC.len()] = (out.len() - start - SEEN_PREFIX) as u8;
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

    /// Appends the header of each id in turn, each after the previous header in one buffer
    /// (as write-back does), and returns the last header.
    fn remember_in_turn(ids: &[i64], remember: usize) -> Vec<u8> {
        let mut buffer = Vec::new();
        let mut previous = 0..0;
        for &id in ids {
            let start = buffer.len();
            append_seen(id, previous, remember, &mut buffer);
            previous = start..buffer.len();
        }
        buffer[previous].to_vec()
    }

    fn remembered(header: &[u8]) -> Vec<i64> {
        let (seen, rest) = split_seen(header);
        assert!(rest.is_empty(), "the header ends where its length says");
        seen.iter().collect()
    }

    #[test]
    fn seen_updates_keep_the_newest_and_the_largest_others() {
        let mut first = Vec::new();
        append_seen(1_000_005, 0..0, 3, &mut first);
        write_header(2, &mut first);
        first.extend_from_slice(b"{}");
        let (seen, rest) = split_seen(&first);
        assert_eq!(seen.iter().collect::<Vec<_>>(), [1_000_005]);
        assert_eq!(split(rest), (2, &b"{}"[..]));

        // In order: the latest three, largest first.
        let header = remember_in_turn(&[10, 20, 30, 40, 50], 3);
        assert_eq!(remembered(&header), [50, 40, 30]);
        assert_eq!(scan_seen(&header, Some(40)), (header.len(), true));
        assert_eq!(scan_seen(&header, Some(60)), (header.len(), false));
        assert_eq!(scan_seen(&header, Some(35)), (header.len(), false));
        assert_eq!(scan_seen(&header, Some(20)), (header.len(), false));
        assert_eq!(scan_seen(&header, None), (header.len(), false));

        // Out of order: an older update is kept (its redelivery must be recognized), with the
        // largest of the others.
        assert_eq!(
            remembered(&remember_in_turn(&[50, 40, 30, 45], 3)),
            [50, 45, 40]
        );
        assert_eq!(
            remembered(&remember_in_turn(&[50, 40, 30, 20], 3)),
            [50, 40, 20]
        );
        assert_eq!(
            remembered(&remember_in_turn(&[5, 1_000_000, 7], 16)),
            [1_000_000, 7, 5]
        );

        // Extremes and distances past i64: modular, exact.
        let extremes = remember_in_turn(&[i64::MIN, -7, 0, i64::MAX], 16);
        assert_eq!(remembered(&extremes), [i64::MAX, 0, -7, i64::MIN]);
        assert!(scan_seen(&extremes, Some(i64::MIN)).1);

        // At most MAX_REMEMBERED, and nothing for 0.
        let many: Vec<i64> = (0..40).map(|i| i * 1_000_003).collect();
        let header = remember_in_turn(&many, 99);
        assert_eq!(remembered(&header).len(), MAX_REMEMBERED);
        assert_eq!(remembered(&header)[0], 39 * 1_000_003);
        let mut none = Vec::new();
        append_seen(1, 0..0, 0, &mut none);
        assert!(none.is_empty());
        assert_eq!(scan_seen(b"{}", Some(8)), (0, false));
    }

    #[test]
    fn the_usual_update_reads_one_remembered_id() {
        // Every update newer than those remembered: the copied distances stay exact.
        let ids: Vec<i64> = (1..=200).map(|i| i * i * 37).collect();
        for remember in 1..=MAX_REMEMBERED {
            let header = remember_in_turn(&ids, remember);
            let want: Vec<i64> = ids.iter().rev().take(remember).copied().collect();
            assert_eq!(remembered(&header), want, "remember {remember}");
        }
    }

    #[test]
    fn bytes_without_seen_updates_remember_nothing() {
        for bytes in [
            &b"{\"count\":1}"[..],
            b"",
            b"\xFFbsu",
            b"\xFFbsu\x02\x80",
            b"\xFFbsu\x00",
            b"\xFFbsu\x02\x01\x81{}",
        ] {
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
