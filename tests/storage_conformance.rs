//! Every store against the same conformance suite (`tests/conformance/`).
//!
//! Memory and SQLite always run. Redis and PostgreSQL run against the servers named by
//! `BOT_SESSION_REDIS_URL` and `BOT_SESSION_POSTGRES_URL`, Redis also over TLS
//! (`BOT_SESSION_REDIS_TLS_URL`, `BOT_SESSION_REDIS_TLS_CA`) and as a cluster
//! (`BOT_SESSION_REDIS_CLUSTER_URLS`) (`.ci/run` starts them all; locally,
//! `scripts/with-services cargo test --all-features`); without a URL they are skipped locally
//! and fail in CI. PostgreSQL also runs over TLS (`BOT_SESSION_POSTGRES_TLS_URL`) and behind
//! PgBouncer in transaction mode (`BOT_SESSION_PGBOUNCER_URL`). Each test gets a fresh store: its own SQLite file, Redis key prefix or
//! PostgreSQL table.

mod conformance;
mod support;

use conformance::{Subject, Time};

/// One `#[tokio::test]` per property, in a module per backend. `$make` is an async fn from
/// the test's name to a fresh `Subject` (or `None`: skipped).
macro_rules! suite {
    ($backend:ident, $make:path, [$($property:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    let Some((subject, _guard)) = $make(stringify!($property)).await else {
                        return;
                    };
                    crate::conformance::$property(&subject).await;
                }
            )*
        }
    };
}

/// The properties every store has.
macro_rules! storage_suite {
    ($backend:ident, $make:path) => {
        suite!(
            $backend,
            $make,
            [
                missing_key_reads_as_none,
                round_trips_arbitrary_bytes,
                overwrite_replaces_value_and_expiry,
                delete_removes_and_missing_delete_is_fine,
                ttl_expires_and_touch_refreshes,
                many_keys,
                concurrent_writers_on_distinct_keys,
                odd_keys_are_distinct_and_round_trip,
                commit_applies_each_change,
                listing_pages_through_every_session_under_the_prefix_once,
                listing_takes_prefixes_literally,
                listing_skips_expired_sessions_and_leases,
                listing_while_keys_come_and_go,
            ]
        );
    };
}

/// The properties of stores shared between processes.
#[cfg(any(feature = "redis", feature = "postgres"))]
macro_rules! lease_suite {
    ($backend:ident, $make:path) => {
        suite!(
            $backend,
            $make,
            [
                lease_excludes_others_until_commit,
                expired_lease_is_taken_over_and_stale_commit_refused,
                lease_on_a_missing_key_reads_as_missing,
                leases_serialize_increments_across_instances,
            ]
        );
    };
}

/// Whatever must outlive the test's store (a temporary directory, a table to drop).
type Guard = Box<dyn std::any::Any + Send>;

async fn memory(_test: &str) -> Option<(Subject, Guard)> {
    let clock = bot_session::ManualClock::default();
    let store = bot_session::MemoryStorage::with_clock(clock.clone());
    Some((
        Subject {
            store: std::sync::Arc::new(store),
            time: Time::Manual(clock),
            peer: None,
        },
        Box::new(()),
    ))
}

