//! The PostgreSQL deployments `scripts/services.sh` starts: plain, over TLS, behind PgBouncer.

/// The plain server (`BOT_SESSION_POSTGRES_URL`); `None` locally when it is not set.
pub fn plain_url() -> Option<String> {
    super::server_url("BOT_SESSION_POSTGRES_URL", "postgres")
}

/// The server over TLS as `BOT_SESSION_POSTGRES_TLS_URL` gives it (`sslmode=verify-full`, no
/// CA), and the path of the CA that signed its certificate (`BOT_SESSION_POSTGRES_TLS_CA`).
pub fn tls() -> Option<(String, String)> {
    let url = super::server_url("BOT_SESSION_POSTGRES_TLS_URL", "postgres with TLS")?;
    let ca = super::server_url("BOT_SESSION_POSTGRES_TLS_CA", "postgres with TLS")?;
    Some((url, ca))
}

/// The TLS URL with the CA as libpq takes it: `sslrootcert=PATH`.
pub fn tls_url_with_root_cert() -> Option<String> {
    let (url, ca) = tls()?;
    Some(with_param(&url, "sslrootcert", &ca))
}

/// PgBouncer in transaction mode in front of the plain server (`BOT_SESSION_PGBOUNCER_URL`).
pub fn pgbouncer_url() -> Option<String> {
    super::server_url("BOT_SESSION_PGBOUNCER_URL", "pgbouncer")
}

/// The same PgBouncer's `bot_session_two_servers` database: the same PostgreSQL database
/// through a pool of two server connections that no other test uses.
pub fn pgbouncer_two_servers_url() -> Option<String> {
    let url = pgbouncer_url()?;
    let base = url
        .strip_suffix("/bot_session")
        .unwrap_or_else(|| panic!("BOT_SESSION_PGBOUNCER_URL does not end in /bot_session: {url}"));
    Some(format!("{base}/bot_session_two_servers"))
}

/// `url` with `key=value` added to its query.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={value}")
}

/// A store on the PostgreSQL server at `url` in `table` (one test's own: a `TempTable` drops
/// it).
#[cfg(feature = "postgres")]
pub async fn connect(url: &str, table: &str) -> bot_session::PostgresStorage {
    bot_session::PostgresStorage::builder(url)
        .table(table)
        .connect()
        .await
        .unwrap_or_else(|err| panic!("connect to postgres at {url}: {err}"))
}

/// A CA certificate that signed nothing the test servers present.
pub const UNRELATED_CA: &[u8] = include_bytes!("unrelated_ca.pem");

/// A table dropped (through the plain server) when the test is over.
pub struct TempTable {
    table: String,
}

impl TempTable {
    pub fn new(table: impl Into<String>) -> TempTable {
        TempTable {
            table: table.into(),
        }
    }
}

impl Drop for TempTable {
    fn drop(&mut self) {
        let Some(url) = std::env::var("BOT_SESSION_POSTGRES_URL").ok() else {
            return;
        };
        execute_apart(url, format!("DROP TABLE IF EXISTS {}", self.table));
    }
}

/// Runs `sql` on the server at `url` from a thread with a small runtime of its own, and waits
/// for it: for clean-ups in `Drop`, which runs inside the test's runtime (perhaps shutting
/// down). A failure is ignored: it leaves a table of a throwaway server behind.
pub fn execute_apart(url: String, sql: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .ok()?;
            tokio::spawn(connection);
            client.batch_execute(&sql).await.ok()
        })
    })
    .join();
}
