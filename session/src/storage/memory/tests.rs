//! The memory store's unit tests: expiry on a manual clock, the arena, the sweep, shards.

use super::*;
use crate::clock::ManualClock;

#[tokio::test]
async fn expired_entries_read_as_missing_and_are_swept() {
    let clock = ManualClock::default();
    let store = MemoryStorage::with_clock(clock.clone());
    store
        .write("a", b"1", Some(Duration::from_secs(10)))
        .await
        .unwrap();
    store.write("b", b"2", None).await.unwrap();
    clock.advance(Duration::from_secs(9));
    assert_eq!(store.read("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.read("a").await.unwrap(), None);
    store
        .write("c", b"3", Some(Duration::from_secs(1)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(5));
    assert_eq!(store.len(), 2, "c is expired but not yet swept");
    assert_eq!(store.purge_expired(), 1);
    assert_eq!(store.keys(), vec!["b".to_string()]);
}

#[tokio::test]
async fn periodic_sweep_bounds_dead_entries() {
    let clock = ManualClock::default();
    let store = MemoryStorage::with_clock(clock.clone());
    for i in 0..(SWEEP_EVERY * SHARDS * 2) {
        store
            .write(&format!("k{i}"), b"x", Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(Duration::from_millis(2));
    }
    // Each shard was swept about twice during the writes, so entries that expired long
    // ago are gone.
    assert!(
        store.len() < SWEEP_EVERY * SHARDS * 2,
        "nothing was swept: {}",
        store.len()
    );
}

#[tokio::test]
async fn rewrites_of_every_shape_keep_the_latest_value() {
    let clock = ManualClock::default();
    let store = MemoryStorage::with_clock(clock.clone());
    let ttl = Some(Duration::from_secs(10));
    for round in 0..200u32 {
        for key in ["a", "b", "c"] {
            // Same length, longer, shorter, with and without expiry: in place and moved.
            let value = format!("{key}{}", "x".repeat((round % 7) as usize));
            let ttl = if round % 3 == 0 { ttl } else { None };
            store.write(key, value.as_bytes(), ttl).await.unwrap();
        }
        if round % 50 == 0 {
            store.delete("b").await.unwrap();
        }
    }
    for key in ["a", "b", "c"] {
        let want = format!("{key}{}", "x".repeat(199 % 7));
        assert_eq!(
            store.read(key).await.unwrap().as_deref(),
            Some(want.as_bytes())
        );
    }
    assert_eq!(store.len(), 3);
    assert_eq!(store.payload_bytes(), 3 * (2 + 199 % 7));
    // About 6 KB were written, but dead records are compacted away instead of growing
    // the arenas: each stays at its first size.
    let capacity: usize = store
        .inner
        .shards
        .iter()
        .map(|s| lock(s).arena.capacity())
        .sum();
    assert!(
        capacity <= 3 * (MIN_GROWTH + 64),
        "the arenas hold {capacity} bytes for 3 small entries"
    );
}

/// The arena bytes of the shard that holds `key`, and how many of them are dead.
fn arena_of(store: &MemoryStorage, key: &str) -> (usize, usize) {
    let (_, shard) = store.shard(key);
    (shard.arena.len(), shard.dead)
}

#[test]
fn a_value_whose_length_wanders_settles_into_one_record() {
    let store = MemoryStorage::new();
    let write = |len: usize| {
        let value = vec![b'v'; len];
        store.write_entry("k", &value, None).unwrap();
        assert_eq!(store.read_entry("k").as_deref(), Some(&value[..]), "{len}");
    };
    write(30);
    let first = arena_of(&store, "k");
    assert_eq!(first.1, 0);
    // Within the slack it was given (half its length, at least SLACK_MIN bytes, up to a
    // multiple of 8: room for 48): rewritten where it is.
    for len in [31, 33, 29, 34, 31, 48, 30, 32] {
        write(len);
        assert_eq!(arena_of(&store, "k"), first, "{len} bytes moved the record");
    }
    write(49);
    let moved = arena_of(&store, "k");
    assert_eq!(
        moved.1, first.0,
        "outgrown: moved, the first record is dead"
    );
    write(41);
    assert_eq!(arena_of(&store, "k"), moved, "within the new record's room");
    assert_eq!(store.len(), 1);
    assert_eq!(store.payload_bytes(), 1 + 41);
}

#[test]
fn a_length_whose_varint_grows_moves_the_record() {
    let store = MemoryStorage::new();
    for len in [126, 125, 127, 128, 127, 129, 300, 126, 0, 1] {
        let value = vec![b'v'; len];
        store.write_entry("k", &value, None).unwrap();
        assert_eq!(store.read_entry("k").as_deref(), Some(&value[..]), "{len}");
    }
    // Compaction keeps each record's slack and what follows it readable.
    for i in 0..400 {
        let value = vec![b'w'; 100 + i % 40];
        store
            .write_entry(&format!("k{}", i % 5), &value, None)
            .unwrap();
    }
    for k in 0..5 {
        let want = vec![b'w'; 100 + (395 + k) % 40];
        assert_eq!(
            store.read_entry(&format!("k{k}")).as_deref(),
            Some(&want[..])
        );
    }
}

#[tokio::test]
async fn fast_paths_agree_with_the_async_methods() {
    let store = MemoryStorage::new();
    let mut out = b"kept".to_vec();
    assert!(!store.read_now("k", &mut out).unwrap().unwrap());
    store
        .commit_now("k", Change::Write(b"value", None))
        .unwrap()
        .unwrap();
    assert!(store.read_now("k", &mut out).unwrap().unwrap());
    assert_eq!(out, b"keptvalue");
    assert_eq!(
        store.read("k").await.unwrap().as_deref(),
        Some(&b"value"[..])
    );
    store.commit_now("k", Change::Delete).unwrap().unwrap();
    assert_eq!(store.read("k").await.unwrap(), None);
}

#[tokio::test]
async fn touch_gives_an_entry_without_expiry_one() {
    let clock = ManualClock::default();
    let store = MemoryStorage::with_clock(clock.clone());
    store.write("a", b"1", None).await.unwrap();
    store.touch("a", Duration::from_secs(5)).await.unwrap();
    clock.advance(Duration::from_secs(4));
    assert!(store.read("a").await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert!(store.read("a").await.unwrap().is_none());
    assert!(
        store.is_empty(),
        "an expired entry found by a read is removed"
    );
}

#[test]
fn varints_round_trip() {
    for n in [
        0,
        1,
        127,
        128,
        300,
        16_383,
        16_384,
        usize::from(u16::MAX),
        1 << 40,
    ] {
        let mut out = Vec::new();
        write_varint(&mut out, n);
        let mut pos = 0;
        assert_eq!(read_varint(&out, &mut pos), n);
        assert_eq!(pos, out.len());
        assert_eq!(record_len(&vec![0; n.min(1000)], b"", None, 3), {
            let mut r = Vec::new();
            write_varint(&mut r, n.min(1000));
            1 + r.len() + 1 + 1 + n.min(1000) + 3
        });
    }
}

#[tokio::test]
async fn touch_extends_only_live_entries() {
    let clock = ManualClock::default();
    let store = MemoryStorage::with_clock(clock.clone());
    store
        .write("a", b"1", Some(Duration::from_secs(10)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(8));
    store.touch("a", Duration::from_secs(10)).await.unwrap();
    clock.advance(Duration::from_secs(8));
    assert!(store.read("a").await.unwrap().is_some());
    clock.advance(Duration::from_secs(3));
    store.touch("a", Duration::from_secs(10)).await.unwrap();
    assert!(store.read("a").await.unwrap().is_none());
}