storage_suite!(memory_store, crate::memory);

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use bot_session::storage::SqliteStorage;

    pub async fn file(test: &str) -> Option<(Subject, Guard)> {
        let dir = support::TempDir::new(test);
        let clock = bot_session::ManualClock::default();
        let store = SqliteStorage::builder()
            .clock(clock.clone())
            .open(dir.path().join("sessions.db"))
            .await
            .expect("open a new SQLite file");
        Some((
            Subject {
                store: std::sync::Arc::new(store),
                time: Time::Manual(clock),
                peer: None,
            },
            Box::new(dir),
        ))
    }

    storage_suite!(suite, crate::sqlite::file);

    use std::time::Duration;

    use bot_session::Storage;

    #[tokio::test]
    async fn sessions_persist_across_reopening() {
        let dir = support::TempDir::new("reopen");
        let path = dir.path().join("sessions.db");
        let store = SqliteStorage::open(&path).await.unwrap();
        store.write("kept", b"\x00\xffdata", None).await.unwrap();
        store
            .write("expiring", b"x", Some(Duration::from_millis(1)))
            .await
            .unwrap();
        assert!(
            dir.path().join("sessions.db-wal").exists(),
            "the database is not in WAL mode"
        );
        drop(store);
        let store = SqliteStorage::open(&path).await.unwrap();
        assert_eq!(
            store.read("kept").await.unwrap().as_deref(),
            Some(&b"\x00\xffdata"[..])
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.read("expiring").await.unwrap(), None);
        assert_eq!(store.purge_expired().await.unwrap(), 1);
        assert_eq!(store.len().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn clones_share_one_database_and_are_not_lease_stores() {
        let store = SqliteStorage::open_in_memory().unwrap();
        let clone = store.clone();
        store.write("k", b"v", None).await.unwrap();
        assert_eq!(clone.read("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert!(!store.shares_across_processes());
        assert_eq!(store.name(), "sqlite");
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use bot_session::storage::{LockedRead, RedisBuilder, RedisStorage};
    use std::sync::Arc;

    /// Two stores, the test's and its peer ("another process"), both connected with
    /// `builder` and the key prefix `prefix`.
    async fn pair(builder: RedisBuilder, prefix: &str) -> Subject {
        let connect = || async {
            let store = builder
                .clone()
                .key_prefix(prefix)
                .connect()
                .await
                .unwrap_or_else(|err| panic!("connect with {builder:?}: {err}"));
            assert_eq!(store.key_prefix(), prefix);
            store
        };
        let (store, peer) = (connect().await, connect().await);
        Subject {
            store: Arc::new(store),
            time: Time::Real,
            peer: Some(Arc::new(peer)),
        }
    }

    pub async fn server(test: &str) -> Option<(Subject, Guard)> {
        let url = support::server_url("BOT_SESSION_REDIS_URL", "redis")?;
        let prefix = format!("{}:", support::unique(&format!("conformance_{test}")));
        let subject = pair(RedisStorage::builder(&url), &prefix).await;
        Some((subject, Box::new(DeletePrefix { url, prefix })))
    }

    /// Deletes the test's keys when the test is over.
    struct DeletePrefix {
        url: String,
        prefix: String,
    }

    impl Drop for DeletePrefix {
        fn drop(&mut self) {
            support::redis_server::delete_prefix(&self.url, &self.prefix);
        }
    }

    storage_suite!(suite, crate::redis::server);
    lease_suite!(leases, crate::redis::server);

    /// The same store with a client speaking RESP3 (`?protocol=resp3`): replies, script
    /// replies included, must decode the same.
    pub async fn server_resp3(test: &str) -> Option<(Subject, Guard)> {
        let url = support::server_url("BOT_SESSION_REDIS_URL", "redis")?;
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{separator}protocol=resp3");
        let prefix = format!("{}:", support::unique(&format!("resp3_{test}")));
        let subject = pair(RedisStorage::builder(&url), &prefix).await;
        Some((subject, Box::new(DeletePrefix { url, prefix })))
    }

    suite!(
        resp3,
        crate::redis::server_resp3,
        [
            round_trips_arbitrary_bytes,
            commit_applies_each_change,
            lease_excludes_others_until_commit,
            lease_on_a_missing_key_reads_as_missing,
        ]
    );

    /// The TLS-only server of `scripts/services.sh`, trusting its throwaway CA.
    fn tls_settings() -> Option<(String, String)> {
        let url = support::server_url("BOT_SESSION_REDIS_TLS_URL", "redis-server over TLS")?;
        let ca = support::server_url("BOT_SESSION_REDIS_TLS_CA", "redis-server over TLS")?;
        Some((url, ca))
    }

    /// Over TLS. The keys are left behind: the server is the throwaway one of
    /// `scripts/services.sh`, which the plain-TCP clean-up cannot reach.
    pub async fn tls_server(test: &str) -> Option<(Subject, Guard)> {
        let (url, ca) = tls_settings()?;
        let prefix = format!("{}:", support::unique(&format!("tls_{test}")));
        let builder = RedisStorage::builder(&url).ca_certificate_file(ca);
        Some((pair(builder, &prefix).await, Box::new(())))
    }

    storage_suite!(tls, crate::redis::tls_server);
    lease_suite!(tls_leases, crate::redis::tls_server);

    /// A Redis Cluster of three masters with a replica each.
    pub async fn cluster(test: &str) -> Option<(Subject, Guard)> {
        let urls = support::redis_cluster::urls()?;
        let prefix = format!("{}:", support::unique(&format!("cluster_{test}")));
        let subject = pair(RedisStorage::cluster(urls.clone()), &prefix).await;
        Some((subject, Box::new(DeleteClusterPrefix { urls, prefix })))
    }

    /// Deletes the test's keys from every master when the test is over.
    struct DeleteClusterPrefix {
        urls: Vec<String>,
        prefix: String,
    }

    impl Drop for DeleteClusterPrefix {
        fn drop(&mut self) {
            support::redis_cluster::delete_prefix_everywhere(&self.urls, &self.prefix);
        }
    }

    storage_suite!(cluster_suite, crate::redis::cluster);
    lease_suite!(cluster_leases, crate::redis::cluster);

    #[tokio::test]
    async fn a_wrong_ca_fails_clearly_naming_the_server() {
        use bot_session::{StorageErrorKind, StorageOp};
        let Some((url, _)) = tls_settings() else {
            return;
        };
        // A CA of its own, which never signed the server's certificate.
        let dir = support::TempDir::new("wrong_ca");
        let wrong_ca = dir.path().join("other-ca.crt");
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=not the server's CA", "-keyout"])
            .arg(dir.path().join("other-ca.key"))
            .arg("-out")
            .arg(&wrong_ca)
            .output()
            .expect("run openssl (scripts/services.sh needs it too)");
        assert!(made.status.success(), "openssl: {made:?}");
        let err = RedisStorage::builder(&url)
            .ca_certificate_file(&wrong_ca)
            .reconnect_attempts(0)
            .connect()
            .await
            .expect_err("a server certificate the CA never signed was accepted");
        assert_eq!((err.store(), err.op()), ("redis", StorageOp::Open));
        assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");
        let message = err.to_string();
        let port = support::redis_cluster::port(&url);
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(message.contains("certificate"), "{message}");
        assert!(
            message.contains(&wrong_ca.display().to_string()),
            "{message}"
        );

        // Without the CA the system's trust store does not know the throwaway CA either.
        let err = RedisStorage::builder(&url)
            .reconnect_attempts(0)
            .connect()
            .await
            .expect_err("a throwaway CA's certificate was trusted by the system store");
        assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");

        // A CA for a plain `redis://` URL is a mistake, not silently ignored.
        let plain = url.replacen("rediss://", "redis://", 1);
        let err = RedisStorage::builder(&plain)
            .ca_certificate_file(&wrong_ca)
            .connect()
            .await
            .expect_err("a CA certificate for a plain URL");
        assert!(err.to_string().contains("rediss://"), "{err}");
    }

    #[tokio::test]
    async fn cluster_keys_share_a_slot_with_their_lease_in_braces() {
        use bot_session::Storage;
        use bot_session::storage::Change;
        use std::time::Duration;
        let Some(urls) = support::redis_cluster::urls() else {
            return;
        };
        let prefix = support::unique("tagged") + ":";
        let _clean = DeleteClusterPrefix {
            urls: urls.clone(),
            prefix: prefix.clone(),
        };
        let store = RedisStorage::cluster(urls.clone())
            .key_prefix(prefix.clone())
            .connect()
            .await
            .expect("connect to the cluster");
        store.write("counter:7", b"1", None).await.expect("write");
        let port = support::redis_cluster::port(&urls[0]);
        let key = format!("{{{prefix}counter:7}}");
        let slot = support::redis_server::command(port, None, &["CLUSTER", "KEYSLOT", &key]);
        let lease_key = format!("{key}\0lease");
        let lease_slot =
            support::redis_server::command(port, None, &["CLUSTER", "KEYSLOT", &lease_key]);
        assert_eq!(
            slot, lease_slot,
            "a session and its lease in different slots"
        );
        // The session is stored under exactly that key, on the master serving its slot.
        let LockedRead::Acquired { lease, value } = store
            .lock_and_read("counter:7", 1, Duration::from_secs(30))
            .await
            .expect("lock")
        else {
            panic!("the key is busy with nothing in flight");
        };
        assert_eq!(value.as_deref(), Some(&b"1"[..]));
        store
            .commit("counter:7", lease, Change::Write(b"2", None))
            .await
            .expect("commit");
        let found = support::redis_cluster::nodes(port)
            .into_iter()
            .filter(|node| node.is_master)
            .map(|node| support::redis_server::command(node.port, None, &["GET", &key]))
            .filter(|reply| reply == "2")
            .count();
        assert_eq!(found, 1, "`{key}` is not on exactly one master");

        // A key that would make an empty hash tag is refused, not split from its lease.
        let bare = RedisStorage::cluster(urls.clone())
            .connect()
            .await
            .expect("connect to the cluster");
        let err = bare
            .write("}odd", b"x", None)
            .await
            .expect_err("an empty hash tag");
        assert_eq!(err.kind(), bot_session::StorageErrorKind::Invalid, "{err}");
    }

    #[tokio::test]
    async fn key_prefixes_keep_stores_apart() {
        let Some(url) = support::server_url("BOT_SESSION_REDIS_URL", "redis") else {
            return;
        };
        let (prefix_a, prefix_b) = (support::unique("a") + ":", support::unique("b") + ":");
        let _clean = [&prefix_a, &prefix_b].map(|prefix| DeletePrefix {
            url: url.clone(),
            prefix: prefix.clone(),
        });
        let a = RedisStorage::builder(&url)
            .key_prefix(prefix_a.clone())
            .connect()
            .await
            .unwrap();
        let b = RedisStorage::builder(&url)
            .key_prefix(prefix_b.clone())
            .connect()
            .await
            .unwrap();
        use bot_session::Storage;
        a.write("same", b"a", None).await.unwrap();
        assert_eq!(b.read("same").await.unwrap(), None);
        b.write("same", b"b", None).await.unwrap();
        assert_eq!(a.read("same").await.unwrap().as_deref(), Some(&b"a"[..]));
    }

    #[tokio::test]
    async fn bad_url_and_unreachable_server_fail_clearly() {
        use bot_session::{StorageErrorKind, StorageOp};
        let err = RedisStorage::connect("not a url").await.unwrap_err();
        assert_eq!((err.store(), err.op()), ("redis", StorageOp::Open));
        assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");
        let port = support::free_port();
        let err = RedisStorage::builder(&format!("redis://127.0.0.1:{port}/0"))
            .reconnect_attempts(0)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StorageErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains(&port.to_string()), "{err}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use bot_session::storage::{PostgresBuilder, PostgresStorage};
    use std::sync::Arc;
    use support::postgres::TempTable;

    /// Two stores of one fresh table reached through `url` (settings from `configure`), and
    /// the guard that drops the table through the plain server.
    async fn subject(
        test: &str,
        url: String,
        configure: fn(PostgresBuilder) -> PostgresBuilder,
    ) -> Option<(Subject, Guard)> {
        let table = support::unique("conformance");
        let connect = || async {
            configure(
                PostgresStorage::builder(&url)
                    .table(table.clone())
                    .pool_size(8),
            )
            .connect()
            .await
            .unwrap_or_else(|err| panic!("connect to postgres for {test}: {err}"))
        };
        let store = connect().await;
        let peer = connect().await;
        assert_eq!(store.table(), table);
        Some((
            Subject {
                store: Arc::new(store),
                time: Time::Real,
                peer: Some(Arc::new(peer)),
            },
            Box::new(TempTable::new(table)),
        ))
    }

    pub async fn server(test: &str) -> Option<(Subject, Guard)> {
        subject(test, support::postgres::plain_url()?, |builder| builder).await
    }

    /// Over TLS with `sslmode=verify-full`, the CA given as `sslrootcert` in the URL.
    pub async fn tls(test: &str) -> Option<(Subject, Guard)> {
        support::postgres::plain_url()?;
        subject(
            test,
            support::postgres::tls_url_with_root_cert()?,
            |builder| builder,
        )
        .await
    }

    storage_suite!(suite, crate::postgres::server);
    lease_suite!(leases, crate::postgres::server);
    /// Through PgBouncer in transaction mode, without named prepared statements.
    pub async fn pgbouncer(test: &str) -> Option<(Subject, Guard)> {
        support::postgres::plain_url()?;
        subject(test, support::postgres::pgbouncer_url()?, |builder| {
            builder.prepared_statements(false)
        })
        .await
    }

    storage_suite!(tls_suite, crate::postgres::tls);
    lease_suite!(tls_leases, crate::postgres::tls);
    storage_suite!(pgbouncer_suite, crate::postgres::pgbouncer);
    lease_suite!(pgbouncer_leases, crate::postgres::pgbouncer);

    #[tokio::test]
    async fn purge_removes_expired_rows_and_abandoned_leases() {
        use bot_session::Storage;
        use std::time::Duration;
        let Some(url) = support::server_url("BOT_SESSION_POSTGRES_URL", "postgres") else {
            return;
        };
        let table = support::unique("purge");
        let _drop = TempTable::new(table.clone());
        let store = PostgresStorage::builder(&url)
            .table(table.clone())
            .sweep_every(None)
            .connect()
            .await
            .unwrap();
        store
            .write("gone", b"x", Some(Duration::from_millis(50)))
            .await
            .unwrap();
        store.write("kept", b"y", None).await.unwrap();
        // A lease whose holder never commits (a crashed process), on a key never written.
        let _ = store
            .lock_and_read("abandoned", 1, Duration::from_millis(50))
            .await
            .unwrap();
        // A live lease is never purged.
        let _ = store
            .lock_and_read("held", 2, Duration::from_secs(30))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.purge_expired().await.unwrap(), 2);
        assert_eq!(store.purge_expired().await.unwrap(), 0);
        assert_eq!(
            store.read("kept").await.unwrap().as_deref(),
            Some(&b"y"[..])
        );
        assert!(matches!(
            store
                .lock_and_read("held", 3, Duration::from_secs(30))
                .await
                .unwrap(),
            bot_session::storage::LockedRead::Busy {
                holder_ticket: Some(2)
            }
        ));
    }

    #[tokio::test]
    async fn background_sweep_deletes_expired_rows() {
        use bot_session::Storage;
        use std::time::Duration;
        let Some(url) = support::server_url("BOT_SESSION_POSTGRES_URL", "postgres") else {
            return;
        };
        let table = support::unique("sweep");
        let _drop = TempTable::new(table.clone());
        let store = PostgresStorage::builder(&url)
            .table(table.clone())
            .sweep_every(Some(Duration::from_millis(50)))
            .sweep_batch(3)
            .connect()
            .await
            .unwrap();
        for i in 0..10 {
            store
                .write(&format!("k{i}"), b"x", Some(Duration::from_millis(1)))
                .await
                .unwrap();
        }
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let rows: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get(0);
            if rows == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{rows} expired rows never swept"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Operations share the store's connections: one update at a time keeps one connection,
    /// and many at once open no more than `pool_size`, however many are in flight.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_are_shared_and_opened_only_when_all_are_busy() {
        use bot_session::Storage;
        use bot_session::storage::{Change, LockedRead};
        use std::time::Duration;
        let Some(url) = support::server_url("BOT_SESSION_POSTGRES_URL", "postgres") else {
            return;
        };
        let table = support::unique("shared");
        let _drop = TempTable::new(table.clone());
        let store = PostgresStorage::builder(&url)
            .table(table.clone())
            .pool_size(3)
            .sweep_every(None)
            .connect()
            .await
            .unwrap();
        let (monitor, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        // Every connection of the store prepares statements on its table when it opens.
        let connections = || async {
            let rows: i64 = monitor
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE application_name = 'bot-session' AND query LIKE '%\"' || $1 || '\"%'",
                    &[&table],
                )
                .await
                .unwrap()
                .get(0);
            rows
        };

        for i in 0..20u64 {
            let key = format!("k{}", i % 5);
            let LockedRead::Acquired { lease, value } = store
                .lock_and_read(&key, i + 1, Duration::from_secs(30))
                .await
                .unwrap()
            else {
                panic!("{key} is busy with nothing in flight");
            };
            let count = value.map_or(0, |v| v[0]) + 1;
            store
                .commit(&key, lease, Change::Write(&[count], None))
                .await
                .unwrap();
        }
        assert_eq!(connections().await, 1, "one update at a time opened more");

        let updates = (0..200u64).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("c{i}");
                let LockedRead::Acquired { lease, .. } = store
                    .lock_and_read(&key, 1000 + i, Duration::from_secs(30))
                    .await
                    .unwrap()
                else {
                    panic!("{key} is busy");
                };
                store
                    .commit(&key, lease, Change::Write(b"x", None))
                    .await
                    .unwrap();
            })
        });
        for update in updates.collect::<Vec<_>>() {
            update.await.unwrap();
        }
        let open = connections().await;
        assert!(
            (1..=3).contains(&open),
            "{open} connections for pool_size(3)"
        );
        for i in 0..5 {
            assert_eq!(store.read(&format!("k{i}")).await.unwrap(), Some(vec![4]));
        }
        for i in 0..200 {
            assert_eq!(
                store.read(&format!("c{i}")).await.unwrap().as_deref(),
                Some(&b"x"[..])
            );
        }
    }

    /// Takes and commits in flight together go out as batches: a batch holds each key once
    /// (the second take of a key waits for the next batch and finds it busy, with the
    /// holder's ticket), and each commit applies under its own lease.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_takes_and_commits_keep_one_holder_per_key() {
        use bot_session::Storage;
        use bot_session::storage::{Change, LockedRead};
        use std::time::Duration;
        let Some(url) = support::postgres::plain_url() else {
            return;
        };
        let table = support::unique("batched");
        let _drop = TempTable::new(table.clone());
        let store = PostgresStorage::builder(&url)
            .table(table)
            .sweep_every(None)
            .connect()
            .await
            .unwrap();
        store.write("k3", b"old", None).await.unwrap();
        let takes = (0..100u64).map(|ticket| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("k{}", ticket % 10);
                let taken = store
                    .lock_and_read(&key, ticket + 1, Duration::from_secs(30))
                    .await
                    .unwrap();
                (key, ticket + 1, taken)
            })
        });
        let mut holders = std::collections::HashMap::new();
        let mut busy = Vec::new();
        for take in takes.collect::<Vec<_>>() {
            match take.await.unwrap() {
                (key, ticket, LockedRead::Acquired { lease, value }) => {
                    assert_eq!(value.is_some(), key == "k3", "{key}: {value:?}");
                    let earlier = holders.insert(key.clone(), (ticket, lease));
                    assert!(earlier.is_none(), "{key} taken twice");
                }
                (key, _, LockedRead::Busy { holder_ticket }) => busy.push((key, holder_ticket)),
            }
        }
        assert_eq!((holders.len(), busy.len()), (10, 90));
        for (key, holder_ticket) in busy {
            assert_eq!(holder_ticket, Some(holders[&key].0), "{key}");
        }
        let commits = holders.into_iter().map(|(key, (ticket, lease))| {
            let store = store.clone();
            tokio::spawn(async move {
                let value = ticket.to_string().into_bytes();
                let change = if key == "k0" {
                    Change::Delete
                } else {
                    Change::Write(&value, None)
                };
                store.commit(&key, lease, change).await.unwrap();
                (key, value)
            })
        });
        for commit in commits.collect::<Vec<_>>() {
            let (key, value) = commit.await.unwrap();
            let expected = (key != "k0").then_some(value);
            assert_eq!(store.read(&key).await.unwrap(), expected, "{key}");
        }
    }

    #[tokio::test]
    async fn unreachable_server_fails_clearly() {
        use bot_session::{StorageErrorKind, StorageOp};
        let port = support::free_port();
        let err = PostgresStorage::builder(&format!(
            "postgres://nobody:secret@127.0.0.1:{port}/nowhere"
        ))
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
        assert_eq!((err.store(), err.op()), ("postgres", StorageOp::Open));
        assert_eq!(err.kind(), StorageErrorKind::Unavailable, "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("postgres://nobody@127.0.0.1:{port}/nowhere")),
            "{message}"
        );
        assert!(!message.contains("secret"), "{message}");
    }

    #[tokio::test]
    async fn table_names_are_checked_before_connecting() {
        use bot_session::{StorageErrorKind, StorageOp};
        let err = PostgresStorage::builder("postgres://nobody@127.0.0.1:1/none")
            .table("sessions; drop table x")
            .connect()
            .await
            .unwrap_err();
        assert_eq!((err.store(), err.op()), ("postgres", StorageOp::Open));
        assert_eq!(err.kind(), StorageErrorKind::Invalid);
        assert!(err.to_string().contains("invalid table name"), "{err}");
    }
}
