//! What one batch sends to Redis and how its replies are read: lease takes as plain pipelined
//! commands, commits as one script call for all of them.
//!
//! A batch of `t` takes and `c` commits is one request, in this order:
//!
//! 1. when `c > 0`: `EVALSHA <COMMIT_MANY> 2c v1 .. vc l1 .. lc  p  ..`, which applies and
//!    releases every commit whose lease is still its own, atomically, and answers the
//!    positions of those whose lease was lost (none, normally);
//! 2. per take: `SET <lease> <token> NX PX <ms> GET`, which takes the lease when it is free
//!    and answers the previous holder (nil when there was none);
//! 3. when `t > 0`: `MGET v1 .. vt`, the values, read after the leases were taken.
//!
//! Commits go first so that a take in the same batch finds the leases they release free.
//! Reading the value after taking the lease, in a later command, is as safe as reading it in
//! the same script: a value only changes under its lease (by the commit script, which checks
//! it), so once the lease is ours nothing but our own commit writes the value.
//!
//! The commands are written through [`Commands`]: as RESP bytes for the direct connection, as
//! a redis-rs pipeline for the others. In a cluster every batch is one slot's operations (a
//! script's keys, and an MGET's, must share a slot).

pub(super) use super::commands::Commands;
use super::keys::KeyScheme;
use super::link::LinkError;
use super::reply::{Reply, ServerError};
use super::token::LeaseToken;
use crate::storage_key::StorageKey;

/// The commit script.
///
/// KEYS: the session key of each commit, then the lease key of each, in the same order.
/// ARGV\[1\]: how many of the commits, `p`, are plain writes (no TTL); they come first. Then per
/// plain write: `ticket:nonce` and the bytes to write; per other commit: `ticket:nonce`, the
/// change (`n` nothing, `d` delete, `w<ms>` write with a TTL, `t<ms>` touch) and the bytes
/// (empty unless writing). Answers the positions (1-based, among the commits) of the commits
/// that found their lease taken over or gone: those changed nothing.
///
/// Every key the script touches is in KEYS, as Redis Cluster requires. Inside a script Redis's
/// cost per argument and per call is large next to the commands themselves: a plain write
/// passes no change code, the leases are read with one MGET, the plain writes are one MSET
/// and all deletes (values and leases) one DEL, whatever the number of commits.
pub(super) const COMMIT_MANY: &str = r"
local n, p = #KEYS / 2, tonumber(ARGV[1])
local holders = redis.call('MGET', unpack(KEYS, n + 1))
local lost, writes, deletes = {}, {}, {}
local nl, nw, nd = 0, 0, 0
for i = 1, p do
  if holders[i] == ARGV[2 * i] then
    writes[nw + 1] = KEYS[i]
    writes[nw + 2] = ARGV[2 * i + 1]
    nw = nw + 2
    nd = nd + 1
    deletes[nd] = KEYS[n + i]
  else
    nl = nl + 1
    lost[nl] = i
  end
end
for i = p + 1, n do
  local a = 2 * p + 3 * (i - p) - 1
  if holders[i] == ARGV[a] then
    local change, key = ARGV[a + 1], KEYS[i]
    local kind = string.byte(change)
    if kind == 100 then
      nd = nd + 1
      deletes[nd] = key
    elseif kind == 119 then
      redis.call('SET', key, ARGV[a + 2], 'PX', string.sub(change, 2))
    elseif kind == 116 then
      redis.call('PEXPIRE', key, string.sub(change, 2))
    end
    nd = nd + 1
    deletes[nd] = KEYS[n + i]
  else
    nl = nl + 1
    lost[nl] = i
  end
end
if nw > 0 then redis.call('MSET', unpack(writes, 1, nw)) end
if nd > 0 then redis.call('DEL', unpack(deletes, 1, nd)) end
return lost
";

/// One lease to take: `SET <lease> <token> NX PX <ms> GET`, and its value to read.
#[derive(Debug, Clone)]
pub(super) struct Take {
    /// The session key, without the store's prefix; inline, so a take costs no allocation
    /// for it.
    pub key: StorageKey,
    /// Unique to this take.
    pub token: LeaseToken,
    pub lease_ms: u64,
}

/// One commit: a change applied only while `token` still holds the lease, then the release.
#[derive(Debug, Clone)]
pub(super) struct Commit {
    /// The session key, then the bytes to write (none unless the change writes): one
    /// allocation for both.
    bytes: Box<[u8]>,
    key_len: usize,
    pub token: LeaseToken,
    pub change: ChangeCode,
}

