//! The storage conformance suite: one async function per property, written once against
//! `dyn Storage` and instantiated for every backend by `tests/storage_conformance.rs`.
// The lease properties (and real time, and a peer store) serve only the stores shared between
// processes, which a build without the `redis` and `postgres` features has none of.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bot_session::storage::{Change, Lease, ListCursor, ListedSession, LockedRead};
use bot_session::{ManualClock, Storage, StorageErrorKind};

/// How a subject's time passes: a manual clock moves instantly, real stores need real waits.
pub enum Time {
    Manual(ManualClock),
    Real,
}

/// A store under test, fresh for each test (its own file, table or key prefix).
pub struct Subject {
    pub store: Arc<dyn Storage>,
    pub time: Time,
    /// A second, independent instance on the same data (another "process"), for lease stores.
    pub peer: Option<Arc<dyn Storage>>,
}

impl Subject {
    async fn pass(&self, by: Duration) {
        match &self.time {
            Time::Manual(clock) => clock.advance(by),
            Time::Real => tokio::time::sleep(by).await,
        }
    }

    /// A TTL short enough for real stores to expire it quickly, long enough to outlast the
    /// round trips a test makes before it checks the value is still there.
    fn short_ttl(&self) -> Duration {
        Duration::from_millis(800)
    }
}

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    // xorshift: arbitrary bytes, every value from 0 to 255, invalid UTF-8 almost surely.
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

async fn read(s: &Subject, key: &str) -> Option<Vec<u8>> {
    s.store
        .read(key)
        .await
        .unwrap_or_else(|err| panic!("read `{key}`: {err}"))
}

async fn write(s: &Subject, key: &str, value: &[u8], ttl: Option<Duration>) {
    s.store
        .write(key, value, ttl)
        .await
        .unwrap_or_else(|err| panic!("write `{key}`: {err}"));
}

pub async fn missing_key_reads_as_none(s: &Subject) {
    assert_eq!(read(s, "absent").await, None);
    assert_eq!(read(s, "").await, None, "the empty key");
}

pub async fn round_trips_arbitrary_bytes(s: &Subject) {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one", vec![0]),
        ("not-utf8", vec![0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]),
        ("all-bytes", (0..=255u8).collect()),
        ("json", br#"{"count":1,"name":"\u00e9"}"#.to_vec()),
        ("one-mib", bytes(1 << 20, 7)),
    ];
    for (key, value) in &cases {
        write(s, key, value, None).await;
    }
    for (key, value) in &cases {
        let got = read(s, key).await;
        assert_eq!(
            got.as_deref().map(<[u8]>::len),
            Some(value.len()),
            "length of `{key}`"
        );
        assert!(
            got.as_deref() == Some(value.as_slice()),
            "bytes of `{key}` differ"
        );
    }
}

pub async fn overwrite_replaces_value_and_expiry(s: &Subject) {
    write(s, "k", b"a longer first value", None).await;
    write(s, "k", b"short", None).await;
    assert_eq!(read(s, "k").await.as_deref(), Some(&b"short"[..]));

    // A write without a TTL clears the TTL of the value it replaces.
    let ttl = s.short_ttl();
    write(s, "ttl-then-none", b"1", Some(ttl)).await;
    write(s, "ttl-then-none", b"2", None).await;
    // A write with a TTL gives a value that had none an expiry.
    write(s, "none-then-ttl", b"1", None).await;
    write(s, "none-then-ttl", b"2", Some(ttl)).await;
    s.pass(ttl * 2).await;
    assert_eq!(read(s, "ttl-then-none").await.as_deref(), Some(&b"2"[..]));
    assert_eq!(read(s, "none-then-ttl").await, None);
}

