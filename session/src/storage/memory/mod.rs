//! The in-process store: sharded, expiry honoured on read, bounded sweeps.
//!
//! # Layout
//!
//! A session is a few dozen bytes (`counter:1005413` → `{"count":20}`), so per-entry overhead
//! decides the memory a bot needs: a map of `Box<str>` to `Box<[u8]>` spent about 130 bytes on
//! those 27 (two allocations with their allocator headers, a 40-byte map slot). Here each shard
//! keeps its entries back to back in one byte arena, and a hash table of 4-byte offsets finds
//! them; an entry costs its bytes plus 3 to 11 bytes of header and about 8 bytes of table.
//!
//! A record in the arena is:
//!
//! ```text
//! flags: u8                   bit 0: an expiry follows; bit 1: dead (replaced or removed)
//! expires_at: u64 LE          milliseconds since the epoch, only with bit 0
//! key_len, value_len: LEB128
//! slack: u8                   unused bytes after the value
//! key, value, slack bytes
//! ```
//!
//! A write overwrites the record in place when the new value fits its room (a counter going
//! from 41 to 42); any other write appends a new record and marks the old one dead. Every
//! record gets slack (half its value's length, at least 16 bytes): a session grows at each
//! change until it remembers as many update ids as it keeps (one to three bytes each, see
//! `envelope/remembered.rs`), so a value whose length wanders settles into a record it is
//! rewritten in, and one that keeps growing moves only every eight writes or more (a move costs
//! a new record, a table entry, and a later compaction's walk over it). A shard compacts its
//! arena when more than an eighth of it is dead, so dead records never hold much memory.

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::clock::{Clock, SystemClock, expiry};
use crate::error::{StorageError, StorageOp};
// A record is written before the table points at it, and marked dead after the table forgets
// it, so a panic while a shard was locked leaves it consistent: keep serving it.
use crate::storage::{Change, Lease, ListCursor, ListPage, ListedSession, LockedRead, Storage};
use crate::sync::lock;

mod list;

const SHARDS: usize = 64;
/// Every this many writes to a shard, it is swept of expired entries, so memory held by
/// sessions nobody reads again is bounded without a background task. Counted per shard, under
/// its lock: a store-wide counter cost every write an atomic operation.
const SWEEP_EVERY: usize = 1024;
/// A shard compacts when dead records make up more than 1/this of its arena.
const DEAD_FRACTION: usize = 8;
/// The smallest step an arena grows by.
const MIN_GROWTH: usize = 256;

const EXPIRES: u8 = 1;
const DEAD: u8 = 2;
/// A record has room for half as much again as its value, at least `SLACK_MIN` and at most
/// `SLACK_MAX` bytes, rounded up to a multiple of 8 bytes. A value that grows a little at each
/// write (a session remembering one more update id each time, about two bytes) then moves every
/// eight writes or more rather than every three, and each move leaves a dead record that a
/// compaction walks. Measured on W1: 17 % of writes moved with a quarter and no slack on a
/// first write, 8 % now, for 9 % more bytes per session.
const SLACK_MIN: usize = 16;
const SLACK_MAX: usize = 240;

/// Where the parts of the record at some offset are.
struct Record {
    /// Where the record starts (its flags byte).
    at: usize,
    flags: u8,
    expires_at: u64,
    key: Range<usize>,
    value: Range<usize>,
    /// Where `value_len` is written, to rewrite it in place.
    value_len_at: usize,
    /// Where the slack byte is.
    slack_at: usize,
    /// The end of the record: the value and its slack.
    end: usize,
}

impl Record {
    fn end(&self) -> usize {
        self.end
    }

    /// Bytes the value may take in place.
    fn room(&self) -> usize {
        self.end - self.value.start
    }

    fn live(&self, now: u64) -> bool {
        self.expires_at > now
    }
}

/// The record at `at`. Inlined: every lookup, write and compaction parses records, and most
/// records take the short path (no expiry, key and value under 128 bytes, one length byte
/// each).
#[inline]
fn parse(arena: &[u8], at: usize) -> Record {
    let flags = arena[at];
    let mut pos = at + 1;
    let expires_at = if flags & EXPIRES != 0 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&arena[pos..pos + 8]);
        pos += 8;
        u64::from_le_bytes(bytes)
    } else {
        u64::MAX
    };
    let value_len_at;
    let (key_len, value_len) = match arena.get(pos..pos + 2) {
        Some(&[key_len, value_len]) if (key_len | value_len) & 0x80 == 0 => {
            value_len_at = pos + 1;
            pos += 2;
            (usize::from(key_len), usize::from(value_len))
        }
        _ => {
            let key_len = read_varint(arena, &mut pos);
            value_len_at = pos;
            (key_len, read_varint(arena, &mut pos))
        }
    };
    let slack_at = pos;
    let slack = usize::from(arena[slack_at]);
    pos += 1;
    let key = pos..pos + key_len;
    let value = key.end..key.end + value_len;
    Record {
        at,
        flags,
        expires_at,
        end: value.end + slack,
        key,
        value,
        value_len_at,
        slack_at,
    }
}