impl Commit {
    pub(super) fn new(key: &[u8], token: LeaseToken, change: ChangeCode, value: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(key.len() + value.len());
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(value);
        Commit {
            bytes: bytes.into_boxed_slice(),
            key_len: key.len(),
            token,
            change,
        }
    }

    /// The session key, without the store's prefix.
    pub(super) fn key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    pub(super) fn value(&self) -> &[u8] {
        &self.bytes[self.key_len..]
    }

    /// This commit reduced to releasing its lease, for an update nobody waits for any more.
    pub(super) fn release_only(&mut self) {
        self.change = ChangeCode::Nothing;
        let mut key = std::mem::take(&mut self.bytes).into_vec();
        key.truncate(self.key_len);
        self.bytes = key.into_boxed_slice();
    }

    fn is_plain_write(&self) -> bool {
        self.change == ChangeCode::Write(None)
    }
}

/// The change of a [`Commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeCode {
    Nothing,
    Delete,
    /// A write, with its TTL in milliseconds if it has one.
    Write(Option<u64>),
    /// A touch with this TTL in milliseconds.
    Touch(u64),
}

impl ChangeCode {
    /// The change as the script reads it (not used for plain writes).
    fn write_to(self, out: &mut impl Commands) {
        let mut digits = itoa::Buffer::new();
        let (code, ms): (&[u8], &[u8]) = match self {
            ChangeCode::Nothing => (b"n", b""),
            ChangeCode::Delete => (b"d", b""),
            ChangeCode::Write(None) => (b"w", b""),
            ChangeCode::Write(Some(ms)) => (b"w", digits.format(ms).as_bytes()),
            ChangeCode::Touch(ms) => (b"t", digits.format(ms).as_bytes()),
        };
        out.arg_parts(&[code, ms]);
    }
}

/// What a take found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Taken {
    /// The lease is ours; the value as it was stored.
    Acquired(Option<Vec<u8>>),
    /// Another token holds the lease: its value, `ticket:nonce`.
    Busy(Vec<u8>),
}

/// Why one operation of a batch failed.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// Redis answered this operation with an error.
    Server(ServerError),
    /// The request failed on the way; see [`LinkError`].
    Link(LinkError),
    /// Redis answered something this store never asks for.
    Reply(String),
    /// The server lacks what this store needs.
    Unsupported(String),
    /// The task sending the request stopped (its runtime shut down) before Redis answered:
    /// the operation may or may not have been applied.
    Abandoned,
}

pub(super) type TakeOutcome = Result<Taken, Failure>;
/// `Ok(true)`: applied and released; `Ok(false)`: the lease was no longer this commit's.
pub(super) type CommitOutcome = Result<bool, Failure>;

/// What a batch's request asks for: how many replies, and in which order the commits were
/// written (plain writes first).
#[derive(Debug)]
pub(super) struct Layout {
    pub replies: usize,
    /// `commit_order[i]`: the index, among the commits given, of the i-th commit sent.
    commit_order: Vec<usize>,
}

/// Writes the request of one batch (see the module docs) to `out`; `script_hash` is
/// [`COMMIT_MANY`]'s SHA-1. `load_script` sends `SCRIPT LOAD` first (after Redis answered
/// `NOSCRIPT`).
pub(super) fn request(
    out: &mut impl Commands,
    keys: &KeyScheme,
    script_hash: &str,
    takes: &[&Take],
    commits: &[&Commit],
    load_script: bool,
) -> Layout {
    let mut replies = 0;
    if load_script {
        out.command(3)
            .arg(b"SCRIPT")
            .arg(b"LOAD")
            .arg(COMMIT_MANY.as_bytes());
        replies += 1;
    }
    let mut commit_order: Vec<usize> = (0..commits.len()).collect();
    if !commits.is_empty() {
        // Plain writes first: the script takes them without a change code.
        commit_order.sort_by_key(|&i| !commits[i].is_plain_write());
        let plain = commits.iter().filter(|c| c.is_plain_write()).count();
        let others = commits.len() - plain;
        out.command(4 + 2 * commits.len() + 2 * plain + 3 * others)
            .arg(b"EVALSHA")
            .arg(script_hash.as_bytes())
            .arg_u64(2 * commits.len() as u64);
        for &i in &commit_order {
            out.arg_parts(&keys.value_parts(commits[i].key()));
        }
        for &i in &commit_order {
            out.arg_parts(&keys.lease_parts(commits[i].key()));
        }
        out.arg_u64(plain as u64);
        for &i in &commit_order {
            let commit = commits[i];
            out.arg(commit.token.as_bytes());
            if !commit.is_plain_write() {
                commit.change.write_to(out);
            }
            out.arg(commit.value());
        }
        replies += 1;
    }
    for take in takes {
        out.command(7)
            .arg(b"SET")
            .arg_parts(&keys.lease_parts(take.key.as_bytes()))
            .arg(take.token.as_bytes())
            .arg(b"NX")
            .arg(b"PX")
            .arg_u64(take.lease_ms)
            .arg(b"GET");
    }
    replies += takes.len();
    if !takes.is_empty() {
        out.command(1 + takes.len()).arg(b"MGET");
        for take in takes {
            out.arg_parts(&keys.value_parts(take.key.as_bytes()));
        }
        replies += 1;
    }
    Layout {
        replies,
        commit_order,
    }
}