pub async fn delete_removes_and_missing_delete_is_fine(s: &Subject) {
    write(s, "k", b"v", None).await;
    write(s, "other", b"w", None).await;
    s.store.delete("k").await.expect("delete");
    assert_eq!(read(s, "k").await, None);
    assert_eq!(read(s, "other").await.as_deref(), Some(&b"w"[..]));
    s.store.delete("k").await.expect("deleting it again");
    s.store
        .delete("never-written")
        .await
        .expect("deleting a missing key");
    write(s, "k", b"again", None).await;
    assert_eq!(read(s, "k").await.as_deref(), Some(&b"again"[..]));
}

pub async fn ttl_expires_and_touch_refreshes(s: &Subject) {
    let ttl = s.short_ttl();
    write(s, "expiring", b"v", Some(ttl)).await;
    write(s, "refreshed", b"v", Some(ttl)).await;
    write(s, "forever", b"v", None).await;
    assert_eq!(read(s, "expiring").await.as_deref(), Some(&b"v"[..]));

    s.pass(ttl / 2).await;
    // Refresh: `refreshed` now lives until 1.5 ttl from the start (plus round trips).
    s.store.touch("refreshed", ttl).await.expect("touch");
    // Touching a missing key creates nothing.
    s.store
        .touch("absent", ttl)
        .await
        .expect("touch a missing key");

    s.pass(ttl * 3 / 4).await; // 1.25 ttl after the writes
    assert_eq!(read(s, "expiring").await, None, "the TTL was not honoured");
    assert_eq!(
        read(s, "refreshed").await.as_deref(),
        Some(&b"v"[..]),
        "touch did not extend the TTL"
    );
    assert_eq!(read(s, "absent").await, None, "touch created a value");

    s.pass(ttl).await; // 2.25 ttl
    assert_eq!(
        read(s, "refreshed").await,
        None,
        "the refreshed TTL was not honoured"
    );
    // An expired value stays gone when touched.
    s.store
        .touch("expiring", ttl)
        .await
        .expect("touch an expired key");
    assert_eq!(
        read(s, "expiring").await,
        None,
        "touch revived an expired value"
    );
    assert_eq!(read(s, "forever").await.as_deref(), Some(&b"v"[..]));
}

pub async fn many_keys(s: &Subject) {
    const N: usize = 1000;
    for i in 0..N {
        write(s, &format!("many:{i}"), i.to_string().as_bytes(), None).await;
    }
    for i in (0..N).step_by(2) {
        s.store.delete(&format!("many:{i}")).await.expect("delete");
    }
    for i in 0..N {
        let expected = (i % 2 == 1).then(|| i.to_string().into_bytes());
        assert_eq!(
            read(s, &format!("many:{i}")).await,
            expected,
            "key many:{i}"
        );
    }
}

pub async fn concurrent_writers_on_distinct_keys(s: &Subject) {
    const TASKS: usize = 32;
    const WRITES: usize = 20;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&s.store);
        handles.push(tokio::spawn(async move {
            let key = format!("writer:{task}");
            for n in 0..WRITES {
                let value = format!("{task}:{n}");
                store
                    .write(&key, value.as_bytes(), None)
                    .await
                    .expect("write");
                let got = store.read(&key).await.expect("read");
                assert_eq!(
                    got.as_deref(),
                    Some(value.as_bytes()),
                    "task {task} lost its write"
                );
            }
        }));
    }
    for handle in handles {
        handle.await.expect("a writer panicked");
    }
    for task in 0..TASKS {
        let last = format!("{task}:{}", WRITES - 1);
        assert_eq!(
            read(s, &format!("writer:{task}")).await,
            Some(last.into_bytes())
        );
    }
}

