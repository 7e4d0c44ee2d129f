use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    purge_freed_memory_sooner();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("FINOPS_LOG"))
        .with_writer(std::io::stderr)
        .init();
    finops::run(finops::cli::Cli::parse()).await
}

/// mimalloc (v3) keeps freed pages for a second (`purge_delay`) before it
/// hands them back. A large month's read frees decode buffers faster than
/// that, so its peak RSS counted them again: 275 MB on the 1M-fact month
/// against 250 MB at 100 ms. Shorter costs time in `madvise` on every file
/// (10 ms made the 10M-row ingest half again slower); phase ends release the
/// rest at once (`finops::memory`). A `MIMALLOC_PURGE_DELAY` the user sets
/// still wins.
fn purge_freed_memory_sooner() {
    /// `mi_option_purge_delay` in mimalloc.h (v2 and v3): the -sys crate
    /// names no constant for it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it on its next purge.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 100) }
    }
}
