//! A counting global allocator (mimalloc underneath) so `--timings` can report the real
//! peak of extra memory a computation allocated, not an estimate; and the process's peak
//! resident set size (`getrusage`), which also counts memory-mapped files.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

use mimalloc::MiMalloc;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// mimalloc plus two counters: bytes live now and the peak since the last [`reset_peak`].
pub struct Counting;

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards to mimalloc with the caller's arguments unchanged and only
// updates counters on the side; the contract of `GlobalAlloc` is mimalloc's.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl's comment).
        let ptr = unsafe { MiMalloc.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let ptr = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { MiMalloc.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let new = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

/// Starts a new peak measurement; returns the bytes live now (the baseline).
pub fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Peak bytes allocated above `baseline` since [`reset_peak`] returned it.
pub fn peak_above(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

/// The peak resident set size of this process so far, in bytes (`getrusage`), or `None`
/// where the platform does not report it.
#[allow(unsafe_code)]
pub fn max_rss_bytes() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` is a zeroed, aligned `rusage` that outlives the call, and
        // getrusage writes at most one `rusage` through the pointer.
        let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if status != 0 {
            return None;
        }
        // SAFETY: all-zero bytes are a valid `rusage`, and getrusage succeeded.
        let usage = unsafe { usage.assume_init() };
        let reported = u64::try_from(usage.ru_maxrss).ok()?;
        // Linux and the BSDs report kibibytes, macOS bytes.
        Some(if cfg!(target_os = "macos") {
            reported
        } else {
            reported * 1024
        })
    }
    #[cfg(not(unix))]
    None
}
