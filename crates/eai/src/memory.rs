//! Giving the allocator's free memory back to the system.
//!
//! glibc keeps memory freed by the process in its arenas for the life of the
//! process: after a burst of envelopes, or one sale of thousands of items,
//! the worker's resident memory stays where the burst left it. The receivers
//! give it back when the worker goes idle (no envelope in flight, at most
//! once a second), and before and after every envelope of 1 MiB or more:
//! before, so that a large sale's peak adds to the memory in use rather than
//! to what the traffic before it left behind.
//!
//! Allocations of [`SEPARATE_FROM`] or more are mapped on their own and
//! unmapped when freed. glibc would otherwise raise that threshold to the
//! size of the largest block freed: after one 30 MiB sale, the next one's
//! body would grow inside the arenas, copied at each doubling instead of
//! remapped, and stay there (measured: 3.3 × the body for the first large
//! sale, 4.2 × for the next ones).
//!
//! glibc's fast bins are turned off. With them, every allocation of 1 KiB or
//! more (a batch's vectors, a receipt, a row's buffer) first merged all the
//! small blocks freed since the last one: a sixth of the worker's CPU under
//! load went to `malloc_consolidate` and its `unlink_chunk`. Small blocks
//! are still cached per thread (glibc's tcache); measured under load, the
//! worker spent about 15 % less CPU per ItemReserve.
//!
//! # Layout
//!
//! - [`MemoryReturn`]: counts the envelopes in flight and decides when.
//! - `give_back`: the call itself (`malloc_trim`, glibc only).
//! - `tune_allocator`: the fixed threshold and no fast bins (`mallopt`, glibc only).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An envelope this large (a sale of thousands of items) leaves tens of
/// megabytes of small allocations behind once answered.
const LARGE_ENVELOPE: usize = 1 << 20;

/// Going idle gives memory back at most this often.
const IDLE_INTERVAL: Duration = Duration::from_secs(1);

/// The size from which an allocation is mapped on its own: a large
/// envelope's body and the buffers that carry it, never the ordinary
/// envelopes' allocations.
const SEPARATE_FROM: usize = 1 << 20;

/// The envelopes in flight in every receiver of the worker, and when memory
/// was last given back.
#[derive(Debug)]
pub struct MemoryReturn {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Default for MemoryReturn {
    /// Also tunes the process's allocator: allocations mapped on their own
    /// from [`SEPARATE_FROM`], no fast bins (see the module documentation).
    fn default() -> Self {
        tune_allocator();
        MemoryReturn {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }
}

impl MemoryReturn {
    /// An envelope of `bytes` starts being handled: drop the guard when it is done.
    pub fn handling(&self, bytes: usize) -> Handling<'_> {
        if bytes >= LARGE_ENVELOPE {
            give_back();
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Handling {
            memory: self,
            bytes,
        }
    }

    fn finished(&self, bytes: usize) {
        let idle = self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1;
        if bytes < LARGE_ENVELOPE && !idle {
            return;
        }
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if bytes >= LARGE_ENVELOPE || last.elapsed() >= IDLE_INTERVAL {
            give_back();
            *last = Instant::now();
        }
    }
}

/// One envelope being handled ([`MemoryReturn::handling`]).
#[must_use = "memory is considered in use until the guard is dropped"]
pub struct Handling<'a> {
    memory: &'a MemoryReturn,
    bytes: usize,
}

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        self.memory.finished(self.bytes);
    }
}

/// Makes glibc map every allocation of [`SEPARATE_FROM`] or more on its own,
/// whatever sizes were freed before, and keep no fast bins.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let threshold = libc::c_int::try_from(SEPARATE_FROM).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only changes tuning parameters of glibc's
        // allocator; allocations already made are untouched.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, threshold);
            libc::mallopt(libc::M_MXFAST, 0);
        }
    }
}

/// Returns the allocator's free memory to the system.
fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases memory glibc's allocator holds free;
    // it touches no allocation in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
