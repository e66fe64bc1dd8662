//! The age of an update, which decides wait-die races.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The age of an update: smaller is older. Kept across retries of the same update.
///
/// A ticket is wall-clock microseconds since the epoch shifted left by 12 bits, so tickets of
/// different processes compare by when their updates began (the Redis and PostgreSQL leases
/// compare them), and a waiting update's ticket is eventually older than every new one, in
/// every process: wait-die stays live. Within the process, tickets are strictly increasing
/// and unique: each is `max(last + 1, now << 12)`, published with one compare-and-swap on the
/// last ticket. The low 12 bits are then a counter that restarts every microsecond (the old
/// `(micros << 12) | (counter & 0xFFF)` went backwards when that counter wrapped within one
/// microsecond); more than 4096 tickets in one microsecond would borrow from the next one,
/// which keeps the order and only moves those tickets ahead of the clock by a microsecond
/// per 4096 of them.
///
/// The clock is `SystemTime`, read once per ticket: unlike an `Instant` plus the wall-clock
/// time at start (the former scheme, which costs the same), it follows NTP adjustments, so
/// processes on different machines stay comparable; a clock stepped back cannot make tickets
/// go backwards (the `max`), it only lets them advance by the counter until the clock
/// catches up. The clock read and its conversion are ~100 of the ~115 instructions here.
/// Skipping it (reading the clock every N tickets, say) would let tickets lag wall-clock
/// time without bound when updates are rare, making this process's updates look older than
/// they are to every other process; a cheaper coarse clock would need `unsafe` FFI and a
/// new dependency. Relaxed ordering is enough: all changes of one atomic are totally
/// ordered, so a ticket taken after another (in any thread, by happens-before) is larger.
pub(crate) fn next_ticket() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs() * 1_000_000 + u64::from(d.subsec_micros())
    }) << 12;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}
