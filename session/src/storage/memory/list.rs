//! Listing the memory store: shard after shard, each in key order.
//!
//! A key's shard follows from its hash, fixed for the store's life, so a key is only ever in
//! one shard, and listing the shards one after the other in key order lists each key once.
//! The cursor is the shard and the last key listed in it. A page locks one shard at a time,
//! while it picks that shard's next keys: it reads the shard's records once (a store of a
//! million sessions has about 16,000 a shard) and copies out only the page's.

use std::ops::Range;
use std::time::Duration;

use super::{EXPIRES, MemoryStorage, SHARDS, Shard};
use crate::error::StorageError;
use crate::storage::list::{bad_cursor, page_size};
use crate::storage::{ListCursor, ListPage, ListedSession};
use crate::sync::lock;

/// Starts the memory store's cursors: `m:<shard>` (from the start of that shard) or
/// `m:<shard>:<key>` (after that key in it).
const TAG: &str = "m:";

/// Where a listing of the memory store resumes.
struct Position {
    shard: usize,
    after: Option<String>,
}

impl Position {
    fn parse(cursor: &ListCursor) -> Result<Position, StorageError> {
        if cursor.is_start() {
            return Ok(Position {
                shard: 0,
                after: None,
            });
        }
        let invalid = || bad_cursor("memory", cursor);
        let rest = cursor.as_str().strip_prefix(TAG).ok_or_else(invalid)?;
        let (shard, after) = match rest.split_once(':') {
            Some((shard, key)) => (shard, Some(key.to_owned())),
            None => (rest, None),
        };
        let shard = shard
            .parse()
            .ok()
            .filter(|&shard| shard < SHARDS)
            .ok_or_else(invalid)?;
        Ok(Position { shard, after })
    }

    fn cursor(&self) -> ListCursor {
        ListCursor::from_string(match &self.after {
            Some(key) => format!("{TAG}{}:{key}", self.shard),
            None => format!("{TAG}{}", self.shard),
        })
    }
}

impl MemoryStorage {
    /// One page of [`Storage::list`](crate::Storage::list).
    pub(super) fn list_page(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let limit = page_size(limit);
        let mut at = Position::parse(cursor)?;
        let mut sessions = Vec::new();
        while at.shard < SHARDS {
            let now = self.now();
            let more = lock(&self.inner.shards[at.shard]).page(
                prefix,
                at.after.as_deref(),
                limit - sessions.len(),
                now,
                &mut sessions,
            );
            if more {
                at.after = sessions.last().map(|session| session.key.clone());
                return Ok(ListPage {
                    sessions,
                    next: Some(at.cursor()),
                });
            }
            at = Position {
                shard: at.shard + 1,
                after: None,
            };
            if sessions.len() == limit {
                break;
            }
        }
        Ok(ListPage {
            sessions,
            next: (at.shard < SHARDS).then(|| at.cursor()),
        })
    }
}

impl MemoryStorage {
    /// [`Storage::inspect`](crate::Storage::inspect): one key, found by its hash.
    pub(super) fn inspect_entry(&self, key: &str) -> Option<ListedSession> {
        let now = self.now();
        let (hash, mut shard) = self.shard(key);
        let record = shard.find(hash, key.as_bytes()).filter(|r| r.live(now))?;
        Some(listed(&shard.arena, &record, now))
    }
}

/// A record as a listing shows it.
fn listed(arena: &[u8], record: &super::Record, now: u64) -> ListedSession {
    ListedSession {
        // Keys are written from `&str`.
        key: String::from_utf8_lossy(&arena[record.key.clone()]).into_owned(),
        value: arena[record.value.clone()].to_vec(),
        time_left: (record.flags & EXPIRES != 0)
            .then(|| Duration::from_millis(record.expires_at.saturating_sub(now))),
    }
}

impl Shard {
    /// Appends to `out` the shard's first `room` live sessions (in key order) under `prefix`
    /// and after `after`; whether the shard has more of them.
    fn page(
        &self,
        prefix: &str,
        after: Option<&str>,
        room: usize,
        now: u64,
        out: &mut Vec<ListedSession>,
    ) -> bool {
        let arena = &self.arena;
        let key_of = |range: &Range<usize>| &arena[range.clone()];
        // The records that qualify, as their key's range and their offset.
        let mut found: Vec<(Range<usize>, usize)> = self
            .live_records(now)
            .filter(|record| {
                let key = &arena[record.key.clone()];
                key.starts_with(prefix.as_bytes())
                    && after.is_none_or(|after| key > after.as_bytes())
            })
            .map(|record| (record.key, record.at))
            .collect();
        let more = found.len() > room;
        if more {
            found.select_nth_unstable_by(room, |a, b| key_of(&a.0).cmp(key_of(&b.0)));
            found.truncate(room);
        }
        found.sort_unstable_by(|a, b| key_of(&a.0).cmp(key_of(&b.0)));
        out.extend(
            found
                .into_iter()
                .map(|(_, at)| listed(arena, &super::parse(arena, at), now)),
        );
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;
    use crate::{ManualClock, StorageErrorKind};

    async fn all(store: &MemoryStorage, prefix: &str, limit: usize) -> Vec<ListedSession> {
        let mut cursor = ListCursor::start();
        let mut listed = Vec::new();
        for _ in 0..10_000 {
            let page = store.list(prefix, &cursor, limit).await.unwrap();
            assert!(page.sessions.len() <= limit);
            listed.extend(page.sessions);
            match page.next {
                Some(next) => cursor = next,
                None => return listed,
            }
        }
        panic!("the listing never ended");
    }

    #[tokio::test]
    async fn every_session_under_the_prefix_once_with_its_time_left() {
        let clock = ManualClock::default();
        let store = MemoryStorage::with_clock(clock.clone());
        for i in 0..500 {
            let ttl = (i % 2 == 0).then(|| Duration::from_secs(60));
            store
                .write(&format!("a:{i}"), i.to_string().as_bytes(), ttl)
                .await
                .unwrap();
        }
        store.write("b:1", b"other", None).await.unwrap();
        store
            .write("a:expired", b"x", Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(10));
        for limit in [1, 7, 500, 10_000] {
            let mut listed = all(&store, "a:", limit).await;
            listed.sort_by(|a, b| a.key.cmp(&b.key));
            assert_eq!(listed.len(), 500, "limit {limit}");
            listed.dedup_by(|a, b| a.key == b.key);
            assert_eq!(listed.len(), 500, "a key was listed twice (limit {limit})");
            for session in &listed {
                let i: usize = session.key[2..].parse().unwrap();
                assert_eq!(session.value, i.to_string().into_bytes());
                let expected = i.is_multiple_of(2).then(|| Duration::from_secs(50));
                assert_eq!(session.time_left, expected, "{}", session.key);
            }
        }
        assert_eq!(all(&store, "", 100).await.len(), 501);
        let one = store.inspect("a:4").await.unwrap().unwrap();
        assert_eq!(
            (one.value, one.time_left),
            (b"4".to_vec(), Some(Duration::from_secs(50)))
        );
        assert_eq!(store.inspect("a:expired").await.unwrap(), None);
        assert_eq!(store.inspect("a:").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_cursor_of_another_store_kind_is_refused() {
        let store = MemoryStorage::new();
        for bad in ["k:x", "m:64", "m:x", "m:"] {
            let err = store
                .list("", &ListCursor::from_string(bad), 10)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StorageErrorKind::Invalid, "{bad}");
        }
    }
}
