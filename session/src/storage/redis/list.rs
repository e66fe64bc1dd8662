//! Listing the Redis store: `SCAN` over the prefix's keys, lease keys left out, then a `GET`
//! and a `PTTL` of each key in one pipelined request; in a cluster, every master in turn.
//!
//! # Pages
//!
//! A page sends `SCAN <cursor> MATCH <prefix>* COUNT <room> TYPE string` until it has a page
//! of keys or the scan is over (at most [`SCANS_PER_PAGE`] of them, so a page whose prefix
//! matches few keys still answers in bounded time, maybe empty), then reads the values and
//! times left of those keys in one request; a key gone meanwhile (deleted, or expired) is
//! skipped. `SCAN` may answer a few more keys than the room left (the rest of a hash bucket):
//! those are kept in the cursor and listed first on the next page, so a page never holds more
//! than its limit. Keys a page saw twice are listed once.
//!
//! # What `SCAN` promises
//!
//! Redis's `SCAN` returns every key present from the start of the scan to its end, and may
//! return a key twice only when Redis shrank its key table meanwhile: when, during the
//! listing, the database lost most of its keys (the table shrinks when fewer than a tenth of
//! its slots are used). A listing then may list a key of an earlier page again.
//!
//! # Cluster
//!
//! `SCAN` sees one node's keys, so a cluster is listed master by master, in the order of the
//! lowest slot each serves (`CLUSTER SLOTS`, asked at every page). The cursor names the master
//! and its address: a failover or resharding that moves the master being listed mid-scan ends
//! the listing with [`StorageErrorKind::Unavailable`] (a `SCAN` cursor means nothing to
//! another node), and a listing started again lists everything.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Pipeline, RedisResult, Value};

use super::keys::LEASE_SUFFIX;
use super::plain::Plain;
use super::{RedisStorage, STORE, query};
use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::list::{bad_cursor, page_size};
use crate::storage::{ListCursor, ListPage, ListedSession};

/// A key's value and time left; `None` when the key is gone.
type Found = Option<(Vec<u8>, Option<Duration>)>;

/// The most `SCAN`s one page sends.
const SCANS_PER_PAGE: usize = 16;

const OP: StorageOp = StorageOp::List;

/// A cluster master: the lowest slot it serves (which names it in the cursor) and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Master {
    slot: u16,
    host: String,
    port: u16,
}

impl Master {
    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Where a listing of the Redis store resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    /// In a cluster, the master being scanned.
    master: Option<Master>,
    /// Its `SCAN` cursor; `None` once its scan is over and only `pending` is left of it.
    scan: Option<u64>,
    /// Keys of that node that a `SCAN` answered past a page's room (session keys, without the
    /// store's layout), listed first.
    pending: Vec<String>,
}

impl Position {
    fn start(master: Option<Master>) -> Position {
        Position {
            master,
            scan: Some(0),
            pending: Vec::new(),
        }
    }

    /// The text of the cursor: `s:<scan>` (one server) or `c:<slot>:<scan>:<host:port>` (a
    /// cluster), `<scan>` being `end` once the node's scan is over; then, when keys are
    /// pending, `|` and each key as `<length>:<key>`.
    fn cursor(&self) -> ListCursor {
        let scan = self
            .scan
            .map_or_else(|| "end".to_owned(), |scan| scan.to_string());
        let mut text = match &self.master {
            None => format!("s:{scan}"),
            Some(master) => format!("c:{}:{scan}:{}", master.slot, master.address()),
        };
        if !self.pending.is_empty() {
            text.push('|');
            for key in &self.pending {
                let _ = write!(text, "{}:{key}", key.len());
            }
        }
        ListCursor::from_string(text)
    }

    fn parse(cursor: &ListCursor) -> Option<Position> {
        let (head, pending) = match cursor.as_str().split_once('|') {
            Some((head, pending)) => (head, parse_pending(pending)?),
            None => (cursor.as_str(), Vec::new()),
        };
        let scan = |text: &str| match text {
            "end" => Some(None),
            scan => scan.parse().ok().map(Some),
        };
        if let Some(rest) = head.strip_prefix("s:") {
            return Some(Position {
                master: None,
                scan: scan(rest)?,
                pending,
            });
        }
        let mut fields = head.strip_prefix("c:")?.splitn(3, ':');
        let slot = fields.next()?.parse().ok()?;
        let at = scan(fields.next()?)?;
        let (host, port) = fields.next()?.rsplit_once(':')?;
        Some(Position {
            master: Some(Master {
                slot,
                host: host.to_owned(),
                port: port.parse().ok()?,
            }),
            scan: at,
            pending,
        })
    }
}

