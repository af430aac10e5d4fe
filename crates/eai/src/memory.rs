//! The worker's allocator, and giving its free memory back to the system.
//!
//! The `eai` binary allocates with jemalloc (its `main.rs` declares it;
//! the other binaries linking this library, the bench and the tests, keep
//! the system's allocator). Under load, glibc's allocator spent
//! about a quarter of the worker's CPU in `malloc`, `free` and their
//! bookkeeping (perf, ItemReserves at saturation): the deliveries' threads
//! and the batch lanes' thread free each other's blocks, which glibc handles
//! through locked arenas and coalescing. jemalloc caches blocks per thread
//! and size class and hands freed ones back to the thread that made them in
//! bulk (BENCHMARKS.md: 10–15 % more envelopes per second). On MSVC (where
//! jemalloc does not build) the binary uses the system's allocator and
//! nothing is given back.
//!
//! jemalloc keeps memory freed by the process for ten seconds before giving
//! it back, so after a burst of envelopes, or one sale of thousands of
//! items, the worker's resident memory stays where the burst left it. The
//! receivers give it back when the worker goes idle (no envelope in flight,
//! at most once a second), and before and after every envelope of 1 MiB or
//! more: before, so that a large sale's peak adds to the memory in use
//! rather than to what the traffic before it left behind.
//!
//! Allocations of 1 MiB or more (a large envelope's body and the buffers
//! that carry it, never the ordinary envelopes' allocations) come from an
//! arena of their own, which jemalloc gives back to the system as soon as
//! they are freed, so a large sale's buffers grown and dropped on the way
//! never add up (`ALLOCATOR_OPTIONS`). jemalloc reads further options
//! from the environment variable `_RJEM_MALLOC_CONF`.
//!
//! # Layout
//!
//! - [`MemoryReturn`]: counts the envelopes in flight and decides when.
//! - `give_back`: the call itself (jemalloc's purge of every arena).
//! - `ALLOCATOR_OPTIONS`: jemalloc's options, read before its first allocation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An envelope this large (a sale of thousands of items) leaves tens of
/// megabytes of small allocations behind once answered.
const LARGE_ENVELOPE: usize = 1 << 20;

/// Going idle gives memory back at most this often.
const IDLE_INTERVAL: Duration = Duration::from_secs(1);

/// jemalloc's options, read before its first allocation: allocations of
/// 1 MiB ([`LARGE_ENVELOPE`]) or more from an arena of their own, given back
/// to the system as soon as freed.
#[cfg(not(target_env = "msvc"))]
#[export_name = "_rjem_malloc_conf"]
pub static ALLOCATOR_OPTIONS: AllocatorOptions =
    AllocatorOptions(c"oversize_threshold:1048576".as_ptr());

/// A C string jemalloc reads as its options (a `const char *`).
#[cfg(not(target_env = "msvc"))]
#[derive(Debug)]
#[repr(transparent)]
pub struct AllocatorOptions(*const std::ffi::c_char);

// SAFETY: the pointer is to a string constant, never written.
#[cfg(not(target_env = "msvc"))]
unsafe impl Sync for AllocatorOptions {}

/// The envelopes in flight in every receiver of the worker, and when memory
/// was last given back.
#[derive(Debug)]
pub struct MemoryReturn {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Default for MemoryReturn {
    fn default() -> Self {
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

/// Returns the allocator's free memory to the system: jemalloc's purge of
/// every arena (`arena.<MALLCTL_ARENAS_ALL>.purge`, that index being 4096).
/// Its result is not looked at: a purge that fails leaves the memory where
/// it was, as if nothing had been asked.
fn give_back() {
    #[cfg(not(target_env = "msvc"))]
    // SAFETY: the purge reads and writes nothing through the null pointers
    // (it takes no value and returns none); it only releases pages jemalloc
    // holds free, touching no allocation in use.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

#[cfg(all(test, not(target_env = "msvc")))]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_gives_allocations_the_size_of_a_large_envelope_an_arena_of_their_own() {
        // SAFETY: the options are a NUL-terminated string constant.
        let options = unsafe { std::ffi::CStr::from_ptr(ALLOCATOR_OPTIONS.0) };
        assert_eq!(
            options.to_str(),
            Ok(format!("oversize_threshold:{LARGE_ENVELOPE}").as_str())
        );
    }
}
