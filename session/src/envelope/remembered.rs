//! The remembered-updates header: the ids of the updates that changed a session, each with
//! the replies its handler kept (see `Context::reply_after_commit`), so that an update
//! delivered again is recognized, is not applied twice, and is answered as the first time.
//!
//! Layout: `MAGIC`, the length of the entries (u32, little-endian), how many there are (u8),
//! flags (u8: bit 0, entries carry replies), then the entries, largest id first. The first id
//! is a zigzag varint, each later one the varint of its distance from the one before (ids of
//! one chat are close together, so most take one to three bytes). With replies, each id is
//! followed by the varint length of its replies and their bytes.
//!
//! Which ids are kept (see [`append`]): the ids newer than the delivery source's confirmed
//! offset (an update at or below it can never come again), at most `remember` of them, the
//! largest; the update being written is always among them. The usual update is newer than every
//! id remembered and no offset was ever confirmed (a bot fed by hand): then the header is built
//! by writing the new id and copying the old entries as they are.
//!
//! Bytes written by earlier builds start with `LEGACY_MAGIC`: one length byte, then ids as
//! above without replies. They are read, and rewritten in the current layout at the next
//! change.

use std::ops::Range;

const MAGIC: [u8; 4] = [0xFF, b'b', b's', b'r'];
/// The magic, the entries' length, the count and the flags.
const PREFIX: usize = MAGIC.len() + 4 + 1 + 1;
const LEGACY_MAGIC: [u8; 4] = [0xFF, b'b', b's', b'u'];
const LEGACY_PREFIX: usize = LEGACY_MAGIC.len() + 1;
const HAS_REPLIES: u8 = 1;

/// The most update ids a session remembers (the count is one byte).
pub(crate) const MAX_REMEMBERED: usize = 255;
/// What no confirmed offset is written as: every id is newer.
pub(crate) const NOTHING_CONFIRMED: i64 = i64::MIN;

/// One remembered update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// The update id.
    pub(crate) id: i64,
    /// The replies its handler kept (empty when none).
    pub(crate) replies: &'a [u8],
    /// Where the replies start, from the start of the entries.
    replies_at: usize,
}

/// The remembered updates of a session's stored bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Remembered<'a> {
    entries: &'a [u8],
    count: usize,
    has_replies: bool,
    /// The layout of earlier builds: ids only, and no count.
    legacy: bool,
}

impl<'a> Remembered<'a> {
    /// The remembered updates, largest id first. Stops at bytes that do not decode.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let entries = self.entries;
        let has_replies = self.has_replies;
        let mut at = 0;
        let mut previous: Option<i64> = None;
        std::iter::from_fn(move || {
            let (value, used) = read_varint(&entries[at..])?;
            at += used;
            let id = match previous {
                None => unzigzag(value),
                Some(previous) => previous.wrapping_sub(value as i64),
            };
            previous = Some(id);
            let (replies, replies_at) = if has_replies {
                let (len, used) = read_varint(&entries[at..])?;
                let start = at + used;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                let replies = entries.get(start..end)?;
                at = end;
                (replies, start)
            } else {
                (&[][..], at)
            };
            Some(Entry {
                id,
                replies,
                replies_at,
            })
        })
    }

    /// The entry of `id`, if remembered: stops at the first remembered id not larger than it.
    pub(crate) fn find(&self, id: i64) -> Option<Entry<'a>> {
        // The usual update is newer than every remembered one: the first id, the largest,
        // tells without walking the entries.
        if !self.legacy
            && let Some((largest, _)) = self.largest()
            && largest < id
        {
            return None;
        }
        self.iter()
            .find(|entry| entry.id <= id)
            .filter(|entry| entry.id == id)
    }

    /// How many updates are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        if self.legacy {
            self.iter().count()
        } else {
            self.count
        }
    }

    /// The largest remembered id and the bytes its varint takes, for the current layout.
    fn largest(&self) -> Option<(i64, usize)> {
        read_varint(self.entries).map(|(value, used)| (unzigzag(value), used))
    }
}

