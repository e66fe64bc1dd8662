//! The statements every operation uses, prepared on each connection when it opens.

use tokio_postgres::{Client, Statement};

use super::sql::Sql;

/// Each of [`Sql`]'s statements that operations run, prepared on one connection.
pub(super) struct Statements {
    pub(super) read: Statement,
    pub(super) write: Statement,
    pub(super) delete: Statement,
    pub(super) touch: Statement,
    pub(super) lock: Statement,
    pub(super) holder: Statement,
    pub(super) commit_write: Statement,
    pub(super) commit_delete: Statement,
    pub(super) commit_keep: Statement,
    pub(super) sweep: Statement,
}

impl Statements {
    /// Prepares them all on `client`, sent together: tokio-postgres pipelines them, one round
    /// trip for all.
    pub(super) async fn prepare(
        client: &Client,
        sql: &Sql,
    ) -> Result<Statements, tokio_postgres::Error> {
        macro_rules! prepare_all {
            ($($name:ident),*) => {{
                let ($($name,)*) = tokio::try_join!($(client.prepare(&sql.$name)),*)?;
                Statements { $($name),* }
            }};
        }
        Ok(prepare_all!(
            read,
            write,
            delete,
            touch,
            lock,
            holder,
            commit_write,
            commit_delete,
            commit_keep,
            sweep
        ))
    }
}
