//! PostgreSQL behind PgBouncer in transaction mode: why the store needs
//! `prepared_statements(false)` there, and that it then works whichever server connection
//! each statement reaches. Needs the PgBouncer `scripts/services.sh` starts
//! (`BOT_SESSION_PGBOUNCER_URL`); the whole storage conformance suite and the cross-process
//! test also run through it.
#![cfg(feature = "postgres")]

mod support;

use bot_session::Storage;
use bot_session::storage::PostgresStorage;
use support::postgres::{TempTable, pgbouncer_two_servers_url};

/// Opens a store and runs a write and a read, its statements reaching the other of the pool's
/// two server connections than the one it opened on: a client holds a server in a transaction
/// while the store opens (so the store prepares on the other one), then commits, so that
/// PgBouncer (which reuses the server released last) hands the store the one it did not
/// prepare on.
async fn statements_change_servers(
    url: &str,
    prepared: bool,
) -> (Result<(), bot_session::StorageError>, TempTable) {
    let (holder, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to pgbouncer");
    tokio::spawn(connection);
    holder.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let table = support::unique("bouncer");
    let guard = TempTable::new(table.clone());
    let store = PostgresStorage::builder(url)
        .table(table)
        .pool_size(1)
        .sweep_every(None)
        .prepared_statements(prepared)
        .connect()
        .await;
    holder.batch_execute("COMMIT").await.unwrap();
    let result = async {
        let store = store?;
        store.write("k", b"v", None).await?;
        assert_eq!(store.read("k").await?.as_deref(), Some(&b"v"[..]));
        Ok(())
    }
    .await;
    (result, guard)
}

/// One test, not two: both need the pool's two server connections to themselves.
#[tokio::test]
async fn named_statements_break_when_the_server_connection_changes_and_unnamed_do_not() {
    let Some(url) = pgbouncer_two_servers_url() else {
        return;
    };
    let (result, _drop) = statements_change_servers(&url, false).await;
    result.expect("unnamed statements through pgbouncer");

    // Named, the statement reaches a server connection it was not prepared on. tokio-postgres
    // names statements s0, s1, ... in each process, and a server connection keeps what
    // earlier clients prepared on it: the name is unknown there ("prepared statement does
    // not exist"), or names an earlier test process's statement, on its dropped table
    // ("relation does not exist"), or is already taken when the store prepares its own
    // ("prepared statement already exists").
    let (result, _drop) = statements_change_servers(&url, true).await;
    let err = result.expect_err("a statement prepared on another server connection ran");
    let message = err.to_string();
    assert!(
        message.contains("prepared statement") && message.contains("exist")
            || message.contains("relation") && message.contains("does not exist"),
        "{message}"
    );
}