pub async fn odd_keys_are_distinct_and_round_trip(s: &Subject) {
    let long = "k".repeat(4096);
    let keys: Vec<String> = vec![
        "a:b:c".into(),
        "a:b".into(),
        ":".into(),
        "with space".into(),
        " leading and trailing ".into(),
        "tab\tand\nnewline".into(),
        "ünïcødé:日本語:🦀".into(),
        "quote'double\"back\\slash".into(),
        "glob*?[x]".into(),
        "percent%_underscore".into(),
        "'; DROP TABLE sessions; --".into(),
        long.clone(),
        format!("{long}x"),
    ];
    for (i, key) in keys.iter().enumerate() {
        write(s, key, format!("value {i}").as_bytes(), None).await;
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            read(s, key).await,
            Some(format!("value {i}").into_bytes()),
            "key {key:?}"
        );
    }
    s.store.delete(&keys[0]).await.expect("delete");
    assert_eq!(read(s, &keys[0]).await, None);
    assert_eq!(
        read(s, &keys[1]).await,
        Some(b"value 1".to_vec()),
        "a prefix key was hit"
    );
}

/// `lock_and_read` and `commit` apply every kind of change, on every store (with or without
/// leases).
pub async fn commit_applies_each_change(s: &Subject) {
    let lease = Duration::from_secs(10);
    let take = async |key: &str, ticket: u64| match s
        .store
        .lock_and_read(key, ticket, lease)
        .await
        .expect("lock_and_read")
    {
        LockedRead::Acquired { lease, value } => (lease, value),
        LockedRead::Busy { holder_ticket } => panic!("`{key}` busy (holder {holder_ticket:?})"),
    };

    let (held, value) = take("c", 1).await;
    assert_eq!(value, None);
    assert_eq!(held.is_some(), s.store.shares_across_processes());
    s.store
        .commit("c", held, Change::Write(b"one", None))
        .await
        .expect("commit a write");
    assert_eq!(read(s, "c").await.as_deref(), Some(&b"one"[..]));

    let (held, value) = take("c", 2).await;
    assert_eq!(value.as_deref(), Some(&b"one"[..]));
    s.store
        .commit("c", held, Change::Nothing)
        .await
        .expect("commit nothing");
    assert_eq!(read(s, "c").await.as_deref(), Some(&b"one"[..]));

    // A TTL given with a write, then refreshed by a touch.
    let ttl = s.short_ttl();
    let (held, _) = take("c", 3).await;
    s.store
        .commit("c", held, Change::Write(b"two", Some(ttl)))
        .await
        .expect("commit a write with a TTL");
    s.pass(ttl / 2).await;
    let (held, value) = take("c", 4).await;
    assert_eq!(value.as_deref(), Some(&b"two"[..]));
    s.store
        .commit("c", held, Change::Touch(ttl))
        .await
        .expect("commit a touch");
    s.pass(ttl * 3 / 4).await;
    assert_eq!(
        read(s, "c").await.as_deref(),
        Some(&b"two"[..]),
        "the touch did not refresh"
    );

    let (held, _) = take("c", 5).await;
    s.store
        .commit("c", held, Change::Delete)
        .await
        .expect("commit a delete");
    assert_eq!(read(s, "c").await, None);

    // Releasing a key that was never written leaves nothing behind, and frees it at once.
    let (held, value) = take("fresh", 6).await;
    assert_eq!(value, None);
    s.store
        .commit("fresh", held, Change::Nothing)
        .await
        .expect("release");
    assert_eq!(read(s, "fresh").await, None);
    let (held, _) = take("fresh", 7).await;
    s.store
        .commit("fresh", held, Change::Nothing)
        .await
        .expect("release again");

    // An expired value reads as missing through lock_and_read too.
    write(s, "stale", b"old", Some(ttl)).await;
    s.pass(ttl * 2).await;
    let (held, value) = take("stale", 8).await;
    assert_eq!(value, None, "lock_and_read returned an expired value");
    s.store
        .commit("stale", held, Change::Nothing)
        .await
        .expect("release");
    assert_eq!(read(s, "stale").await, None);
}

// ---- Lease stores (Redis, PostgreSQL) ----

