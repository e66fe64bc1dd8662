//! Listing the SQLite store: in key order, a page a query, on a read connection.
//!
//! Each page is one query that seeks the primary key's index to just after the last key
//! listed (keyset pagination), so a page costs the same at the end of a large table as at
//! its start, and nothing but the page is read into memory. The cursor is that last key. A
//! page runs on a read connection on a blocking thread: in WAL mode it never waits for the
//! writer nor makes it wait, and it holds no runtime thread for the length of a page. A
//! database in memory has no read connection, so its pages queue for the store thread.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params_from_iter};

use super::SqliteStorage;
use super::error::{STORE, stopped};
use crate::error::{StorageError, StorageOp};
use crate::storage::list::{page_size, prefix_end};
use crate::storage::{ListCursor, ListPage, ListedSession};

/// What one page asks for (times in milliseconds since the epoch).
struct PageQuery {
    prefix: String,
    after: Option<String>,
    limit: usize,
    now: i64,
}

impl PageQuery {
    /// The page's sessions: the first `limit` live rows under the prefix after the cursor.
    fn run(&self, conn: &Connection) -> rusqlite::Result<Vec<ListedSession>> {
        let end = prefix_end(&self.prefix);
        // The tightest lower bound is a seek in the index: after the cursor's key (which
        // starts with the prefix), or from the prefix.
        let mut sql = String::from("SELECT key, value, expires_at FROM sessions WHERE ");
        let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(4);
        match &self.after {
            Some(after) => {
                sql.push_str("key > ?");
                args.push(after);
            }
            None => {
                sql.push_str("key >= ?");
                args.push(&self.prefix);
            }
        }
        if let Some(end) = &end {
            sql.push_str(" AND key < ?");
            args.push(end);
        }
        sql.push_str(" AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?");
        args.push(&self.now);
        let limit = i64::try_from(self.limit).unwrap_or(i64::MAX);
        args.push(&limit);
        let mut statement = conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(args), |row| {
            let expires_at: Option<i64> = row.get(2)?;
            Ok(ListedSession {
                key: row.get(0)?,
                value: row.get(1)?,
                time_left: expires_at
                    .map(|at| Duration::from_millis(u64::try_from(at - self.now).unwrap_or(0))),
            })
        })?;
        rows.collect()
    }
}

impl SqliteStorage {
    /// One page of [`Storage::list`](crate::Storage::list).
    pub(super) async fn list_page(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let limit = page_size(limit);
        let query = PageQuery {
            prefix: prefix.to_owned(),
            after: cursor.key(STORE)?.map(str::to_owned),
            limit,
            now: self.now(),
        };
        let op = StorageOp::List;
        let sessions = if self.inner.db.readers.is_empty() {
            self.queued(op, move |conn| query.run(conn)).await?
        } else {
            let handle = Arc::clone(&self.inner);
            let read = tokio::task::spawn_blocking(move || {
                handle.db.readers.read_waiting(|conn| query.run(conn))
            });
            match read.await {
                Ok(Some(rows)) => rows.map_err(|err| self.error(op, err))?,
                Ok(None) | Err(_) => return Err(stopped(op)),
            }
        };
        let next = (sessions.len() == limit)
            .then(|| sessions.last().map(|last| ListCursor::after_key(&last.key)))
            .flatten();
        Ok(ListPage { sessions, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::storage::Storage;

    #[tokio::test]
    async fn pages_seek_past_the_cursor_and_stop_at_the_prefix_end() {
        let clock = ManualClock::default();
        let store = SqliteStorage::builder()
            .clock(clock.clone())
            .sweep_every(None)
            .open_in_memory()
            .unwrap();
        for key in ["a:1", "a:2", "a:3", "a;", "a", "b:1"] {
            store.write(key, key.as_bytes(), None).await.unwrap();
        }
        store
            .write("a:4", b"x", Some(Duration::from_secs(5)))
            .await
            .unwrap();
        store
            .write("a:5", b"x", Some(Duration::from_secs(50)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(10));
        let first = store.list("a:", &ListCursor::start(), 2).await.unwrap();
        let keys: Vec<&str> = first.sessions.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["a:1", "a:2"]);
        let second = store
            .list("a:", first.next.as_ref().unwrap(), 2)
            .await
            .unwrap();
        let keys: Vec<&str> = second.sessions.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["a:3", "a:5"], "a:4 expired");
        assert_eq!(second.sessions[1].time_left, Some(Duration::from_secs(40)));
        assert_eq!(second.sessions[0].time_left, None);
        let last = store
            .list("a:", second.next.as_ref().unwrap(), 2)
            .await
            .unwrap();
        assert_eq!(last, ListPage::default());
    }
}
