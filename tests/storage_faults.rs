//! Stores failing underneath a running bot: the update fails with a `StorageError` that names
//! the store and the operation, nothing is half-written, and the bot recovers by itself once
//! the store is back.
//!
//! The Redis test starts its own `redis-server` (found on `PATH`) so that it can kill it; the
//! PostgreSQL tests use `BOT_SESSION_POSTGRES_URL` and drop their own connections. Locally a
//! missing server or binary skips a test; in CI (`CI` set) it fails it.

mod support;

#[cfg(any(feature = "redis", feature = "postgres"))]
use std::time::Duration;

#[cfg(any(feature = "redis", feature = "postgres"))]
use bot_session::{HandlerError, StorageError, StorageErrorKind, StorageOp};
#[cfg(any(feature = "redis", feature = "postgres"))]
use support::counter;

/// The `StorageError` an update failed with; panics if it failed for another reason.
#[cfg(any(feature = "redis", feature = "postgres"))]
fn storage_failure(err: &HandlerError) -> &StorageError {
    support::storage_error(&**err).unwrap_or_else(|| panic!("expected a storage error, got: {err}"))
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use bot_session::Storage;
    use bot_session::storage::RedisStorage;
    use support::redis_server::RedisServer;

    #[derive(Default, Debug, Clone, Copy)]
    struct Tally {
        ok: u64,
        failed: u64,
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_killed_mid_run_fails_updates_cleanly_then_recovers() {
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let store = RedisStorage::builder(&server.url())
            .response_timeout(Duration::from_secs(2))
            .connect()
            .await
            .expect("connect to the private redis-server");
        let bot = counter::bot(
            counter::middleware(store.clone())
                .lease(Duration::from_secs(1))
                .lock_wait(Duration::from_secs(10)),
        );
        for _ in 0..5 {
            bot.handle_update(counter::message(1))
                .await
                .expect("update before the kill");
        }

        // Four chats update as fast as they can while the server is killed under them.
        let stop = Arc::new(AtomicBool::new(false));
        let mut runners = Vec::new();
        for chat in 1..=4_i64 {
            let (bot, stop) = (bot.clone(), Arc::clone(&stop));
            runners.push(tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut errors = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match bot.handle_update(counter::message(chat)).await {
                        Ok(()) => tally.ok += 1,
                        Err(err) => {
                            tally.failed += 1;
                            errors.push(err.to_string());
                        }
                    }
                }
                (chat, tally, errors)
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        let mut tallies = HashMap::new();
        for runner in runners {
            let (chat, tally, errors) = runner.await.expect("a runner panicked");
            assert!(tally.ok > 0, "chat {chat} made no progress before the kill");
            assert!(tally.failed > 0, "chat {chat} never noticed the kill");
            for err in &errors {
                assert!(err.starts_with("session `counter` (key `counter:"), "{err}");
                assert!(err.contains("redis store failed to"), "{err}");
            }
            tallies.insert(chat, tally);
        }
        tallies.get_mut(&1).expect("chat 1").ok += 5;

        // While the server is down: a clear error naming the store and the operation.
        let err = bot
            .handle_update(counter::message(1))
            .await
            .expect_err("an update while redis is down");
        let failure = storage_failure(&err);
        assert_eq!(failure.store(), "redis");
        assert_eq!(failure.kind(), StorageErrorKind::Unavailable, "{err}");
        assert_eq!(failure.op(), StorageOp::Lock, "{err}");
        assert!(
            err.to_string().contains("redis store failed to lock"),
            "{err}"
        );
        let err = store
            .read("counter:1")
            .await
            .expect_err("a read while down");
        assert_eq!((err.store(), err.op()), ("redis", StorageOp::Read));
        assert_eq!(err.kind(), StorageErrorKind::Unavailable);

        // Back on the same port, with its append-only file: the same store and bot carry on.
        server.restart();
        for chat in 1..=4_i64 {
            let tally = tallies[&chat];
            let stored = counter::stored_count(&store, chat)
                .await
                .unwrap_or_else(|| panic!("chat {chat} lost its counter"));
            // Every acknowledged update is there; a failed one may have committed just before
            // its reply was lost, but none left a partial value (stored_count decodes it).
            assert!(
                stored >= tally.ok && stored <= tally.ok + tally.failed,
                "chat {chat}: stored {stored}, {tally:?}"
            );
        }
        let before = counter::stored_count(&store, 1).await.expect("chat 1");
        bot.handle_update(counter::message(1))
            .await
            .expect("the first update after the restart");
        assert_eq!(counter::stored_count(&store, 1).await, Some(before + 1));

        // Restarted while the bot is idle: the shared connection is dead, yet the next update
        // succeeds on a new one without a failure.
        server.restart();
        bot.handle_update(counter::message(1))
            .await
            .expect("the first update after an idle restart");
        assert_eq!(counter::stored_count(&store, 1).await, Some(before + 2));
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    use bot_session::Storage;
    use bot_session::storage::PostgresStorage;
    use tokio_postgres::{Client, NoTls};

    async fn admin(url: &str) -> Client {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .expect("an admin connection to postgres");
        tokio::spawn(connection);
        client
    }

    struct Fixture {
        url: String,
        table: String,
        store: PostgresStorage,
        monitor: Client,
    }

    impl Fixture {
        async fn new(test: &str) -> Option<Fixture> {
            let url = support::server_url("BOT_SESSION_POSTGRES_URL", "postgres")?;
            let table = support::unique(test);
            let store = PostgresStorage::builder(&url)
                .table(table.clone())
                .pool_size(2)
                .connect()
                .await
                .expect("connect to postgres");
            let monitor = admin(&url).await;
            Some(Fixture {
                url,
                table,
                store,
                monitor,
            })
        }

        /// Backends of this fixture's store (they have all run a statement on its table).
        async fn store_backends(&self, waiting_on_lock: bool) -> Vec<i32> {
            let rows = self
                .monitor
                .query(
                    "SELECT pid FROM pg_stat_activity
                     WHERE application_name = 'bot-session' AND pid <> pg_backend_pid()
                       AND query LIKE '%' || $1 || '%'
                       AND ($2 = false OR wait_event_type = 'Lock')",
                    &[&self.table, &waiting_on_lock],
                )
                .await
                .expect("query pg_stat_activity");
            rows.iter().map(|row| row.get(0)).collect()
        }

        async fn terminate(&self, pids: &[i32]) {
            for pid in pids {
                self.monitor
                    .execute("SELECT pg_terminate_backend($1)", &[pid])
                    .await
                    .expect("pg_terminate_backend");
            }
        }

        async fn drop_table(&self) {
            let _ = self
                .monitor
                .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table))
                .await;
        }
    }

    /// The update's connection is terminated while its statement waits: it fails, nothing
    /// changes, and the next update succeeds on a new connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_connection_dropped_mid_update_fails_it_then_recovers() {
        let Some(fx) = Fixture::new("fault_mid").await else {
            return;
        };
        let bot = counter::bot(counter::middleware(fx.store.clone()));
        for _ in 0..3 {
            bot.handle_update(counter::message(7))
                .await
                .expect("update before the drop");
        }

        // Hold the session's row locked from another connection, so the next update's
        // statement waits inside the server, where its connection is then terminated.
        let blocker = admin(&fx.url).await;
        blocker
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM {} WHERE key = 'counter:7' FOR UPDATE",
                fx.table
            ))
            .await
            .expect("lock the row");
        let pending = tokio::spawn({
            let bot = bot.clone();
            async move { bot.handle_update(counter::message(7)).await }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let waiting = loop {
            let pids = fx.store_backends(true).await;
            if !pids.is_empty() {
                break pids;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the update never waited on the lock"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        fx.terminate(&waiting).await;

        let err = pending
            .await
            .expect("the update task")
            .expect_err("an update whose connection was dropped");
        let failure = storage_failure(&err);
        assert_eq!(failure.store(), "postgres");
        assert_eq!(failure.op(), StorageOp::Lock, "{err}");
        assert_eq!(failure.kind(), StorageErrorKind::Unavailable, "{err}");
        assert!(
            err.to_string().contains("postgres store failed to lock"),
            "{err}"
        );
        blocker.batch_execute("ROLLBACK").await.expect("unlock");

        assert_eq!(
            counter::stored_count(&fx.store, 7).await,
            Some(3),
            "the failed update changed the session"
        );
        bot.handle_update(counter::message(7))
            .await
            .expect("the next update, on a new connection");
        assert_eq!(counter::stored_count(&fx.store, 7).await, Some(4));
        fx.drop_table().await;
    }

    /// Every pooled connection is terminated between updates: at most one update per pooled
    /// connection notices (with a clear error), and the bot carries on without a restart.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_pool_recovers_after_its_connections_are_terminated() {
        let Some(fx) = Fixture::new("fault_idle").await else {
            return;
        };
        let bot = counter::bot(counter::middleware(fx.store.clone()));
        for _ in 0..3 {
            bot.handle_update(counter::message(8))
                .await
                .expect("update");
        }
        let pids = fx.store_backends(false).await;
        assert!(!pids.is_empty(), "the store has no open connections");
        fx.terminate(&pids).await;

        let mut failures = 0;
        let mut done = 0;
        while done < 3 {
            match bot.handle_update(counter::message(8)).await {
                Ok(()) => done += 1,
                Err(err) => {
                    failures += 1;
                    let failure = storage_failure(&err);
                    assert_eq!(failure.store(), "postgres");
                    assert_eq!(failure.kind(), StorageErrorKind::Unavailable, "{err}");
                    assert!(
                        failures <= 2,
                        "the pool (2 connections) does not recover: {err}"
                    );
                }
            }
        }
        eprintln!("updates that failed after the drop: {failures}");
        assert_eq!(counter::stored_count(&fx.store, 8).await, Some(6));
        let err = fx.store.read("x").await.err();
        assert!(err.is_none(), "{err:?}");
        fx.drop_table().await;
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use bot_session::storage::SqliteStorage;
    use bot_session::{Storage, StorageErrorKind, StorageOp};

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_refused_at_open() {
        let dir = super::support::TempDir::new("garbage");
        let path = dir.path().join("sessions.db");
        let garbage: Vec<u8> = b"this is not an SQLite database, just some text\n"
            .iter()
            .copied()
            .cycle()
            .take(8192)
            .collect();
        std::fs::write(&path, &garbage).unwrap();

        let err = SqliteStorage::open(&path)
            .await
            .expect_err("opening a text file as a database");
        assert_eq!((err.store(), err.op()), ("sqlite", StorageOp::Open));
        assert_eq!(err.kind(), StorageErrorKind::Invalid);
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a database"), "{message}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            garbage,
            "the file was modified"
        );
    }

    #[tokio::test]
    async fn a_path_in_a_missing_directory_is_refused_at_open() {
        let dir = super::support::TempDir::new("missing");
        let path = dir.path().join("no/such/dir/sessions.db");
        let err = SqliteStorage::open(&path)
            .await
            .expect_err("opening a file in a missing directory");
        assert_eq!((err.store(), err.op()), ("sqlite", StorageOp::Open));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_read_only_database_is_refused_at_open() {
        let dir = super::support::TempDir::new("read_only");
        let path = dir.path().join("sessions.db");
        let store = SqliteStorage::open(&path).await.unwrap();
        store.write("kept", b"1", None).await.unwrap();
        drop(store);
        // What SQLite does with a write-protected file, also for root (whom `chmod` does not
        // stop): it opens the database for reading only.
        let read_only = format!("file:{}?mode=ro", path.display());
        let err = SqliteStorage::open(&read_only)
            .await
            .expect_err("opening a database that cannot be written");
        assert_eq!((err.store(), err.op()), ("sqlite", StorageOp::Open));
        assert_eq!(err.kind(), StorageErrorKind::Invalid);
        let message = err.to_string();
        assert!(message.contains(&read_only), "{message}");
        assert!(message.contains("read-only"), "{message}");
        assert!(message.contains("writable"), "{message}");
    }

    /// A small tmpfs mounted for one test and unmounted when dropped; `None` (skipped, or a
    /// failure in CI) when this process may not mount file systems.
    struct SmallDisk {
        dir: super::support::TempDir,
    }

    impl SmallDisk {
        fn mount(size: &str) -> Option<SmallDisk> {
            let dir = super::support::TempDir::new("small_disk");
            let mounted = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .output();
            match mounted {
                Ok(out) if out.status.success() => Some(SmallDisk { dir }),
                Ok(out) => super::support::skip_or_fail(&format!(
                    "cannot mount a {size} tmpfs (needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(err) => super::support::skip_or_fail(&format!("cannot run mount: {err}")),
            }
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Fills the disk to the last byte with `filler`.
        fn fill(&self, filler: &Path) {
            use std::io::Write as _;
            let mut file = std::fs::File::create(filler).unwrap();
            let block = vec![0xa5_u8; 4096];
            while file.write_all(&block).is_ok() {}
            while file.write_all(&[0]).is_ok() {}
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            // Lazily: the store's thread may still be closing its files.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nearly_full_disk_is_enough_and_a_full_one_recovers_once_space_is_back() {
        let Some(disk) = SmallDisk::mount("2m") else {
            return;
        };
        let path = disk.path().join("sessions.db");
        let open = || SqliteStorage::builder().sweep_every(None).open(&path);
        let value = |n: usize| vec![n as u8; 1000];
        // A bot that has run before: its sessions are in the database file, its log is gone.
        let store = open().await.unwrap();
        for n in 0..20 {
            store
                .write(&format!("chat:{n}"), &value(n), None)
                .await
                .unwrap();
        }
        drop(store);
        let log = disk.path().join("sessions.db-wal");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while log.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the closed store kept its log"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }

        let store = open().await.unwrap();
        // Each write adds a page to the log; 2,000 of them are four times what this disk holds,
        // so they only all succeed if the log is checkpointed and reused before it fills it.
        for n in 0..2000 {
            let key = format!("chat:{}", n % 20);
            store
                .write(&key, &value(n), None)
                .await
                .unwrap_or_else(|err| panic!("write {n} on a disk with room for the data: {err}"));
        }

        // No room at all: new sessions fail with an error that says so...
        let filler: PathBuf = disk.path().join("filler");
        disk.fill(&filler);
        let mut failure = None;
        for n in 0..1000 {
            if let Err(err) = store.write(&format!("new:{n}"), &value(n), None).await {
                failure = Some(err);
                break;
            }
        }
        let err = failure.expect("writes kept succeeding on a full disk");
        assert_eq!((err.store(), err.op()), ("sqlite", StorageOp::Write));
        let message = err.to_string();
        assert!(message.contains("full"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");

        // ...and once space is back, the same store writes again.
        std::fs::remove_file(&filler).unwrap();
        for n in 0..500 {
            let key = format!("chat:{}", n % 20);
            store
                .write(&key, &value(n + 1), None)
                .await
                .unwrap_or_else(|err| panic!("write {n} after space came back: {err}"));
        }
        store.write("after", b"room again", None).await.unwrap();
        assert_eq!(
            store.read("after").await.unwrap().as_deref(),
            Some(&b"room again"[..])
        );
        drop(store);
    }
}
