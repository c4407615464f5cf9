//! mimalloc's memory purging, for binaries whose global allocator is mimalloc.
//!
//! A training step allocates and frees the same large buffers every step (activations
//! and gradients of tens of MB each). mimalloc returns freed memory to the operating
//! system after a delay (1 s by default), so these buffers come back as fresh pages that
//! the kernel maps and zero-fills one page fault at a time: 52,000 page faults in 20
//! SimCLR steps of the quick profile's network. [`keep_freed_memory`] turns the purging
//! off, so freed memory is reused as it is: 480 page faults, and the step 15-20 % faster
//! (docs/PERFORMANCE.md, "SimCLR and TD-FT training steps"). The process's peak resident
//! memory is unchanged; what changes is that the resident memory no longer shrinks
//! below its peak between steps.
//!
//! The `tdal` and `xtask` binaries call it at start-up; a program that uses
//! tdal-encoders as a library with mimalloc as its global allocator may too. With another
//! global allocator the call changes nothing that allocator does.

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e` of mimalloc 2 and 3's
/// `mimalloc.h`), which the Rust bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Turns mimalloc's purging of freed memory off (`purge_delay = -1`), unless the
/// environment sets `MIMALLOC_PURGE_DELAY` (the user's setting wins). Call it once at
/// the start of `main`.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` only stores an option value in mimalloc's option table; it
    // is thread-safe, takes no pointers and is valid at any time.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_the_purge_delay() {
        // reads mimalloc's own table: the default is 1,000 ms (mimalloc 3), and the
        // position is the one `MIMALLOC_PURGE_DELAY` sets.
        #[allow(unsafe_code)]
        // SAFETY: reads an option value; no pointers.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let expected = std::env::var("MIMALLOC_PURGE_DELAY")
            .ok()
            .and_then(|v| v.parse::<std::ffi::c_long>().ok())
            .unwrap_or(1000);
        assert_eq!(before, expected);
        keep_freed_memory();
        #[allow(unsafe_code)]
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(after, -1);
        } else {
            assert_eq!(after, before);
        }
    }
}