fn varint_len(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

fn write_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Writes `n` over the varint at the start of `at`, which takes as many bytes.
fn overwrite_varint(at: &mut [u8], mut n: usize) {
    let mut i = 0;
    while n >= 0x80 {
        at[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    at[i] = n as u8;
}

fn read_varint(arena: &[u8], pos: &mut usize) -> usize {
    let mut n = 0;
    let mut shift = 0;
    loop {
        let byte = arena[*pos];
        *pos += 1;
        n |= usize::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn record_len(key: &[u8], value: &[u8], expires_at: Option<u64>, slack: u8) -> usize {
    1 + if expires_at.is_some() { 8 } else { 0 }
        + varint_len(key.len())
        + varint_len(value.len())
        + 1
        + usize::from(slack)
        + key.len()
        + value.len()
}

/// The slack a record for a value of `len` bytes gets.
fn slack_for(len: usize) -> u8 {
    let extra = (len / 2).clamp(SLACK_MIN, SLACK_MAX);
    // At most SLACK_MAX + 7: fits the byte.
    ((len + extra).next_multiple_of(8) - len) as u8
}

#[derive(Default)]
struct Shard {
    /// The records, back to back.
    arena: Vec<u8>,
    /// The offset of every record not marked dead, found by the hash of its key.
    index: HashTable<u32>,
    /// Bytes of dead records in the arena.
    dead: usize,
    /// Writes since the shard was made, to sweep it every `SWEEP_EVERY`.
    writes: usize,
    /// The hash and offset of the record found last: an update reads its session and writes
    /// it back moments later, and the write finds the record here without probing the table.
    /// Forgotten whenever a record dies or moves, so it always points at a live record.
    last_found: Option<(u64, u32)>,
}

impl Shard {
    fn find(&mut self, hash: u64, key: &[u8]) -> Option<Record> {
        let arena = &self.arena;
        if let Some((last_hash, at)) = self.last_found
            && last_hash == hash
        {
            let record = parse(arena, at as usize);
            if record.flags & DEAD == 0 && arena[record.key.clone()] == *key {
                return Some(record);
            }
        }
        // The record is parsed once, by the comparison that finds it.
        let mut found = None;
        self.index.find(hash, |&at| {
            let record = parse(arena, at as usize);
            let matches = arena[record.key.clone()] == *key;
            if matches {
                found = Some(record);
            }
            matches
        });
        if let Some(record) = &found {
            self.last_found = Some((hash, record.at as u32));
        }
        found
    }

    /// Marks the record dead and forgets it.
    fn remove(&mut self, hash: u64, record: &Record) {
        self.last_found = None;
        if let Ok(entry) = self.index.find_entry(hash, |&at| at as usize == record.at) {
            entry.remove();
        }
        self.arena[record.at] |= DEAD;
        self.dead += record.end() - record.at;
    }

    fn write(
        &mut self,
        hasher: &DefaultHashBuilder,
        hash: u64,
        key: &[u8],
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<(), StorageError> {
        if let Some(old) = self.find(hash, key) {
            if (old.flags & EXPIRES != 0) == expires_at.is_some() && self.rewrite(&old, value) {
                if let Some(expires_at) = expires_at {
                    self.set_expiry(&old, expires_at);
                }
                return Ok(());
            }
            self.remove(hash, &old);
        }
        let slack = slack_for(value.len());
        let len = record_len(key, value, expires_at, slack);
        self.make_room(hasher, len);
        let at = u32::try_from(self.arena.len())
            .ok()
            .filter(|&at| {
                (at as usize)
                    .checked_add(len)
                    .is_some_and(|end| end <= u32::MAX as usize)
            })
            .ok_or_else(|| {
                StorageError::other(
                    "memory",
                    StorageOp::Write,
                    "a shard of the memory store holds 4 GiB, its limit",
                )
            })?;
        let arena = &mut self.arena;
        let flags = if expires_at.is_some() { EXPIRES } else { 0 };
        arena.push(flags);
        if let Some(expires_at) = expires_at {
            arena.extend_from_slice(&expires_at.to_le_bytes());
        }
        write_varint(arena, key.len());
        write_varint(arena, value.len());
        arena.push(slack);
        arena.extend_from_slice(key);
        arena.extend_from_slice(value);
        arena.resize(arena.len() + usize::from(slack), 0);
        let arena = &self.arena;
        self.index.insert_unique(hash, at, |&o| {
            hasher.hash_one(&arena[parse(arena, o as usize).key])
        });
        Ok(())
    }

    /// Writes `value` over the record's, when it fits the record's room and its length takes
    /// as many bytes as the old one's; `false` when it does not.
    fn rewrite(&mut self, record: &Record, value: &[u8]) -> bool {
        let (len, old_len) = (value.len(), record.value.len());
        if len == old_len {
            self.arena[record.value.clone()].copy_from_slice(value);
            return true;
        }
        let fits = len <= record.room() && varint_len(len) == varint_len(old_len);
        let Some(slack) = fits
            .then(|| u8::try_from(record.room() - len).ok())
            .flatten()
        else {
            return false;
        };
        let arena = &mut self.arena;
        overwrite_varint(&mut arena[record.value_len_at..], len);
        arena[record.slack_at] = slack;
        arena[record.value.start..record.value.start + len].copy_from_slice(value);
        true
    }

    fn set_expiry(&mut self, record: &Record, expires_at: u64) {
        let at = record.at + 1;
        self.arena[at..at + 8].copy_from_slice(&expires_at.to_le_bytes());
    }

    /// Makes room for `len` more bytes: by compacting when enough is dead, else by growing
    /// the arena by an eighth (not doubling, which could leave half of it unused).
    fn make_room(&mut self, hasher: &DefaultHashBuilder, len: usize) {
        if self.arena.capacity() - self.arena.len() >= len {
            return;
        }
        if self.dead * DEAD_FRACTION > self.arena.len() {
            self.compact(hasher);
            if self.arena.capacity() - self.arena.len() >= len {
                return;
            }
        }
        let growth = (self.arena.len() / 8).max(MIN_GROWTH).max(len);
        self.arena.reserve_exact(growth);
    }

    /// Moves the live records together, dropping the dead ones.
    fn compact(&mut self, hasher: &DefaultHashBuilder) {
        self.last_found = None;
        let Shard {
            arena, index, dead, ..
        } = self;
        let mut read = 0;
        let mut write = 0;
        while read < arena.len() {
            let record = parse(arena, read);
            if record.flags & DEAD == 0 {
                let len = record.end() - read;
                if write != read {
                    arena.copy_within(read..record.end(), write);
                    let key = record.key.start - read + write..record.key.end - read + write;
                    let hash = hasher.hash_one(&arena[key]);
                    if let Some(at) = index.find_mut(hash, |&o| o as usize == read) {
                        *at = write as u32;
                    }
                }
                write += len;
            }
            read = record.end();
        }
        arena.truncate(write);
        *dead = 0;
    }

    /// Removes the expired records; returns how many.
    fn sweep(&mut self, now: u64) -> usize {
        self.last_found = None;
        let Shard {
            arena, index, dead, ..
        } = self;
        let before = index.len();
        index.retain(|&mut at| {
            let record = parse(arena, at as usize);
            if record.live(now) {
                return true;
            }
            arena[at as usize] |= DEAD;
            *dead += record.end() - at as usize;
            false
        });
        before - index.len()
    }

    fn live_records(&self, now: u64) -> impl Iterator<Item = Record> + '_ {
        self.index
            .iter()
            .map(|&at| parse(&self.arena, at as usize))
            .filter(move |r| r.live(now))
    }
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// foldhash, seeded per store (hashbrown's default): a few times faster than SipHash on
    /// keys this short, and still keyed so collisions cannot be precomputed.
    hasher: DefaultHashBuilder,
    clock: Arc<dyn Clock>,
}

/// Sessions in this process's memory: the default store, gone when the process exits.
///
/// Clones share the same data.
#[derive(Clone)]
pub struct MemoryStorage {
    inner: Arc<Inner>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryStorage {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// A store whose expiry follows `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(clock: impl Clock) -> Self {
        MemoryStorage {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                hasher: DefaultHashBuilder::default(),
                clock: Arc::new(clock),
            }),
        }
    }

    /// The key's hash (computed once per operation) and its locked shard. The shard comes from
    /// the middle bits: the table places entries by the low bits and tags them with the top.
    fn shard(&self, key: &str) -> (u64, MutexGuard<'_, Shard>) {
        let hash = self.inner.hasher.hash_one(key.as_bytes());
        (
            hash,
            lock(&self.inner.shards[(hash >> 32) as usize % SHARDS]),
        )
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    /// Number of stored entries, including expired ones not yet swept.
    /// How many sessions are stored (expired ones not swept yet included).
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).index.len()).sum()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the keys and values stored (not counting the store's own bookkeeping).
    pub fn payload_bytes(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| {
                lock(s)
                    .live_records(0)
                    .map(|r| r.key.len() + r.value.len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// All live keys, for inspection and tests.
    pub fn keys(&self) -> Vec<String> {
        let now = self.now();
        let mut keys: Vec<String> = self
            .inner
            .shards
            .iter()
            .flat_map(|s| {
                let shard = lock(s);
                shard
                    .live_records(now)
                    .map(|r| String::from_utf8_lossy(&shard.arena[r.key]).into_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        keys.sort();
        keys
    }

    /// Removes every expired entry now; returns how many were removed.
    pub fn purge_expired(&self) -> usize {
        (0..SHARDS).map(|i| self.sweep_shard(i)).sum()
    }

    fn sweep_shard(&self, index: usize) -> usize {
        let now = self.now();
        lock(&self.inner.shards[index]).sweep(now)
    }

    fn after_write(&self, shard: &mut Shard) {
        shard.writes += 1;
        if shard.writes.is_multiple_of(SWEEP_EVERY) {
            shard.sweep(self.now());
        }
    }

    /// Whether the record's expiry has passed; the clock is only read for records that have
    /// an expiry.
    fn expired(&self, record: &Record) -> bool {
        record.flags & EXPIRES != 0 && !record.live(self.now())
    }

    /// Appends the live value of `key` to `out`; whether there was one.
    fn read_into(&self, key: &str, out: &mut Vec<u8>) -> bool {
        let (hash, mut shard) = self.shard(key);
        match shard.find(hash, key.as_bytes()) {
            Some(record) if !self.expired(&record) => {
                out.extend_from_slice(&shard.arena[record.value]);
                true
            }
            Some(expired) => {
                shard.remove(hash, &expired);
                false
            }
            None => false,
        }
    }

    fn read_entry(&self, key: &str) -> Option<Vec<u8>> {
        let mut value = Vec::new();
        self.read_into(key, &mut value).then_some(value)
    }

    fn write_entry(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let expires_at = expiry(&*self.inner.clock, ttl);
        {
            let (hash, mut shard) = self.shard(key);
            shard.write(&self.inner.hasher, hash, key.as_bytes(), value, expires_at)?;
            self.after_write(&mut shard);
        }
        Ok(())
    }

    fn delete_entry(&self, key: &str) {
        let (hash, mut shard) = self.shard(key);
        if let Some(record) = shard.find(hash, key.as_bytes()) {
            shard.remove(hash, &record);
        }
    }

    fn touch_entry(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        let now = self.now();
        let expires_at = expiry(&*self.inner.clock, Some(ttl)).unwrap_or(u64::MAX);
        let (hash, mut shard) = self.shard(key);
        let Some(record) = shard.find(hash, key.as_bytes()).filter(|r| r.live(now)) else {
            return Ok(());
        };
        if record.flags & EXPIRES != 0 {
            shard.set_expiry(&record, expires_at);
            return Ok(());
        }
        // A value stored without expiry has no room for one: store it again with it.
        let value = shard.arena[record.value].to_vec();
        shard.write(
            &self.inner.hasher,
            hash,
            key.as_bytes(),
            &value,
            Some(expires_at),
        )
    }

    fn apply(&self, key: &str, change: Change<'_>) -> Result<(), StorageError> {
        match change {
            Change::Nothing => Ok(()),
            Change::Touch(ttl) => self.touch_entry(key, ttl),
            Change::Write(value, ttl) => self.write_entry(key, value, ttl),
            Change::Delete => {
                self.delete_entry(key);
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.read_entry(key))
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.write_entry(key, value, ttl)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.delete_entry(key);
        Ok(())
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.touch_entry(key, ttl)
    }

    async fn lock_and_read(
        &self,
        key: &str,
        _ticket: u64,
        _lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        Ok(LockedRead::Acquired {
            lease: None,
            value: self.read_entry(key),
        })
    }

    async fn commit(
        &self,
        key: &str,
        _lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.apply(key, change)
    }

    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        Some(Ok(self.read_into(key, out)))
    }

    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        Some(self.apply(key, change))
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        self.list_page(prefix, cursor, limit)
    }

    async fn inspect(&self, key: &str) -> Result<Option<ListedSession>, StorageError> {
        Ok(self.inspect_entry(key))
    }

    async fn purge_expired(&self) -> Result<u64, StorageError> {
        Ok(MemoryStorage::purge_expired(self) as u64)
    }
}

#[cfg(test)]
mod tests;