/// `<length>:<key>` repeated.
fn parse_pending(mut text: &str) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    while !text.is_empty() {
        let (len, rest) = text.split_once(':')?;
        let len: usize = len.parse().ok()?;
        keys.push(rest.get(..len)?.to_owned());
        text = &rest[len..];
    }
    Some(keys)
}

/// `text` with Redis's glob characters escaped, so that it matches only itself.
fn glob_escape(text: &[u8], out: &mut Vec<u8>) {
    for &byte in text {
        if matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
}

impl RedisStorage {
    /// One page of [`Storage::list`](crate::Storage::list): keys of one node only.
    pub(super) async fn list_page(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let limit = page_size(limit);
        let masters = match &self.plain {
            Plain::Server(_) => None,
            Plain::Cluster(conn) => Some(masters(conn.clone()).await?),
        };
        let mut at = if cursor.is_start() {
            let first = masters
                .as_ref()
                .and_then(|masters| masters.first().cloned());
            Position::start(first)
        } else {
            Position::parse(cursor)
                .filter(|at| at.master.is_some() == masters.is_some())
                .ok_or_else(|| bad_cursor(STORE, cursor))?
        };
        if let (Some(masters), Some(master)) = (&masters, &mut at.master) {
            let fresh = at.scan == Some(0) && at.pending.is_empty();
            check_master(masters, master, fresh)?;
        }

        let pattern = self.pattern(prefix);
        let take = at.pending.len().min(limit);
        let mut keys: Vec<String> = at.pending.drain(..take).collect();
        let mut seen: HashSet<String> = keys.iter().chain(&at.pending).cloned().collect();
        let mut scans = 0;
        while let Some(scan) = at.scan
            && keys.len() < limit
            && scans < SCANS_PER_PAGE
        {
            scans += 1;
            let (next, found) = self
                .scan(at.master.as_ref(), scan, &pattern, limit - keys.len())
                .await?;
            at.scan = (next != 0).then_some(next);
            for key in found.iter().filter_map(|key| self.session_key(key, prefix)) {
                if seen.insert(key.to_owned()) {
                    if keys.len() < limit {
                        keys.push(key.to_owned());
                    } else {
                        at.pending.push(key.to_owned());
                    }
                }
            }
        }
        let sessions = self.fetch(at.master.as_ref(), &keys).await?;
        let next = if at.scan.is_none() && at.pending.is_empty() {
            // This node is done: the next master, if any, from the next page on.
            let current = at.master.as_ref().map(|master| master.slot);
            masters
                .iter()
                .flatten()
                .find(|master| current.is_some_and(|slot| master.slot > slot))
                .map(|master| Position::start(Some(master.clone())).cursor())
        } else {
            Some(at.cursor())
        };
        Ok(ListPage { sessions, next })
    }

    /// The `MATCH` pattern of the session keys under `prefix`, in this store's layout.
    fn pattern(&self, prefix: &str) -> Vec<u8> {
        let mut pattern = Vec::new();
        if self.keys.is_tagged() {
            pattern.push(b'{');
        }
        glob_escape(self.keys.prefix(), &mut pattern);
        glob_escape(prefix.as_bytes(), &mut pattern);
        pattern.push(b'*');
        pattern
    }

    /// The session key that the Redis key `key` stores, when it stores one under `prefix`:
    /// not a lease, not another application's key.
    fn session_key<'a>(&self, key: &'a [u8], prefix: &str) -> Option<&'a str> {
        let key = if self.keys.is_tagged() {
            key.strip_prefix(b"{")?.strip_suffix(b"}")?
        } else if key.ends_with(LEASE_SUFFIX) {
            return None;
        } else {
            key
        };
        let key = std::str::from_utf8(key.strip_prefix(self.keys.prefix())?).ok()?;
        key.starts_with(prefix).then_some(key)
    }

    /// One `SCAN` step, on the master `master` in a cluster.
    async fn scan(
        &self,
        master: Option<&Master>,
        cursor: u64,
        pattern: &[u8],
        count: usize,
    ) -> Result<(u64, Vec<Vec<u8>>), StorageError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count)
            .arg("TYPE")
            .arg("string");
        let reply: (String, Vec<Vec<u8>>) = match (&self.plain, master) {
            (Plain::Cluster(conn), Some(master)) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: master.host.clone(),
                    port: master.port,
                });
                let value = conn
                    .clone()
                    .route_command(cmd, routing)
                    .await
                    .map_err(|err| super::errors::storage_error(OP, err))?;
                redis::from_redis_value(value).map_err(|err| reply_error(err.to_string()))?
            }
            _ => {
                self.run(OP, |conn| query::<(String, Vec<Vec<u8>>)>(&cmd, conn))
                    .await?
            }
        };
        let next = reply
            .0
            .parse()
            .map_err(|_| reply_error(format!("SCAN answered the cursor `{}`", reply.0)))?;
        Ok((next, reply.1))
    }

    /// The value and time left of each of `keys` (session keys), skipping those gone.
    async fn fetch(
        &self,
        master: Option<&Master>,
        keys: &[String],
    ) -> Result<Vec<ListedSession>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for key in keys {
            let stored = self.keys.value_key(key);
            pipe.cmd("GET").arg(&stored).cmd("PTTL").arg(&stored);
        }
        let replies: Vec<Value> = match (&self.plain, master) {
            (Plain::Cluster(conn), Some(master)) => {
                let route = SingleNodeRoutingInfo::ByAddress {
                    host: master.host.clone(),
                    port: master.port,
                };
                conn.clone()
                    .route_pipeline(pipe, 0, keys.len() * 2, route)
                    .await
                    .map_err(|err| super::errors::storage_error(OP, err))?
            }
            _ => self.run(OP, |conn| run_pipeline(&pipe, conn)).await?,
        };
        if replies.len() != keys.len() * 2 {
            return Err(reply_error(format!(
                "{} replies to {} commands",
                replies.len(),
                keys.len() * 2
            )));
        }
        let mut sessions = Vec::with_capacity(keys.len());
        let mut replies = replies.into_iter();
        for key in keys {
            let (Some(value), Some(ttl)) = (replies.next(), replies.next()) else {
                break;
            };
            let found = match (value, ttl) {
                // A key that moved to another node since the scan (a resharding): asked again
                // where the cluster now keeps it.
                (Value::ServerError(_), _) | (_, Value::ServerError(_)) => {
                    self.fetch_one(key).await?
                }
                (value, ttl) => decode(value, ttl)?,
            };
            if let Some((value, time_left)) = found {
                sessions.push(ListedSession {
                    key: key.clone(),
                    value,
                    time_left,
                });
            }
        }
        Ok(sessions)
    }

    /// The value and time left of one key (in a cluster, on the node that serves it).
    pub(super) async fn fetch_one(&self, key: &str) -> Result<Found, StorageError> {
        let stored = self.keys.value_key(key);
        let mut get = redis::cmd("GET");
        get.arg(&stored);
        let mut pttl = redis::cmd("PTTL");
        pttl.arg(&stored);
        let value: Value = self.run(OP, |conn| query::<Value>(&get, conn)).await?;
        let ttl: Value = self.run(OP, |conn| query::<Value>(&pttl, conn)).await?;
        decode(value, ttl)
    }
}