/// About how many bytes the request of `takes` and `commits` takes as RESP, to reserve it.
pub(super) fn request_size(keys: &KeyScheme, takes: &[&Take], commits: &[&Commit]) -> usize {
    let prefix = keys.prefix().len() + 2;
    64 + takes.len() * (2 * prefix + 128)
        + commits
            .iter()
            .map(|c| 2 * prefix + c.key().len() + c.bytes.len() + 112)
            .sum::<usize>()
}

/// The replies of one batch, split per operation.
#[derive(Debug)]
pub(super) struct Replies {
    pub takes: Vec<TakeOutcome>,
    pub commits: Vec<CommitOutcome>,
    /// Redis did not know the commit script: the commits did not run (they are failed with
    /// that error here) and may be sent again with the script.
    pub no_script: bool,
}

impl Replies {
    /// Every operation failed alike.
    pub(super) fn failed(failure: &Failure, takes: usize, commits: usize) -> Self {
        Replies {
            takes: vec![Err(failure.clone()); takes],
            commits: vec![Err(failure.clone()); commits],
            no_script: false,
        }
    }
}

/// Splits the replies to the request laid out as `request` (made for `takes` and `commits`)
/// per operation.
pub(super) fn decode(
    request: &Layout,
    replies: Vec<Reply>,
    takes: &[&Take],
    commits: usize,
) -> Replies {
    if replies.len() != request.replies {
        let failure = Failure::Reply(format!(
            "{} replies to a request of {} commands",
            replies.len(),
            request.replies
        ));
        return Replies::failed(&failure, takes.len(), commits);
    }
    let loaded_script =
        request.replies > usize::from(commits > 0) + takes.len() + usize::from(!takes.is_empty());
    let mut replies = replies.into_iter();
    if loaded_script {
        // The SHA-1 `SCRIPT LOAD` answers is the one the commits were sent with; an error
        // shows again in the commits' own reply.
        replies.next();
    }
    let (commits, no_script) = if commits > 0 {
        decode_commits(replies.next().unwrap_or(Reply::Nil), &request.commit_order)
    } else {
        (Vec::new(), false)
    };
    let holders: Vec<Reply> = replies.by_ref().take(takes.len()).collect();
    let values: Vec<Result<Reply, Failure>> = match replies.next() {
        None => Vec::new(),
        Some(Reply::Array(values)) if values.len() == takes.len() => {
            values.into_iter().map(Ok).collect()
        }
        Some(Reply::Error(err)) => vec![Err(Failure::Server(err)); takes.len()],
        Some(other) => vec![Err(unexpected("MGET", &other)); takes.len()],
    };
    let takes = takes
        .iter()
        .zip(holders)
        .zip(values)
        .map(|((take, holder), value)| decode_take(take, holder, value?))
        .collect();
    Replies {
        takes,
        commits,
        no_script,
    }
}

/// The script's answer, the positions of the commits that lost their lease, as one outcome
/// per commit in the order they were given.
fn decode_commits(reply: Reply, order: &[usize]) -> (Vec<CommitOutcome>, bool) {
    let count = order.len();
    match reply {
        Reply::Array(lost) => {
            let mut outcomes = vec![Ok(true); count];
            for position in lost {
                match position {
                    Reply::Int(p) if p >= 1 && (p as usize) <= count => {
                        outcomes[order[p as usize - 1]] = Ok(false);
                    }
                    other => {
                        let failure = unexpected("the commit script", &other);
                        return (vec![Err(failure); count], false);
                    }
                }
            }
            (outcomes, false)
        }
        Reply::Error(err) => {
            let no_script = err.code() == "NOSCRIPT";
            (vec![Err(Failure::Server(err)); count], no_script)
        }
        other => (
            vec![Err(unexpected("the commit script", &other)); count],
            false,
        ),
    }
}

