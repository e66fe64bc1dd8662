//! The state every clone of the store shares, and the plain operations: one prepared
//! statement each, on a shared connection.

use std::time::Duration;

use tokio_postgres::types::ToSql;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{Change, Lease};

use super::connections::{Connections, Using};
use super::errors::pg_error;
use super::sql::{Query, Sql, ms, to_db};

/// What every clone of a [`PostgresStorage`](super::PostgresStorage) shares: the connections,
/// the statements' text and the table's name.
pub(super) struct Store {
    pub(super) connections: Connections,
    pub(super) sql: Sql,
    /// The table as given to the builder, for messages.
    pub(super) table: String,
}

impl Store {
    /// Runs `query` on a shared connection, answering how many rows it changed.
    pub(super) async fn execute(
        &self,
        op: StorageOp,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        let connection = self.connections.get(op, &self.sql).await?;
        let result = connection
            .statements
            .execute(&connection.client, &self.sql, query, params)
            .await;
        result.map_err(|err| self.failed(op, &connection, err))
    }

    /// Runs `query` on a shared connection, answering the rows it returned.
    pub(super) async fn query(
        &self,
        op: StorageOp,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        let connection = self.connections.get(op, &self.sql).await?;
        let result = connection
            .statements
            .query(&connection.client, &self.sql, query, params)
            .await;
        result.map_err(|err| self.failed(op, &connection, err))
    }

    /// Runs `query` on a shared connection, answering the row it returned, if any.
    pub(super) async fn query_opt(
        &self,
        op: StorageOp,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, StorageError> {
        let connection = self.connections.get(op, &self.sql).await?;
        let result = connection
            .statements
            .query_opt(&connection.client, &self.sql, query, params)
            .await;
        result.map_err(|err| self.failed(op, &connection, err))
    }

    /// Turns a failed statement into the error to report, and forgets a connection that
    /// broke: the client may not know it closed yet, and the next operation would fail on it
    /// too.
    fn failed(
        &self,
        op: StorageOp,
        connection: &Using,
        err: tokio_postgres::Error,
    ) -> StorageError {
        let error = pg_error(op, err);
        if error.kind() == StorageErrorKind::Unavailable {
            self.connections.discard(&connection.0);
        }
        error
    }

    pub(super) async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self
            .query_opt(StorageOp::Read, Query::Read, &[&key])
            .await?;
        row.map(|row| row.try_get::<_, Vec<u8>>(0))
            .transpose()
            .map_err(|err| pg_error(StorageOp::Read, err))
    }

    pub(super) async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let ttl = ttl.map(ms);
        self.execute(StorageOp::Write, Query::Write, &[&key, &value, &ttl])
            .await
            .map(drop)
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.execute(StorageOp::Delete, Query::Delete, &[&key])
            .await
            .map(drop)
    }

    pub(super) async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.execute(StorageOp::Touch, Query::Touch, &[&key, &ms(ttl)])
            .await
            .map(drop)
    }

    /// Applies a change made without a lease (a direct call), as plain statements.
    pub(super) async fn apply(&self, key: &str, change: Change<'_>) -> Result<(), StorageError> {
        match change {
            Change::Nothing => Ok(()),
            Change::Touch(ttl) => self.touch(key, ttl).await,
            Change::Write(value, ttl) => self.write(key, value, ttl).await,
            Change::Delete => self.delete(key).await,
        }
    }

    /// Moves the end of `lease` on `key` to `duration` from now, if it is still held.
    pub(super) async fn renew(
        &self,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Result<bool, StorageError> {
        let params: [&(dyn ToSql + Sync); 4] = [
            &key,
            &to_db(lease.ticket),
            &to_db(lease.nonce),
            &ms(duration),
        ];
        let renewed = self.execute(StorageOp::Lock, Query::Renew, &params).await?;
        Ok(renewed == 1)
    }

    /// Deletes every expired row that no update holds a lease on, on a connection of its own
    /// (see [`PostgresStorage::purge_expired`](super::PostgresStorage::purge_expired)).
    pub(super) async fn purge_expired(&self) -> Result<u64, StorageError> {
        let op = StorageOp::Purge;
        let client = self.connections.connect(op).await?;
        // Unnamed, like every statement behind a pooler: one round trip, nothing left behind.
        client
            .execute_typed(&self.sql.purge, &[])
            .await
            .map_err(|err| pg_error(op, err))
    }
}
