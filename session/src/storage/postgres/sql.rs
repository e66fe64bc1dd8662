//! Every SQL statement of the store, and the conversions of its parameters.

use std::time::Duration;

use tokio_postgres::types::Type;

use super::table::Table;

/// The database's clock in ms since the Unix epoch.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Every statement, with the table name filled in once.
pub(super) struct Sql {
    pub(super) create: String,
    pub(super) read: String,
    pub(super) write: String,
    pub(super) delete: String,
    pub(super) touch: String,
    pub(super) lock: String,
    pub(super) holder: String,
    pub(super) commit_write: String,
    pub(super) commit_delete: String,
    pub(super) commit_keep: String,
    pub(super) purge: String,
    pub(super) sweep: String,
}

impl Sql {
    pub(super) fn new(table: &Table) -> Sql {
        let t = &table.quoted;
        let index = &table.index;
        let lease_free = format!("(lease_until IS NULL OR lease_until <= {NOW})");
        Sql {
            // One implicit transaction; the advisory lock keeps processes that start together
            // from racing to create the same table.
            create: format!(
                "SELECT pg_advisory_xact_lock(hashtext('bot-session:' || '{display}'));
                 CREATE TABLE IF NOT EXISTS {t} (
                     key text COLLATE \"C\" PRIMARY KEY,
                     value bytea,
                     expires_at bigint,
                     lease_ticket bigint,
                     lease_nonce bigint,
                     lease_until bigint
                 );
                 CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_at) WHERE expires_at IS NOT NULL;",
                display = table.display,
            ),
            read: format!(
                "SELECT value FROM {t} WHERE key = $1 AND value IS NOT NULL
                   AND (expires_at IS NULL OR expires_at > {NOW})"
            ),
            write: format!(
                "INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, {NOW} + $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
            ),
            delete: format!("DELETE FROM {t} WHERE key = $1"),
            touch: format!(
                "UPDATE {t} SET expires_at = {NOW} + $2 WHERE key = $1 AND value IS NOT NULL
                   AND (expires_at IS NULL OR expires_at > {NOW})"
            ),
            // A new row carries only the lease; its expires_at is the lease's end, so the
            // sweep removes it if its holder never commits. An expired value is dropped as the
            // lease is taken, so the row reads as missing from then on.
            lock: format!(
                "INSERT INTO {t} AS s (key, value, expires_at, lease_ticket, lease_nonce, lease_until)
                 VALUES ($1, NULL, {NOW} + $4, $2, $3, {NOW} + $4)
                 ON CONFLICT (key) DO UPDATE SET
                     value = CASE WHEN s.expires_at IS NULL OR s.expires_at > {NOW} THEN s.value END,
                     expires_at = CASE
                         WHEN s.value IS NOT NULL AND (s.expires_at IS NULL OR s.expires_at > {NOW})
                         THEN s.expires_at ELSE excluded.lease_until END,
                     lease_ticket = excluded.lease_ticket,
                     lease_nonce = excluded.lease_nonce,
                     lease_until = excluded.lease_until
                 WHERE s.lease_until IS NULL OR s.lease_until <= {NOW}
                 RETURNING value"
            ),
            holder: format!("SELECT lease_ticket FROM {t} WHERE key = $1 AND lease_until > {NOW}"),
            commit_write: format!(
                "UPDATE {t} SET value = $4, expires_at = {NOW} + $5,
                     lease_ticket = NULL, lease_nonce = NULL, lease_until = NULL
                 WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3"
            ),
            commit_delete: format!(
                "DELETE FROM {t} WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3"
            ),
            // Release without writing: a lease-only row goes away, a row with a value keeps it
            // and gets its expiry refreshed when $4 (the TTL in ms) is given and it is live.
            commit_keep: format!(
                "WITH gone AS (
                     DELETE FROM {t} WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3
                       AND value IS NULL
                     RETURNING 1
                 ), kept AS (
                     UPDATE {t} SET lease_ticket = NULL, lease_nonce = NULL, lease_until = NULL,
                         expires_at = CASE
                             WHEN $4::bigint IS NOT NULL AND (expires_at IS NULL OR expires_at > {NOW})
                             THEN {NOW} + $4::bigint ELSE expires_at END
                     WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3 AND value IS NOT NULL
                     RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM kept)"
            ),
            purge: format!("DELETE FROM {t} WHERE expires_at <= {NOW} AND {lease_free}"),
            sweep: format!(
                "DELETE FROM {t} WHERE key IN (
                     SELECT key FROM {t} WHERE expires_at <= {NOW} AND {lease_free}
                     LIMIT $1 FOR UPDATE SKIP LOCKED
                 )"
            ),
        }
    }
}

/// The statements operations run (all but the table's creation and `purge_expired`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Query {
    Read,
    Write,
    Delete,
    Touch,
    Lock,
    Holder,
    CommitWrite,
    CommitDelete,
    CommitKeep,
    Sweep,
}

impl Query {
    /// Every query, in the order of declaration (the order of a connection's prepared
    /// statements).
    #[cfg(test)]
    pub(super) const ALL: [Query; 10] = [
        Query::Read,
        Query::Write,
        Query::Delete,
        Query::Touch,
        Query::Lock,
        Query::Holder,
        Query::CommitWrite,
        Query::CommitDelete,
        Query::CommitKeep,
        Query::Sweep,
    ];

    /// The types of `$1`, `$2`, ..., for statements sent with their text (not prepared).
    pub(super) fn param_types(self) -> &'static [Type] {
        match self {
            Query::Read | Query::Delete | Query::Holder => &[Type::TEXT],
            Query::Write => &[Type::TEXT, Type::BYTEA, Type::INT8],
            Query::Touch => &[Type::TEXT, Type::INT8],
            Query::Lock => &[Type::TEXT, Type::INT8, Type::INT8, Type::INT8],
            Query::CommitWrite => &[Type::TEXT, Type::INT8, Type::INT8, Type::BYTEA, Type::INT8],
            Query::CommitDelete => &[Type::TEXT, Type::INT8, Type::INT8],
            Query::CommitKeep => &[Type::TEXT, Type::INT8, Type::INT8, Type::INT8],
            Query::Sweep => &[Type::INT8],
        }
    }
}

impl Sql {
    /// The text of `query`.
    pub(super) fn text(&self, query: Query) -> &str {
        match query {
            Query::Read => &self.read,
            Query::Write => &self.write,
            Query::Delete => &self.delete,
            Query::Touch => &self.touch,
            Query::Lock => &self.lock,
            Query::Holder => &self.holder,
            Query::CommitWrite => &self.commit_write,
            Query::CommitDelete => &self.commit_delete,
            Query::CommitKeep => &self.commit_keep,
            Query::Sweep => &self.sweep,
        }
    }
}

/// A duration in whole ms, as the statements take it.
pub(super) fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Tickets and nonces are `u64`; the columns are `bigint`. The bits round-trip unchanged.
pub(super) fn to_db(n: u64) -> i64 {
    n as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_has_as_many_types_as_parameters() {
        let sql = Sql::new(&Table::parse("t").unwrap());
        for query in Query::ALL {
            let text = sql.text(query);
            let highest = (1..=9)
                .filter(|n| text.contains(&format!("${n}")))
                .max()
                .unwrap_or(0);
            assert_eq!(query.param_types().len(), highest, "{query:?}: {text}");
        }
    }

    #[test]
    fn tickets_round_trip_through_bigint() {
        for n in [0, 1, u64::MAX, u64::MAX / 2 + 1] {
            assert_eq!(to_db(n) as u64, n);
        }
    }
}