fn decode_take(take: &Take, holder: Reply, value: Reply) -> TakeOutcome {
    match holder {
        Reply::Nil => {}
        // Our own token: this take was sent before and its reply lost.
        Reply::Bulk(holder) if holder == take.token.as_bytes() => {}
        Reply::Bulk(holder) => return Ok(Taken::Busy(holder)),
        Reply::Error(err) if err.code() == "ERR" && err.to_string().contains("syntax") => {
            return Err(Failure::Unsupported(format!(
                "Redis refused `SET .. NX GET` ({err}): this store needs Redis 7.0 or newer"
            )));
        }
        Reply::Error(err) => return Err(Failure::Server(err)),
        other => return Err(unexpected("SET NX GET", &other)),
    }
    match value {
        Reply::Nil => Ok(Taken::Acquired(None)),
        Reply::Bulk(bytes) => Ok(Taken::Acquired(Some(bytes))),
        other => Err(unexpected("MGET", &other)),
    }
}

fn unexpected(what: &str, reply: &Reply) -> Failure {
    Failure::Reply(format!("unexpected reply to {what}: {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(key: &str, ticket: u64, nonce: u64) -> Take {
        Take {
            key: StorageKey::copied(key),
            token: LeaseToken::new(ticket, nonce),
            lease_ms: 30_000,
        }
    }

    fn commit(key: &str, change: ChangeCode, value: &[u8]) -> Commit {
        Commit::new(key.as_bytes(), LeaseToken::new(7, 9), change, value)
    }

    /// A request's commands, as lists of arguments.
    #[derive(Default)]
    struct Recorded(Vec<Vec<String>>);

    impl Commands for Recorded {
        fn command(&mut self, args: usize) -> &mut Self {
            self.0.push(Vec::with_capacity(args));
            self
        }
        fn arg(&mut self, bytes: &[u8]) -> &mut Self {
            let command = self.0.last_mut().expect("an argument outside a command");
            command.push(String::from_utf8_lossy(bytes).into_owned());
            self
        }
        fn arg_parts(&mut self, parts: &[&[u8]]) -> &mut Self {
            self.arg(&parts.concat())
        }
    }

    impl Recorded {
        /// Checks that each command got as many arguments as it announced.
        fn commands(&self) -> &[Vec<String>] {
            for command in &self.0 {
                assert_eq!(command.len(), command.capacity(), "{command:?}");
            }
            &self.0
        }
    }

    fn request_of(
        keys: &KeyScheme,
        takes: &[&Take],
        commits: &[&Commit],
        load_script: bool,
    ) -> (Recorded, Layout) {
        let mut out = Recorded::default();
        let layout = request(&mut out, keys, "SHA", takes, commits, load_script);
        (out, layout)
    }

    #[test]
    fn a_batch_is_the_commit_script_then_the_takes_then_one_mget() {
        let (t1, t2) = (take("a", 1, 2), take("b", 3, 4));
        let (c1, c2) = (
            commit("c", ChangeCode::Write(Some(1500)), b"{}"),
            commit("d", ChangeCode::Write(None), b"[]"),
        );
        let keys = KeyScheme::new("p:", false);
        let (out, layout) = request_of(&keys, &[&t1, &t2], &[&c1, &c2], false);
        let token1 = String::from_utf8_lossy(t1.token.as_bytes()).into_owned();
        let token2 = String::from_utf8_lossy(t2.token.as_bytes()).into_owned();
        let token_c = String::from_utf8_lossy(c1.token.as_bytes()).into_owned();
        assert_eq!(
            out.commands(),
            [
                // The plain write first, then the write with a TTL; the session keys, then
                // their leases.
                vec![
                    "EVALSHA",
                    "SHA",
                    "4",
                    "p:d",
                    "p:c",
                    "p:d\0lease",
                    "p:c\0lease",
                    "1",
                    &token_c,
                    "[]",
                    &token_c,
                    "w1500",
                    "{}"
                ],
                vec!["SET", "p:a\0lease", &token1, "NX", "PX", "30000", "GET"],
                vec!["SET", "p:b\0lease", &token2, "NX", "PX", "30000", "GET"],
                vec!["MGET", "p:a", "p:b"],
            ]
        );
        assert_eq!(layout.replies, 4);
        assert_eq!(request_of(&keys, &[&t1], &[], false).1.replies, 2);
        let (reload, layout) = request_of(&keys, &[], &[&c1], true);
        assert_eq!(layout.replies, 2);
        assert_eq!(reload.commands()[0][..2], ["SCRIPT", "LOAD"]);
    }

    #[test]
    fn in_a_cluster_every_key_carries_the_hash_tag() {
        let (t, c) = (take("a", 1, 2), commit("a", ChangeCode::Delete, b""));
        let (out, _) = request_of(&KeyScheme::new("p:", true), &[&t], &[&c], false);
        let commands = out.commands();
        assert_eq!(commands[0][3..5], ["{p:a}", "{p:a}\0lease"]);
        assert_eq!(commands[1][1], "{p:a}\0lease");
        assert_eq!(commands[2][1], "{p:a}");
    }

    #[test]
    fn change_codes_are_what_the_script_reads() {
        let codes = [
            (ChangeCode::Nothing, "n"),
            (ChangeCode::Delete, "d"),
            (ChangeCode::Write(Some(60_000)), "w60000"),
            (ChangeCode::Touch(5), "t5"),
        ];
        for (code, text) in codes {
            let c = commit("k", code, b"");
            let (out, _) = request_of(&KeyScheme::new("", false), &[], &[&c], false);
            assert_eq!(out.commands()[0][7], text);
        }
    }

    #[test]
    fn replies_are_split_per_operation() {
        let (mine, theirs, repeated) = (take("a", 1, 2), take("b", 3, 4), take("c", 5, 6));
        let (kept, lost) = (
            commit("x", ChangeCode::Delete, b""),
            commit("y", ChangeCode::Write(None), b"1"),
        );
        let takes = [&mine, &theirs, &repeated];
        let (_, req) = request_of(&KeyScheme::new("", false), &takes, &[&kept, &lost], false);
        let replies = vec![
            // `lost` was sent first (a plain write): position 1.
            Reply::Array(vec![Reply::Int(1)]),
            Reply::Nil,
            Reply::Bulk(b"8:1".to_vec()),
            Reply::Bulk(repeated.token.as_bytes().to_vec()),
            Reply::Array(vec![
                Reply::Bulk(b"va".to_vec()),
                Reply::Bulk(b"vb".to_vec()),
                Reply::Nil,
            ]),
        ];
        let out = decode(&req, replies, &takes, 2);
        assert!(!out.no_script);
        assert!(matches!(out.commits[..], [Ok(true), Ok(false)]));
        assert_eq!(
            out.takes[0].as_ref().ok(),
            Some(&Taken::Acquired(Some(b"va".to_vec())))
        );
        assert_eq!(
            out.takes[1].as_ref().ok(),
            Some(&Taken::Busy(b"8:1".to_vec()))
        );
        assert_eq!(out.takes[2].as_ref().ok(), Some(&Taken::Acquired(None)));
    }

    #[test]
    fn noscript_is_reported_and_a_short_reply_fails_everything() {
        let c = commit("k", ChangeCode::Nothing, b"");
        let keys = KeyScheme::new("", false);
        let (_, req) = request_of(&keys, &[], &[&c], false);
        let out = decode(
            &req,
            vec![Reply::Error(ServerError::new(
                "NOSCRIPT No matching script",
            ))],
            &[],
            1,
        );
        assert!(out.no_script);
        assert!(out.commits[0].is_err());

        let t = take("a", 1, 2);
        let (_, req) = request_of(&keys, &[&t], &[&c], false);
        let out = decode(&req, vec![Reply::Nil], &[&t], 1);
        assert!(out.takes.iter().all(Result::is_err));
        assert!(out.commits.iter().all(Result::is_err));
    }

    #[test]
    fn an_old_redis_refusing_set_nx_get_is_named() {
        let t = take("a", 1, 2);
        let (_, req) = request_of(&KeyScheme::new("", false), &[&t], &[], false);
        let out = decode(
            &req,
            vec![
                Reply::Error(ServerError::new("ERR syntax error")),
                Reply::Array(vec![Reply::Nil]),
            ],
            &[&t],
            0,
        );
        match &out.takes[0] {
            Err(Failure::Unsupported(message)) => assert!(message.contains("7.0"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