/// The header at the start of `bytes` and its length in bytes (0, remembering nothing, when
/// there is none). Entries that do not fit in the bytes are no header.
pub(crate) fn header(bytes: &[u8]) -> (Remembered<'_>, usize) {
    if bytes.len() >= PREFIX && bytes[..MAGIC.len()] == MAGIC {
        let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let count = usize::from(bytes[8]);
        if let Some(entries) = bytes.get(PREFIX..PREFIX.saturating_add(len))
            && count > 0
            && !entries.is_empty()
        {
            let remembered = Remembered {
                entries,
                count,
                has_replies: bytes[9] & HAS_REPLIES != 0,
                legacy: false,
            };
            return (remembered, PREFIX + len);
        }
    } else if bytes.len() >= LEGACY_PREFIX && bytes[..LEGACY_MAGIC.len()] == LEGACY_MAGIC {
        let len = LEGACY_PREFIX + usize::from(bytes[LEGACY_MAGIC.len()]);
        if let Some(ids @ [.., last]) = bytes.get(LEGACY_PREFIX..len)
            && last & 0x80 == 0
        {
            let remembered = Remembered {
                entries: ids,
                count: 0,
                has_replies: false,
                legacy: true,
            };
            return (remembered, len);
        }
    }
    (Remembered::default(), 0)
}

/// Splits stored bytes into the updates they remember and the rest (version header and
/// payload).
pub(crate) fn split(bytes: &[u8]) -> (Remembered<'_>, &[u8]) {
    let (remembered, len) = header(bytes);
    (remembered, &bytes[len..])
}

/// The length of the header at the start of `bytes`, and the entry of `id` when it is
/// remembered.
pub(crate) fn scan(bytes: &[u8], id: Option<i64>) -> (usize, Option<Entry<'_>>) {
    let (remembered, len) = header(bytes);
    (len, id.and_then(|id| remembered.find(id)))
}

/// Appends to `out` the header that remembers `newest` with `replies`, and of the updates
/// remembered in `out[previous]` (a header already in `out`, or an empty range) those newer
/// than `confirmed`, keeping at most `remember` ids, the largest, `newest` always among them.
/// Appends nothing when `remember` is 0.
pub(crate) fn append(
    newest: i64,
    replies: &[u8],
    previous: Range<usize>,
    remember: usize,
    confirmed: i64,
    out: &mut Vec<u8>,
) {
    let remember = remember.min(MAX_REMEMBERED);
    if remember == 0 {
        return;
    }
    let (old, old_len) = header(&out[previous.clone()]);
    let entries_at = previous.start + (old_len - old.entries.len());
    let entries = match old.largest() {
        // Nothing remembered yet; or the usual update of a bot that confirms what it fetched:
        // the chat's last update came in a batch confirmed since, so every id remembered is
        // dropped.
        None => Entries::Alone,
        Some((largest, _)) if !old.legacy && largest <= confirmed => Entries::Alone,
        // The usual update when nothing is confirmed, newer than every remembered id, with
        // nothing to drop: the old entries are copied behind the new one as they are, the
        // largest now a distance.
        Some((largest, used))
            if !old.legacy
                && newest > largest
                && confirmed == NOTHING_CONFIRMED
                && old.count < remember
                && (old.has_replies || replies.is_empty()) =>
        {
            Entries::Copied {
                largest,
                rest: entries_at + used..entries_at + old.entries.len(),
                count: old.count,
            }
        }
        // Otherwise re-encoded one by one: old ids at or below `confirmed`, or past
        // `remember`, are dropped, and `newest` goes where its order puts it.
        _ => Entries::Rewritten(
            old.iter()
                .take_while(|entry| entry.id > confirmed)
                .filter(|entry| entry.id != newest)
                .take(remember - 1)
                .map(|entry| {
                    let at = entries_at + entry.replies_at;
                    (entry.id, at..at + entry.replies.len())
                })
                .collect(),
        ),
    };
    let has_replies =
        !replies.is_empty() || (old.has_replies && !matches!(entries, Entries::Alone));
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0, 0, 0, 0, 0, if has_replies { HAS_REPLIES } else { 0 }]);
    let count = match entries {
        Entries::Alone => {
            write_varint(zigzag(newest), out);
            if has_replies {
                write_replies(replies, out);
            }
            1
        }
        Entries::Copied {
            largest,
            rest,
            count,
        } => {
            write_varint(zigzag(newest), out);
            if has_replies {
                write_replies(replies, out);
            }
            write_varint(newest.wrapping_sub(largest) as u64, out);
            out.extend_from_within(rest);
            count + 1
        }
        Entries::Rewritten(kept) => {
            rewrite(newest, replies, &kept, has_replies, out);
            kept.len() + 1
        }
    };
    finish(start, count, out);
}

