//! The statements that take and commit leases: one operation alone, or a batch of them in one
//! statement (see `leases` for when each is used).

use std::borrow::Cow;
use std::collections::HashSet;

use tokio_postgres::Row;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{Change, Lease, LockedRead};

use super::errors::{STORE, pg_error};
use super::sql::{Query, ms, to_db};
use super::store::Store;

/// Taking `key` for update `ticket`, with a fresh nonce.
pub(super) struct Take<'a> {
    pub(super) key: Cow<'a, str>,
    pub(super) ticket: u64,
    pub(super) nonce: u64,
    /// The lease's length in ms (at least 1).
    pub(super) lease_ms: i64,
}

/// Finishing an update: its change, applied only while `lease` is still the key's.
pub(super) struct Commit<'a> {
    pub(super) key: Cow<'a, str>,
    pub(super) lease: Lease,
    pub(super) change: Outcome<'a>,
}

/// A [`Change`] that can wait in a queue (owning its bytes once it does).
pub(super) enum Outcome<'a> {
    /// Release without writing, refreshing the expiry by this many ms if given.
    Keep(Option<i64>),
    Write(Cow<'a, [u8]>, Option<i64>),
    Delete,
}

pub(super) type TakeResult = Result<LockedRead, StorageError>;
pub(super) type CommitResult = Result<(), StorageError>;

impl Take<'_> {
    pub(super) fn into_owned(self) -> Take<'static> {
        Take {
            key: Cow::Owned(self.key.into_owned()),
            ticket: self.ticket,
            nonce: self.nonce,
            lease_ms: self.lease_ms,
        }
    }
}

impl<'a> Commit<'a> {
    pub(super) fn new(key: &'a str, lease: Lease, change: Change<'a>) -> Commit<'a> {
        let change = match change {
            Change::Nothing => Outcome::Keep(None),
            Change::Touch(ttl) => Outcome::Keep(Some(ms(ttl))),
            Change::Write(value, ttl) => Outcome::Write(Cow::Borrowed(value), ttl.map(ms)),
            Change::Delete => Outcome::Delete,
        };
        Commit {
            key: Cow::Borrowed(key),
            lease,
            change,
        }
    }

    /// Releases a lease taken for a caller that stopped waiting for it.
    pub(super) fn release(take: Take<'static>) -> Commit<'static> {
        Commit {
            key: take.key,
            lease: Lease {
                ticket: take.ticket,
                nonce: take.nonce,
            },
            change: Outcome::Keep(None),
        }
    }

    pub(super) fn into_owned(self) -> Commit<'static> {
        Commit {
            key: Cow::Owned(self.key.into_owned()),
            lease: self.lease,
            change: match self.change {
                Outcome::Keep(ttl) => Outcome::Keep(ttl),
                Outcome::Write(value, ttl) => Outcome::Write(Cow::Owned(value.into_owned()), ttl),
                Outcome::Delete => Outcome::Delete,
            },
        }
    }

    fn lease_lost(&self) -> StorageError {
        StorageError::new(
            STORE,
            StorageOp::Commit,
            StorageErrorKind::LeaseLost,
            format!(
                "the lease of update {} on `{}` ran out and another update took the key",
                self.lease.ticket, self.key
            ),
        )
    }
}

