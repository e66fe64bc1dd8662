//! How a connection runs the store's statements: prepared once when it opens (named
//! statements, the default), or sent with their text each time (unnamed statements, for
//! PgBouncer in transaction mode). Either way a statement is one round trip.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use super::sql::{Query, Sql};

/// The statements of one connection.
pub(super) enum Statements {
    /// Prepared on this connection, in the order the [`Query`] variants are declared.
    Prepared(Box<[Statement]>),
    /// Sent with their text and parameter types every time: nothing lives on the server
    /// between statements, so any server connection behind a pooler can run each one.
    Unnamed,
}

impl Statements {
    /// Prepares them all on `client`, sent together: tokio-postgres pipelines them, one round
    /// trip for all.
    pub(super) async fn prepare(
        client: &Client,
        sql: &Sql,
    ) -> Result<Statements, tokio_postgres::Error> {
        macro_rules! prepare_all {
            ($($name:ident: $query:ident),*) => {{
                let ($($name,)*) =
                    tokio::try_join!($(client.prepare(sql.text(Query::$query))),*)?;
                Box::new([$($name),*])
            }};
        }
        // In the order the `Query` variants are declared.
        Ok(Statements::Prepared(prepare_all!(
            read: Read,
            write: Write,
            delete: Delete,
            touch: Touch,
            lock: Lock,
            take_many: TakeMany,
            holder: Holder,
            renew: Renew,
            commit_write: CommitWrite,
            commit_delete: CommitDelete,
            commit_keep: CommitKeep,
            commit_many: CommitMany,
            sweep: Sweep
        )))
    }

    /// Runs `query`, answering how many rows it changed.
    pub(super) async fn execute(
        &self,
        client: &Client,
        sql: &Sql,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        match self {
            Statements::Prepared(statements) => {
                client.execute(&statements[index(query)], params).await
            }
            Statements::Unnamed => {
                client
                    .execute_typed(sql.text(query), &typed(query, params))
                    .await
            }
        }
    }

    /// Runs `query`, answering the rows it returned.
    pub(super) async fn query(
        &self,
        client: &Client,
        sql: &Sql,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self {
            Statements::Prepared(statements) => {
                client.query(&statements[index(query)], params).await
            }
            Statements::Unnamed => {
                client
                    .query_typed(sql.text(query), &typed(query, params))
                    .await
            }
        }
    }

    /// Runs `query`, answering the row it returned, if any.
    pub(super) async fn query_opt(
        &self,
        client: &Client,
        sql: &Sql,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        match self {
            Statements::Prepared(statements) => {
                client.query_opt(&statements[index(query)], params).await
            }
            Statements::Unnamed => {
                client
                    .query_typed_opt(sql.text(query), &typed(query, params))
                    .await
            }
        }
    }
}

/// Where `query`'s statement is among the prepared ones.
fn index(query: Query) -> usize {
    query as usize
}

fn typed<'a>(
    query: Query,
    params: &[&'a (dyn ToSql + Sync)],
) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params
        .iter()
        .copied()
        .zip(query.param_types().iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_numbered_in_their_listed_order() {
        for (position, query) in Query::ALL.into_iter().enumerate() {
            assert_eq!(index(query), position, "{query:?}");
        }
    }
}