async fn run_pipeline(pipe: &Pipeline, mut conn: Plain) -> RedisResult<Vec<Value>> {
    pipe.query_async(&mut conn).await
}

/// A `GET` and a `PTTL` reply: the value and its time left, `None` when the key is gone.
fn decode(value: Value, ttl: Value) -> Result<Found, StorageError> {
    let value = match value {
        Value::Nil => return Ok(None),
        Value::BulkString(bytes) => bytes,
        other => return Err(reply_error(format!("GET answered {other:?}"))),
    };
    let time_left = match ttl {
        // No expiry.
        Value::Int(-1) => None,
        // Gone (expired) since the GET.
        Value::Int(-2) => return Ok(None),
        Value::Int(ms) => Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        other => return Err(reply_error(format!("PTTL answered {other:?}"))),
    };
    Ok(Some((value, time_left)))
}

/// The cluster's masters, in the order of the lowest slot each serves.
async fn masters(
    mut conn: redis::cluster_async::ClusterConnection,
) -> Result<Vec<Master>, StorageError> {
    let reply = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").to_owned(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await
        .map_err(|err| super::errors::storage_error(OP, err))?;
    let Value::Array(ranges) = reply else {
        return Err(reply_error(format!("CLUSTER SLOTS answered {reply:?}")));
    };
    let mut masters: Vec<Master> = Vec::new();
    for range in ranges {
        let master = slot_range_master(&range)
            .ok_or_else(|| reply_error(format!("CLUSTER SLOTS answered the range {range:?}")))?;
        match masters
            .iter_mut()
            .find(|m| (&m.host, m.port) == (&master.host, master.port))
        {
            Some(known) => known.slot = known.slot.min(master.slot),
            None => masters.push(master),
        }
    }
    if masters.is_empty() {
        return Err(StorageError::unavailable(
            STORE,
            OP,
            "the Redis Cluster serves no slot (CLUSTER SLOTS is empty): is it set up?",
        ));
    }
    masters.sort_by_key(|master| master.slot);
    Ok(masters)
}

