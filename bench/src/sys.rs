//! What the process can learn about itself: peak RSS, heap bytes, CPU pinning.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The system allocator, counting the heap bytes held while [`heap_counting`] is on.
///
/// Counting is off except while a memory figure is measured, so the timed loops pay one
/// relaxed load per allocation. A block is counted at its real size in glibc (the usable
/// size plus the 8-byte chunk header), so allocator rounding is included, not hidden.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static HEAP: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

fn chunk_bytes(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` was returned by the system allocator (malloc) and is not yet freed.
    (unsafe { libc::malloc_usable_size(ptr.cast()) } + 8) as isize
}

// SAFETY: every call is forwarded to `System`; the bookkeeping touches no memory of the block.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if COUNTING.load(Ordering::Relaxed) && !ptr.is_null() {
            HEAP.fetch_add(chunk_bytes(ptr), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            HEAP.fetch_sub(chunk_bytes(ptr), Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let counting = COUNTING.load(Ordering::Relaxed);
        if counting {
            HEAP.fetch_sub(chunk_bytes(ptr), Ordering::Relaxed);
        }
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if counting {
            // On failure the old block is still there.
            HEAP.fetch_add(
                chunk_bytes(if new.is_null() { ptr } else { new }),
                Ordering::Relaxed,
            );
        }
        new
    }
}

/// Heap bytes allocated minus freed while counting was on.
pub fn heap_bytes() -> isize {
    HEAP.load(Ordering::Relaxed)
}

/// Allocations (not reallocations) made while counting was on.
pub fn allocations() -> isize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Turns heap counting on or off. Measure only what is allocated and freed inside one window:
/// a block allocated before it and freed inside it would be subtracted.
pub fn heap_counting(on: bool) {
    COUNTING.store(on, Ordering::SeqCst);
}

/// Resets the peak RSS the kernel reports (`VmHWM`), so the next figure is this workload's.
pub fn reset_peak_rss() {
    // Best effort: older kernels do not support "5"; the peak is then the process's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size in MiB (`VmHWM`, or `ru_maxrss` if `/proc` is not readable).
pub fn peak_rss_mb() -> f64 {
    if let Some(kb) = proc_status_field("self", "VmHWM:")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
    {
        return kb / 1024.0;
    }
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// A field of `/proc/<pid>/status`, e.g. `Cpus_allowed_list:`.
pub fn proc_status_field(pid: &str, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .map(|value| value.trim().to_owned())
}

/// Pins the calling thread (and the threads it starts later) to one CPU.
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: the set is a plain bit mask initialised by CPU_ZERO before use.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs the calling thread may run on, as the kernel lists them (`0`, `0-1`).
pub fn current_thread_cpus() -> String {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    proc_status_field(&format!("self/task/{tid}"), "Cpus_allowed_list:")
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU time used so far by every thread of this process (user and system).
pub fn process_cpu_time() -> std::time::Duration {
    // SAFETY: clock_gettime writes into the struct we pass.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time used so far by every thread of another local process, to the nanosecond (the
/// first field of `/proc/<pid>/task/<tid>/schedstat`); `None` when `/proc` does not show it.
pub fn other_process_cpu_time(pid: &str) -> Option<std::time::Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(std::time::Duration::from_nanos(total))
}
