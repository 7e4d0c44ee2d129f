//! Handing freed memory back to the system at the end of a phase.
//!
//! The binary's allocator is mimalloc, which keeps freed pages for a second
//! (`purge_delay`) before returning them, so that a program that frees and
//! allocates again does not pay the kernel for the same pages twice. A large
//! month's ingest has phases that each free a hundred MB or more at once: the
//! reader threads' decode buffers when the read ends, the encoder's buffers
//! when the ledger object is written. Kept for that second, those pages
//! count again in the next phase's peak. Returning them once per phase costs
//! one sweep, where a short purge delay for the whole run makes every small
//! free-and-allocate a system call (see [`purge_freed_memory_sooner`] for
//! the delay this binary does set).

/// Returns the pages freed so far, by every thread (the reader threads have
/// ended and left their heaps behind), to the system. A no-op in effect
/// where mimalloc is not the global allocator (the tests).
pub(crate) fn release_freed() {
    // SAFETY: mi_collect walks mimalloc's own heaps; with `force` it also
    // takes over heaps that ended threads abandoned, and purges at once.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// mimalloc (v3) keeps freed pages for a second (`purge_delay`) before it
/// hands them back. A large month's read frees decode buffers faster than
/// that, so its peak RSS counted them again: 275 MB on the 1M-fact month
/// against 250 MB at 100 ms, when the reader decoded 16k-row batches. With
/// 4k-row batches the read frees less at a time: 200 ms keeps the peak at
/// 221–232 MB and spares a third of the page faults that 100 ms took back
/// (0.04 s of a 1.2 s ingest; 300 ms reached 242 MB). Shorter costs time
/// in `madvise` on every file (10 ms made the 10M-row ingest half again
/// slower); phase ends release the rest at once ([`release_freed`]). A
/// `MIMALLOC_PURGE_DELAY` the user sets still wins. Called once, first
/// thing in `main`.
pub fn purge_freed_memory_sooner() {
    /// `mi_option_purge_delay` in mimalloc.h (v2 and v3): the -sys crate
    /// names no constant for it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it on its next purge.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 200) }
    }
}