/// One take alone: one statement, and a second only when the key is busy (for the holder).
pub(super) async fn take_one(store: &Store, take: &Take<'_>) -> TakeResult {
    let op = StorageOp::Lock;
    let key: &str = &take.key;
    let (ticket, nonce) = (to_db(take.ticket), to_db(take.nonce));
    let taken = store
        .query_opt(op, Query::Lock, &[&key, &ticket, &nonce, &take.lease_ms])
        .await?;
    if let Some(row) = taken {
        let value = row
            .try_get::<_, Option<Vec<u8>>>(0)
            .map_err(|err| pg_error(op, err))?;
        return Ok(LockedRead::Acquired {
            lease: Some(Lease {
                ticket: take.ticket,
                nonce: take.nonce,
            }),
            value,
        });
    }
    let holder = store
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

/// Several takes, of distinct keys sorted in byte order, in one statement.
pub(super) async fn take_many(store: &Store, takes: &[&Take<'_>]) -> Vec<TakeResult> {
    let op = StorageOp::Lock;
    let keys: Vec<&str> = takes.iter().map(|take| &*take.key).collect();
    let tickets: Vec<i64> = takes.iter().map(|take| to_db(take.ticket)).collect();
    let nonces: Vec<i64> = takes.iter().map(|take| to_db(take.nonce)).collect();
    let leases: Vec<i64> = takes.iter().map(|take| take.lease_ms).collect();
    let rows = store
        .query(op, Query::TakeMany, &[&keys, &tickets, &nonces, &leases])
        .await;
    let rows = match rows {
        Ok(rows) if rows.len() == takes.len() => rows,
        Ok(rows) => {
            let err = StorageError::other(
                STORE,
                op,
                format!("{} rows answered {} takes", rows.len(), takes.len()),
            );
            return each_failed(&err, takes.len());
        }
        Err(err) => return each_failed(&err, takes.len()),
    };
    takes
        .iter()
        .zip(rows)
        .map(|(take, row)| taken(take, &row).map_err(|err| pg_error(op, err)))
        .collect()
}

fn taken(take: &Take<'_>, row: &Row) -> Result<LockedRead, tokio_postgres::Error> {
    if row.try_get::<_, bool>(0)? {
        Ok(LockedRead::Acquired {
            lease: Some(Lease {
                ticket: take.ticket,
                nonce: take.nonce,
            }),
            value: row.try_get(1)?,
        })
    } else {
        let holder: Option<i64> = row.try_get(2)?;
        Ok(LockedRead::Busy {
            holder_ticket: holder.map(|ticket| ticket as u64),
        })
    }
}

/// One commit alone: one statement.
pub(super) async fn commit_one(store: &Store, commit: &Commit<'_>) -> CommitResult {
    let op = StorageOp::Commit;
    let key: &str = &commit.key;
    let (ticket, nonce) = (to_db(commit.lease.ticket), to_db(commit.lease.nonce));
    let matched = match &commit.change {
        Outcome::Write(value, ttl) => {
            let value: &[u8] = value;
            store
                .execute(
                    op,
                    Query::CommitWrite,
                    &[&key, &ticket, &nonce, &value, ttl],
                )
                .await?
        }
        Outcome::Delete => {
            store
                .execute(op, Query::CommitDelete, &[&key, &ticket, &nonce])
                .await?
        }
        Outcome::Keep(ttl) => {
            let row = store
                .query_opt(op, Query::CommitKeep, &[&key, &ticket, &nonce, ttl])
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
        Err(commit.lease_lost())
    }
}

/// Several commits, of distinct keys, in one statement.
pub(super) async fn commit_many(store: &Store, commits: &[&Commit<'_>]) -> Vec<CommitResult> {
    let op = StorageOp::Commit;
    let keys: Vec<&str> = commits.iter().map(|commit| &*commit.key).collect();
    let tickets: Vec<i64> = commits.iter().map(|c| to_db(c.lease.ticket)).collect();
    let nonces: Vec<i64> = commits.iter().map(|c| to_db(c.lease.nonce)).collect();
    let changes: Vec<i16> = commits
        .iter()
        .map(|commit| match commit.change {
            Outcome::Write(..) => 1,
            Outcome::Delete => 2,
            Outcome::Keep(_) => 3,
        })
        .collect();
    let values: Vec<Option<&[u8]>> = commits
        .iter()
        .map(|commit| match &commit.change {
            Outcome::Write(value, _) => Some(&**value),
            _ => None,
        })
        .collect();
    let ttls: Vec<Option<i64>> = commits
        .iter()
        .map(|commit| match commit.change {
            Outcome::Write(_, ttl) | Outcome::Keep(ttl) => ttl,
            Outcome::Delete => None,
        })
        .collect();
    let rows = store
        .query(
            op,
            Query::CommitMany,
            &[&keys, &tickets, &nonces, &changes, &values, &ttls],
        )
        .await;
    let committed = rows.and_then(|rows| {
        rows.iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<HashSet<String>, _>>()
            .map_err(|err| pg_error(op, err))
    });
    match committed {
        Ok(committed) => commits
            .iter()
            .map(|commit| {
                if committed.contains(&*commit.key) {
                    Ok(())
                } else {
                    Err(commit.lease_lost())
                }
            })
            .collect(),
        Err(err) => each_failed(&err, commits.len()),
    }
}

/// The failure of a batch's statement, for each operation in it.
fn each_failed<T>(err: &StorageError, count: usize) -> Vec<Result<T, StorageError>> {
    let cause = std::error::Error::source(err).map_or_else(|| err.to_string(), ToString::to_string);
    (0..count)
        .map(|_| {
            Err(StorageError::new(
                STORE,
                err.op(),
                err.kind(),
                format!("{cause} (in a batch of {count})"),
            ))
        })
        .collect()
}
