//! Leases: taking a key for one update and committing its change, each one statement whose
//! conditions on the lease columns keep updates of other processes out.

use std::time::Duration;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{Change, Lease, LockedRead, nonce};

use super::errors::{STORE, pg_error};
use super::sql::{Query, ms, to_db};
use super::store::Store;

impl Store {
    /// Takes `key` for update `ticket` unless another update holds it (see the module docs).
    pub(super) async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        let op = StorageOp::Lock;
        let nonce = nonce::next();
        let lease_ms = ms(lease).max(1);
        let taken = self
            .query_opt(
                op,
                Query::Lock,
                &[&key, &to_db(ticket), &to_db(nonce), &lease_ms],
            )
            .await?;
        if let Some(row) = taken {
            let value = row
                .try_get::<_, Option<Vec<u8>>>(0)
                .map_err(|err| pg_error(op, err))?;
            return Ok(LockedRead::Acquired {
                lease: Some(Lease { ticket, nonce }),
                value,
            });
        }
        let holder = self
            .query_opt(op, Query::Holder, &[&key])
            .await?
            .map(|row| row.try_get::<_, Option<i64>>(0))
            .transpose()
            .map_err(|err| pg_error(op, err))?
            .flatten();
        Ok(LockedRead::Busy {
            holder_ticket: holder.map(|ticket| ticket as u64),
        })
    }

    /// Applies `change` and releases the lease, only while `lease` is still the key's.
    pub(super) async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let Some(lease) = lease else {
            // Not taken with a lease (a direct call): apply the change as plain statements.
            return match change {
                Change::Nothing => Ok(()),
                Change::Touch(ttl) => self.touch(key, ttl).await,
                Change::Write(value, ttl) => self.write(key, value, ttl).await,
                Change::Delete => self.delete(key).await,
            };
        };
        let op = StorageOp::Commit;
        let (ticket, nonce) = (to_db(lease.ticket), to_db(lease.nonce));
        let matched = match change {
            Change::Write(value, ttl) => {
                let ttl = ttl.map(ms);
                self.execute(
                    op,
                    Query::CommitWrite,
                    &[&key, &ticket, &nonce, &value, &ttl],
                )
                .await?
            }
            Change::Delete => {
                self.execute(op, Query::CommitDelete, &[&key, &ticket, &nonce])
                    .await?
            }
            Change::Nothing | Change::Touch(_) => {
                let ttl = match change {
                    Change::Touch(ttl) => Some(ms(ttl)),
                    _ => None,
                };
                let row = self
                    .query_opt(op, Query::CommitKeep, &[&key, &ticket, &nonce, &ttl])
                    .await?;
                let count = row
                    .map(|row| row.try_get::<_, i64>(0))
                    .transpose()
                    .map_err(|err| pg_error(op, err))?;
                count.unwrap_or(0).unsigned_abs()
            }
        };
        if matched > 0 {
            Ok(())
        } else {
            Err(StorageError::new(
                STORE,
                op,
                StorageErrorKind::LeaseLost,
                format!(
                    "the lease of update {} on `{key}` ran out and another update took the key",
                    lease.ticket
                ),
            ))
        }
    }
}