/// `[start, end, [host, port, id, ..], replicas..]`: the range's first slot and its master.
fn slot_range_master(range: &Value) -> Option<Master> {
    let Value::Array(fields) = range else {
        return None;
    };
    let Value::Int(start) = fields.first()? else {
        return None;
    };
    let Value::Array(node) = fields.get(2)? else {
        return None;
    };
    let host = match node.first()? {
        Value::BulkString(host) => String::from_utf8(host.clone()).ok()?,
        Value::SimpleString(host) => host.clone(),
        _ => return None,
    };
    let Value::Int(port) = node.get(1)? else {
        return None;
    };
    Some(Master {
        slot: u16::try_from(*start).ok()?,
        host,
        port: u16::try_from(*port).ok()?,
    })
}

/// Checks that the master a cursor names still serves its slot; at the start of its scan, a
/// new master of the slot (after a failover) takes its place.
fn check_master(masters: &[Master], master: &mut Master, fresh: bool) -> Result<(), StorageError> {
    match masters.iter().find(|m| m.slot == master.slot) {
        Some(now) if now == master => Ok(()),
        Some(now) if fresh => {
            *master = now.clone();
            Ok(())
        }
        now => Err(StorageError::new(
            STORE,
            OP,
            StorageErrorKind::Unavailable,
            format!(
                "the Redis Cluster changed during the listing: the master that served slot {} \
                 was {}, and is now {} (a failover or a resharding); a Redis scan cannot \
                 resume on another node: start the listing again",
                master.slot,
                master.address(),
                now.map_or_else(|| "another layout".to_owned(), Master::address),
            ),
        )),
    }
}

fn reply_error(message: String) -> StorageError {
    StorageError::other(STORE, OP, format!("unexpected reply from Redis: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_with_their_pending_keys() {
        for position in [
            Position::start(None),
            Position {
                master: None,
                scan: None,
                pending: vec!["k".into()],
            },
            Position {
                master: None,
                scan: Some(12345),
                pending: vec!["a:1".into(), "with|bar:and:colons".into(), "".into()],
            },
            Position {
                master: Some(Master {
                    slot: 5461,
                    host: "::1".into(),
                    port: 7001,
                }),
                scan: Some(7),
                pending: vec!["ünï:1".into()],
            },
        ] {
            let cursor = position.cursor();
            assert_eq!(Position::parse(&cursor), Some(position), "{cursor}");
        }
        for bad in ["k:x", "s:", "s:x", "c:1:2", "s:1|3:ab", "s:1|x:ab", "s:en"] {
            assert_eq!(
                Position::parse(&ListCursor::from_string(bad)),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn glob_characters_are_escaped() {
        let mut out = Vec::new();
        glob_escape(br"a*b?[c]\d", &mut out);
        assert_eq!(out, br"a\*b\?\[c\]\\d");
    }

    #[test]
    fn a_moved_master_ends_a_scan_under_way_but_not_one_about_to_start() {
        let masters = vec![
            Master {
                slot: 0,
                host: "h".into(),
                port: 2,
            },
            Master {
                slot: 5461,
                host: "h".into(),
                port: 3,
            },
        ];
        let mut same = masters[1].clone();
        assert!(check_master(&masters, &mut same, false).is_ok());
        let mut moved = Master {
            port: 9,
            ..masters[1].clone()
        };
        let err = check_master(&masters, &mut moved.clone(), false).unwrap_err();
        assert_eq!(err.kind(), StorageErrorKind::Unavailable);
        assert!(
            err.to_string().contains("h:9") && err.to_string().contains("h:3"),
            "{err}"
        );
        assert!(check_master(&masters, &mut moved, true).is_ok());
        assert_eq!(moved, masters[1]);
    }
}