/// Which entries the header [`append`] writes has besides the newest.
enum Entries {
    /// None: the newest is alone.
    Alone,
    /// The old entries after the largest, `rest` (a range of the output buffer), copied as
    /// they are behind the newest and the distance to `largest`; `count` of them in all.
    Copied {
        largest: i64,
        rest: Range<usize>,
        count: usize,
    },
    /// These, each with the range of its replies in the output buffer, re-encoded around the
    /// newest in order.
    Rewritten(Vec<(i64, Range<usize>)>),
}

/// Writes the entries of `kept` (largest first, each with the range of its replies in `out`)
/// and `newest` in order, after the header's prefix.
fn rewrite(
    newest: i64,
    replies: &[u8],
    kept: &[(i64, Range<usize>)],
    has_replies: bool,
    out: &mut Vec<u8>,
) {
    let at = kept.partition_point(|(id, _)| *id > newest);
    let mut previous: Option<i64> = None;
    let mut write_entry = |id: i64, replies: EntryReplies<'_>, out: &mut Vec<u8>| {
        match previous {
            None => write_varint(zigzag(id), out),
            Some(previous) => write_varint(previous.wrapping_sub(id) as u64, out),
        }
        previous = Some(id);
        if has_replies {
            match replies {
                EntryReplies::Given(bytes) => write_replies(bytes, out),
                EntryReplies::Within(range) => {
                    write_varint(range.len() as u64, out);
                    out.extend_from_within(range);
                }
            }
        }
    };
    for (id, range) in &kept[..at] {
        write_entry(*id, EntryReplies::Within(range.clone()), out);
    }
    write_entry(newest, EntryReplies::Given(replies), out);
    for (id, range) in &kept[at..] {
        write_entry(*id, EntryReplies::Within(range.clone()), out);
    }
}

/// Where an entry's replies are: given, or already in the output buffer (the old header).
enum EntryReplies<'a> {
    Given(&'a [u8]),
    Within(Range<usize>),
}

fn write_replies(replies: &[u8], out: &mut Vec<u8>) {
    write_varint(replies.len() as u64, out);
    out.extend_from_slice(replies);
}