fn expect_acquired(read: LockedRead, what: &str) -> (Lease, Option<Vec<u8>>) {
    match read {
        LockedRead::Acquired {
            lease: Some(lease),
            value,
        } => (lease, value),
        other => panic!("{what}: expected a lease, got {other:?}"),
    }
}

pub async fn lease_excludes_others_until_commit(s: &Subject) {
    assert!(s.store.shares_across_processes());
    let lease = Duration::from_secs(30);
    let peer = s.peer.as_ref().expect("a peer instance");
    write(s, "l", b"v0", None).await;

    let first = s.store.lock_and_read("l", 10, lease).await.expect("lock");
    let (held, value) = expect_acquired(first, "first acquire");
    assert_eq!(held.ticket, 10);
    assert_eq!(value.as_deref(), Some(&b"v0"[..]));

    // Busy for another update, in this process or another, naming the holder's ticket.
    for (store, ticket) in [(&s.store, 11), (peer, 12)] {
        assert_eq!(
            store.lock_and_read("l", ticket, lease).await.expect("lock"),
            LockedRead::Busy {
                holder_ticket: Some(10)
            }
        );
    }
    // Plain reads are not blocked by a lease.
    assert_eq!(read(s, "l").await.as_deref(), Some(&b"v0"[..]));

    s.store
        .commit("l", Some(held), Change::Write(b"v1", None))
        .await
        .expect("commit");
    let again = peer.lock_and_read("l", 11, lease).await.expect("lock");
    let (held2, value) = expect_acquired(again, "acquire after the commit");
    assert_eq!(value.as_deref(), Some(&b"v1"[..]));
    assert_ne!(held2.nonce, held.nonce);
    peer.commit("l", Some(held2), Change::Nothing)
        .await
        .expect("release");
    // Released: free again, value kept.
    let third = s.store.lock_and_read("l", 13, lease).await.expect("lock");
    let (held3, value) = expect_acquired(third, "acquire after a release");
    assert_eq!(value.as_deref(), Some(&b"v1"[..]));
    s.store
        .commit("l", Some(held3), Change::Delete)
        .await
        .expect("commit a delete");
    assert_eq!(read(s, "l").await, None);
}

pub async fn expired_lease_is_taken_over_and_stale_commit_refused(s: &Subject) {
    let peer = s.peer.as_ref().expect("a peer instance");
    write(s, "t", b"original", None).await;
    let short = Duration::from_millis(300);
    let (stale, _) = expect_acquired(
        s.store.lock_and_read("t", 20, short).await.expect("lock"),
        "first acquire",
    );
    tokio::time::sleep(short + Duration::from_millis(300)).await;
    let (fresh, value) = expect_acquired(
        peer.lock_and_read("t", 21, Duration::from_secs(30))
            .await
            .expect("lock"),
        "take over an expired lease",
    );
    assert_eq!(value.as_deref(), Some(&b"original"[..]));

    for change in [
        Change::Write(b"stale", None),
        Change::Delete,
        Change::Touch(Duration::from_secs(1)),
        Change::Nothing,
    ] {
        let err = s
            .store
            .commit("t", Some(stale), change)
            .await
            .expect_err("a commit under a lost lease must fail");
        assert_eq!(err.kind(), StorageErrorKind::LeaseLost, "{change:?}: {err}");
        assert_eq!(err.store(), s.store.name());
    }
    assert_eq!(
        read(s, "t").await.as_deref(),
        Some(&b"original"[..]),
        "the stale commit wrote"
    );
    // The new holder still holds the key...
    assert!(matches!(
        s.store
            .lock_and_read("t", 22, Duration::from_secs(30))
            .await
            .expect("lock"),
        LockedRead::Busy {
            holder_ticket: Some(21)
        }
    ));
    // ...and commits normally.
    peer.commit("t", Some(fresh), Change::Write(b"fresh", None))
        .await
        .expect("commit by the new holder");
    assert_eq!(read(s, "t").await.as_deref(), Some(&b"fresh"[..]));
}

