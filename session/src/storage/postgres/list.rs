//! Listing the PostgreSQL store: in key order, a page a statement (keyset pagination on the
//! primary key), on a connection of its own.
//!
//! A page is one `SELECT .. WHERE key > $last .. ORDER BY key LIMIT $n`: an index range scan
//! that starts just after the last key listed, so the millionth page costs what the first
//! did, each page is its own snapshot, and nothing but the page is held in memory. The cursor
//! is that last key. The key column is `COLLATE "C"`, so the index's order is the order of
//! the keys' bytes and a prefix's keys are one range of it. Rows that only carry a lease
//! (`value` NULL) are not sessions, and expired rows are skipped, by the database's clock.
//!
//! Pages run on a connection the listing opens the first time and keeps, not on the
//! connections updates share: a page takes milliseconds, and every statement pipelined behind
//! it on a shared connection would wait that long. The statement is sent unnamed, so it runs
//! behind PgBouncer in transaction mode too.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::Client;
use tokio_postgres::types::{ToSql, Type};

use super::errors::{STORE, pg_error};
use super::store::Store;
use super::table::Table;
use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::list::{page_size, prefix_end};
use crate::storage::{ListCursor, ListPage, ListedSession};

/// The database's clock in ms since the Unix epoch (as `sql.rs` has it).
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The listing's own connection, opened on the first page.
#[derive(Default)]
pub(super) struct Lister {
    client: Mutex<Option<Client>>,
}

impl Lister {
    /// One page of [`Storage::list`](crate::Storage::list).
    pub(super) async fn page(
        &self,
        store: &Store,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let op = StorageOp::List;
        let limit = page_size(limit);
        let after = cursor.key(STORE)?;
        let end = prefix_end(prefix);
        let table = Table::parse(&store.table)
            .map_err(|message| StorageError::new(STORE, op, StorageErrorKind::Invalid, message))?;
        let sql = page_sql(&table.quoted, after.is_some(), end.is_some());
        let lower = after.unwrap_or(prefix);
        let limit_param = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&lower, Type::TEXT)];
        if let Some(end) = &end {
            params.push((end, Type::TEXT));
        }
        params.push((&limit_param, Type::INT8));

        let mut client = self.client.lock().await;
        if client.as_ref().is_none_or(Client::is_closed) {
            *client = Some(store.connections.connect(op).await?);
        }
        let Some(conn) = client.as_ref() else {
            return Err(StorageError::unavailable(STORE, op, "no connection"));
        };
        let rows = match conn.query_typed(&sql, &params).await {
            Ok(rows) => rows,
            Err(err) => {
                let error = pg_error(op, err);
                if error.kind() == StorageErrorKind::Unavailable {
                    *client = None;
                }
                return Err(error);
            }
        };
        drop(client);
        let sessions = rows
            .iter()
            .map(|row| {
                let left: Option<i64> = row.try_get(2)?;
                Ok(ListedSession {
                    key: row.try_get(0)?,
                    value: row.try_get(1)?,
                    time_left: left.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(|err| pg_error(op, err))?;
        let next = (sessions.len() == limit)
            .then(|| sessions.last().map(|last| ListCursor::after_key(&last.key)))
            .flatten();
        Ok(ListPage { sessions, next })
    }
}

/// The page's statement: `$1` is the lower bound (after the cursor's key, or from the
/// prefix), then the prefix's end when it has one, then the limit.
fn page_sql(table: &str, after_cursor: bool, bounded: bool) -> String {
    let lower = if after_cursor {
        "key > $1"
    } else {
        "key >= $1"
    };
    let (upper, limit) = if bounded {
        (" AND key < $2", "$3")
    } else {
        ("", "$2")
    };
    format!(
        "SELECT key, value, expires_at - {NOW} FROM {table}
         WHERE {lower}{upper} AND value IS NOT NULL AND (expires_at IS NULL OR expires_at > {NOW})
         ORDER BY key LIMIT {limit}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_numbers_its_parameters_in_order() {
        for (after, bounded, params) in [
            (false, false, 2),
            (true, false, 2),
            (false, true, 3),
            (true, true, 3),
        ] {
            let sql = page_sql("\"t\"", after, bounded);
            let highest = (1..=9).filter(|n| sql.contains(&format!("${n}"))).max();
            assert_eq!(highest, Some(params), "{sql}");
            assert_eq!(sql.contains("key > $1"), after, "{sql}");
        }
    }
}