/// Fills in the length and count of the header that starts at `start`.
fn finish(start: usize, count: usize, out: &mut [u8]) {
    // At most 255 entries whose replies `Context::reply_after_commit` bounds: far below 4 GiB.
    let len = u32::try_from(out.len() - start - PREFIX).unwrap_or(u32::MAX);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    // `append` keeps at most MAX_REMEMBERED (255) entries.
    out[start + 8] = u8::try_from(count).unwrap_or(u8::MAX);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

pub(crate) fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A varint and how many bytes it took; `None` when the bytes end inside it or it is longer
/// than a `u64`'s.
pub(crate) fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    // Ids of one chat take one to three bytes: those without the loop.
    match *bytes {
        [a, ..] if a < 0x80 => return Some((u64::from(a), 1)),
        [a, b, ..] if b < 0x80 => return Some((u64::from(a & 0x7F) | u64::from(b) << 7, 2)),
        [a, b, c, ..] if c < 0x80 => {
            let value = u64::from(a & 0x7F) | u64::from(b & 0x7F) << 7 | u64::from(c) << 14;
            return Some((value, 3));
        }
        _ => {}
    }
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends the header of each id in turn, each after the previous header in one buffer
    /// (as write-back does), and returns the last header.
    fn remember_in_turn(ids: &[i64], remember: usize, confirmed: i64) -> Vec<u8> {
        remember_replies_in_turn(
            &ids.iter().map(|&id| (id, &b""[..])).collect::<Vec<_>>(),
            remember,
            confirmed,
        )
    }

    fn remember_replies_in_turn(
        entries: &[(i64, &[u8])],
        remember: usize,
        confirmed: i64,
    ) -> Vec<u8> {
        let mut buffer = Vec::new();
        let mut previous = 0..0;
        for &(id, replies) in entries {
            let start = buffer.len();
            append(id, replies, previous, remember, confirmed, &mut buffer);
            previous = start..buffer.len();
        }
        buffer[previous].to_vec()
    }

    fn remembered(header: &[u8]) -> Vec<i64> {
        let (remembered, rest) = split(header);
        assert!(rest.is_empty(), "the header ends where its length says");
        let ids: Vec<i64> = remembered.iter().map(|entry| entry.id).collect();
        assert_eq!(ids.len(), remembered.len(), "the count matches the entries");
        ids
    }

    #[test]
    fn the_latest_ids_are_kept_largest_first() {
        let header = remember_in_turn(&[10, 20, 30, 40, 50], 3, NOTHING_CONFIRMED);
        assert_eq!(remembered(&header), [50, 40, 30]);
        assert_eq!(scan(&header, Some(40)).1.map(|e| e.id), Some(40));
        assert_eq!(scan(&header, Some(60)), (header.len(), None));
        assert_eq!(scan(&header, Some(35)).1, None);
        assert_eq!(scan(&header, Some(20)).1, None);
        assert_eq!(scan(&header, None), (header.len(), None));
    }

    #[test]
    fn a_whole_batch_of_one_chat_is_remembered() {
        let ids: Vec<i64> = (1..=100).map(|i| 5_000 + i).collect();
        let header = remember_in_turn(&ids, 100, NOTHING_CONFIRMED);
        let want: Vec<i64> = ids.iter().rev().copied().collect();
        assert_eq!(remembered(&header), want);
        for id in &ids {
            assert!(scan(&header, Some(*id)).1.is_some(), "{id} is recognized");
        }
        // One byte a distance: 100 ids in about 100 bytes.
        assert!(header.len() < PREFIX + 110, "{}", header.len());
    }

    #[test]
    fn confirmed_ids_are_dropped() {
        let header = remember_in_turn(&[10, 20, 30], 100, NOTHING_CONFIRMED);
        let mut buffer = header.clone();
        append(40, b"", 0..buffer.len(), 100, 25, &mut buffer);
        assert_eq!(remembered(&buffer[header.len()..]), [40, 30]);
        // Everything confirmed: the new id alone.
        let mut buffer = header.clone();
        append(40, b"", 0..buffer.len(), 100, 35, &mut buffer);
        assert_eq!(remembered(&buffer[header.len()..]), [40]);
    }

    #[test]
    fn a_header_whose_ids_are_all_confirmed_keeps_the_newest_alone_with_its_replies() {
        let header = remember_replies_in_turn(&[(10, b"hi"), (20, b"")], 100, NOTHING_CONFIRMED);
        let mut buffer = header.clone();
        append(30, b"", 0..buffer.len(), 100, 20, &mut buffer);
        let alone = &buffer[header.len()..];
        assert_eq!(remembered(alone), [30]);
        assert_eq!(
            alone[9] & HAS_REPLIES,
            0,
            "no entry carries replies any more"
        );
        let mut buffer = header.clone();
        append(30, b"yo", 0..buffer.len(), 100, 20, &mut buffer);
        let (kept, rest) = split(&buffer[header.len()..]);
        assert!(rest.is_empty());
        let entries: Vec<(i64, &[u8])> = kept.iter().map(|e| (e.id, e.replies)).collect();
        assert_eq!(entries, [(30, &b"yo"[..])]);
    }

    #[test]
    fn out_of_order_updates_are_placed_and_kept() {
        assert_eq!(
            remembered(&remember_in_turn(&[50, 40, 30, 45], 3, NOTHING_CONFIRMED)),
            [50, 45, 40]
        );
        assert_eq!(
            remembered(&remember_in_turn(&[50, 40, 30, 20], 3, NOTHING_CONFIRMED)),
            [50, 40, 20]
        );
        assert_eq!(
            remembered(&remember_in_turn(&[5, 1_000_000, 7], 16, NOTHING_CONFIRMED)),
            [1_000_000, 7, 5]
        );
        // A repeated id is kept once.
        assert_eq!(
            remembered(&remember_in_turn(&[5, 9, 5], 16, NOTHING_CONFIRMED)),
            [9, 5]
        );
    }

    /// One to three bytes are read without the loop, longer varints with it: each length at
    /// its bounds, and a varint cut short at every length.
    #[test]
    fn varints_of_every_length_round_trip() {
        let bounds = [
            0,
            127,
            128,
            16_383,
            16_384,
            (1 << 21) - 1,
            1 << 21,
            1 << 28,
            u64::MAX,
        ];
        for value in bounds {
            let mut out = Vec::new();
            write_varint(value, &mut out);
            assert_eq!(read_varint(&out), Some((value, out.len())), "{value}");
            out.push(0x7F);
            assert_eq!(
                read_varint(&out),
                Some((value, out.len() - 1)),
                "{value}, followed"
            );
            out.pop();
            for cut in 0..out.len() {
                assert_eq!(read_varint(&out[..cut]), None, "{value} cut to {cut} bytes");
            }
        }
    }

    #[test]
    fn extremes_are_exact() {
        let extremes = remember_in_turn(&[i64::MIN + 1, -7, 0, i64::MAX], 16, NOTHING_CONFIRMED);
        assert_eq!(remembered(&extremes), [i64::MAX, 0, -7, i64::MIN + 1]);
        assert!(scan(&extremes, Some(i64::MIN + 1)).1.is_some());
    }

    #[test]
    fn at_most_the_limit_and_nothing_for_zero() {
        let many: Vec<i64> = (0..400).map(|i| i * 1_000_003).collect();
        let header = remember_in_turn(&many, 999, NOTHING_CONFIRMED);
        assert_eq!(remembered(&header).len(), MAX_REMEMBERED);
        assert_eq!(remembered(&header)[0], 399 * 1_000_003);
        let mut none = Vec::new();
        append(1, b"", 0..0, 0, NOTHING_CONFIRMED, &mut none);
        assert!(none.is_empty());
        assert_eq!(scan(b"{}", Some(8)), (0, None));
    }

    #[test]
    fn replies_stay_with_their_update() {
        let header = remember_replies_in_turn(
            &[(10, b"#1"), (20, b""), (30, b"#3"), (25, b"late")],
            100,
            NOTHING_CONFIRMED,
        );
        let (remembered, _) = split(&header);
        let entries: Vec<(i64, &[u8])> = remembered.iter().map(|e| (e.id, e.replies)).collect();
        assert_eq!(
            entries,
            [(30, &b"#3"[..]), (25, b"late"), (20, b""), (10, b"#1")]
        );
        assert_eq!(
            scan(&header, Some(10)).1.map(|e| e.replies),
            Some(&b"#1"[..])
        );
        // Later updates without replies keep the earlier ones' replies.
        let header = remember_replies_in_turn(&[(10, b"#1"), (20, b"")], 100, NOTHING_CONFIRMED);
        assert_eq!(
            scan(&header, Some(10)).1.map(|e| e.replies),
            Some(&b"#1"[..])
        );
    }

    #[test]
    fn the_layout_of_earlier_builds_is_read_and_rewritten() {
        // 0xFF "bsu", 2 bytes of ids: 50 (zigzag 100), then a distance of 10.
        let legacy = [0xFF, b'b', b's', b'u', 2, 100, 10, b'{', b'}'];
        let (remembered, rest) = split(&legacy);
        assert_eq!(
            remembered.iter().map(|e| e.id).collect::<Vec<_>>(),
            [50, 40]
        );
        assert_eq!(rest, b"{}");
        assert!(scan(&legacy, Some(40)).1.is_some());
        let mut buffer = legacy[..7].to_vec();
        append(60, b"", 0..7, 100, NOTHING_CONFIRMED, &mut buffer);
        assert_eq!(self::remembered(&buffer[7..]), [60, 50, 40]);
    }

    #[test]
    fn bytes_without_a_header_remember_nothing() {
        for bytes in [
            &b"{\"count\":1}"[..],
            b"",
            b"\xFFbsu",
            b"\xFFbsu\x02\x80",
            b"\xFFbsu\x00",
            b"\xFFbsr\x05\x00\x00\x00\x01\x00\x01",
            b"\xFFbsr\x00\x00\x00\x00\x00\x00",
        ] {
            let (remembered, rest) = split(bytes);
            assert_eq!(remembered.iter().count(), 0);
            assert_eq!(rest, bytes);
        }
    }
}