pub async fn lease_on_a_missing_key_reads_as_missing(s: &Subject) {
    let (held, value) = expect_acquired(
        s.store
            .lock_and_read("new", 30, Duration::from_secs(30))
            .await
            .expect("lock"),
        "acquire a missing key",
    );
    assert_eq!(value, None);
    // While only the lease exists, the key still reads as missing.
    assert_eq!(read(s, "new").await, None);
    s.store
        .commit("new", Some(held), Change::Write(b"created", None))
        .await
        .expect("commit");
    assert_eq!(read(s, "new").await.as_deref(), Some(&b"created"[..]));
}

/// Two instances (two "processes") increment one counter through leases: none is lost.
pub async fn leases_serialize_increments_across_instances(s: &Subject) {
    const TASKS: u64 = 8;
    const EACH: u64 = 10;
    let peer = s.peer.as_ref().expect("a peer instance");
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(if task % 2 == 0 { &s.store } else { peer });
        handles.push(tokio::spawn(async move {
            for n in 0..EACH {
                let ticket = 1000 + task * EACH + n;
                let (held, value) = loop {
                    match store
                        .lock_and_read("n", ticket, Duration::from_secs(30))
                        .await
                        .expect("lock")
                    {
                        LockedRead::Acquired { lease, value } => break (lease, value),
                        LockedRead::Busy { .. } => {
                            tokio::time::sleep(Duration::from_millis(1)).await
                        }
                    }
                };
                let count: u64 = value
                    .map(|v| String::from_utf8(v).unwrap().parse().unwrap())
                    .unwrap_or(0);
                tokio::task::yield_now().await;
                let next = (count + 1).to_string();
                store
                    .commit("n", held, Change::Write(next.as_bytes(), None))
                    .await
                    .expect("commit");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("an incrementer panicked");
    }
    assert_eq!(
        read(s, "n").await,
        Some((TASKS * EACH).to_string().into_bytes()),
        "increments were lost"
    );
}

// ---- Listing ----

/// The most pages a test's listing may take: only a bound on the loop. A Redis listing scans
/// the whole database, the keys other tests left there included (the TLS server keeps them),
/// a few times `limit` keys a page.
const MAX_PAGES: usize = 100_000;

/// Every page of the listing of `prefix` with pages of `limit`, each checked against the
/// bound; panics when the listing does not end within [`MAX_PAGES`].
async fn list_all(s: &Subject, prefix: &str, limit: usize) -> Vec<ListedSession> {
    let mut cursor = ListCursor::start();
    let mut listed = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = s
            .store
            .list(prefix, &cursor, limit)
            .await
            .unwrap_or_else(|err| panic!("list `{prefix}` at {cursor}: {err}"));
        assert!(
            page.sessions.len() <= limit,
            "a page of {} sessions for a limit of {limit}",
            page.sessions.len()
        );
        listed.extend(page.sessions);
        match page.next {
            Some(next) => cursor = next,
            None => return listed,
        }
    }
    panic!("the listing of `{prefix}` did not end within {MAX_PAGES} pages");
}

/// The listed keys, checked to be listed once each.
fn listed_once(listed: &[ListedSession]) -> std::collections::BTreeSet<&str> {
    let mut keys = std::collections::BTreeSet::new();
    for session in listed {
        assert!(
            keys.insert(session.key.as_str()),
            "`{}` was listed twice",
            session.key
        );
    }
    keys
}

pub async fn listing_pages_through_every_session_under_the_prefix_once(s: &Subject) {
    const N: usize = 250;
    let ttl = Duration::from_secs(3600);
    for i in 0..N {
        let value = format!("value {i}");
        write(
            s,
            &format!("list:{i}"),
            value.as_bytes(),
            (i % 3 == 0).then_some(ttl),
        )
        .await;
    }
    // Beside the prefix, not under it: a key equal to the prefix without its colon, one that
    // sorts right after its range, one that sorts before it.
    for key in ["list", "list;", "lisu:1", "lis:1", "other:1"] {
        write(s, key, b"not listed", None).await;
    }
    for limit in [1, 7, 100, 1000] {
        let listed = list_all(s, "list:", limit).await;
        let keys = listed_once(&listed);
        let expected: std::collections::BTreeSet<String> =
            (0..N).map(|i| format!("list:{i}")).collect();
        assert_eq!(
            keys,
            expected.iter().map(String::as_str).collect(),
            "limit {limit}"
        );
        for session in &listed {
            let i: usize = session.key["list:".len()..].parse().unwrap();
            assert_eq!(
                session.value,
                format!("value {i}").into_bytes(),
                "{}",
                session.key
            );
            match session.time_left {
                None => assert!(!i.is_multiple_of(3), "{} lost its expiry", session.key),
                Some(left) => {
                    assert!(i.is_multiple_of(3), "{} got an expiry", session.key);
                    assert!(
                        left <= ttl && left > ttl - Duration::from_secs(60),
                        "{}: {left:?} left of {ttl:?}",
                        session.key
                    );
                }
            }
        }
    }
    // One session, as a listing shows it.
    let one = s
        .store
        .inspect("list:3")
        .await
        .expect("inspect")
        .expect("list:3");
    assert_eq!(
        (one.key.as_str(), one.value.as_slice()),
        ("list:3", &b"value 3"[..])
    );
    assert!(one.time_left.is_some_and(|left| left <= ttl));
    let bare = s
        .store
        .inspect("list")
        .await
        .expect("inspect")
        .expect("list");
    assert_eq!(
        (bare.value.as_slice(), bare.time_left),
        (&b"not listed"[..], None)
    );
    assert_eq!(s.store.inspect("list:").await.expect("inspect"), None);
    // The empty prefix lists every session of the store.
    let everything = list_all(s, "", 100).await;
    let keys = listed_once(&everything);
    assert_eq!(keys.len(), N + 5);
    // A cursor kept as text resumes the listing.
    let first = s
        .store
        .list("list:", &ListCursor::start(), 10)
        .await
        .unwrap();
    let kept = ListCursor::from_string(first.next.expect("more pages").as_str());
    let second = s.store.list("list:", &kept, 10).await.unwrap();
    assert!(!second.sessions.is_empty());
    for session in &second.sessions {
        assert!(
            !first.sessions.iter().any(|seen| seen.key == session.key),
            "`{}` on two pages",
            session.key
        );
    }
    // Text no listing wrote is refused.
    let err = s
        .store
        .list("list:", &ListCursor::from_string("not a cursor"), 10)
        .await
        .expect_err("a made-up cursor");
    assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");
}

pub async fn listing_takes_prefixes_literally(s: &Subject) {
    let keys = [
        "glob*?[x]\\:1",
        "glob*?[x]\\:2",
        "globa?[x]\\:3",
        "glob*?[y]\\:4",
        "percent%_:1",
        "percentx_:2",
        "ünï:日本:🦀",
        "ünï:日本",
    ];
    for key in keys {
        write(s, key, key.as_bytes(), None).await;
    }
    for (prefix, expected) in [
        ("glob*?[x]\\:", &["glob*?[x]\\:1", "glob*?[x]\\:2"][..]),
        ("percent%_", &["percent%_:1"][..]),
        ("ünï:日本:", &["ünï:日本:🦀"][..]),
    ] {
        let listed = list_all(s, prefix, 10).await;
        let keys = listed_once(&listed);
        assert_eq!(
            keys,
            expected.iter().copied().collect(),
            "prefix {prefix:?}"
        );
    }
}

pub async fn listing_skips_expired_sessions_and_leases(s: &Subject) {
    let ttl = s.short_ttl();
    write(s, "exp:gone", b"x", Some(ttl)).await;
    write(s, "exp:kept", b"y", None).await;
    write(s, "exp:later", b"z", Some(Duration::from_secs(3600))).await;
    // A key held by an update: a session with a value is listed (its value, not the lease);
    // a key that only has a lease is not a session.
    let lease = Duration::from_secs(30);
    let held = match s
        .store
        .lock_and_read("exp:kept", 1, lease)
        .await
        .expect("lock")
    {
        LockedRead::Acquired { lease, .. } => lease,
        busy => panic!("exp:kept is busy: {busy:?}"),
    };
    let fresh = match s
        .store
        .lock_and_read("exp:new", 2, lease)
        .await
        .expect("lock")
    {
        LockedRead::Acquired { lease, .. } => lease,
        busy => panic!("exp:new is busy: {busy:?}"),
    };
    s.pass(ttl * 2).await;
    let listed = list_all(s, "exp:", 10).await;
    let keys = listed_once(&listed);
    assert_eq!(keys, ["exp:kept", "exp:later"].into_iter().collect());
    assert_eq!(
        listed.iter().find(|l| l.key == "exp:kept").unwrap().value,
        b"y"
    );
    assert_eq!(s.store.inspect("exp:gone").await.expect("inspect"), None);
    assert_eq!(s.store.inspect("exp:new").await.expect("inspect"), None);
    for session in list_all(s, "", 10).await {
        assert!(
            !session.key.contains('\0'),
            "a lease was listed: {:?}",
            session.key
        );
    }
    s.store
        .commit("exp:kept", held, Change::Nothing)
        .await
        .expect("release");
    s.store
        .commit("exp:new", fresh, Change::Nothing)
        .await
        .expect("release");
    // Purging removes what expired (where the store keeps it) and nothing else.
    s.store.purge_expired().await.expect("purge");
    assert_eq!(s.store.purge_expired().await.expect("purge again"), 0);
    let keys: Vec<String> = list_all(s, "exp:", 10)
        .await
        .into_iter()
        .map(|l| l.key)
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(read(s, "exp:later").await.as_deref(), Some(&b"z"[..]));
}

/// While the listing runs, a writer adds keys and removes others: each key there from start
/// to end is listed exactly once, and no key twice.
pub async fn listing_while_keys_come_and_go(s: &Subject) {
    const STABLE: usize = 400;
    const GOING: usize = 200;
    for i in 0..STABLE {
        write(s, &format!("churn:stable:{i:04}"), b"s", None).await;
    }
    for i in 0..GOING {
        write(s, &format!("churn:going:{i:04}"), b"g", None).await;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn({
        let store = Arc::clone(&s.store);
        let stop = Arc::clone(&stop);
        async move {
            let mut changes = 0;
            // Bounded: at most one add and one removal per `GOING` round.
            for n in 0..10 * GOING {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                store
                    .write(&format!("churn:added:{n:05}"), b"a", None)
                    .await
                    .expect("add");
                if n < GOING {
                    store
                        .delete(&format!("churn:going:{n:04}"))
                        .await
                        .expect("remove");
                }
                changes += 1;
                tokio::task::yield_now().await;
            }
            changes
        }
    });
    let mut cursor = ListCursor::start();
    let mut listed = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < MAX_PAGES, "the listing did not end");
        let page = s.store.list("churn:", &cursor, 13).await.expect("list");
        assert!(page.sessions.len() <= 13);
        listed.extend(page.sessions);
        // Give the writer room between pages.
        tokio::time::sleep(Duration::from_millis(1)).await;
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let changes = writer.await.expect("the writer panicked");
    assert!(changes > 0, "nothing changed while the listing ran");
    let keys = listed_once(&listed);
    for i in 0..STABLE {
        let key = format!("churn:stable:{i:04}");
        assert!(
            keys.contains(key.as_str()),
            "`{key}` was there all along and not listed"
        );
    }
    for key in &keys {
        assert!(key.starts_with("churn:"), "`{key}` is not under the prefix");
    }
}
