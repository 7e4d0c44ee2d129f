use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    return_freed_memory_promptly();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("FINOPS_LOG"))
        .with_writer(std::io::stderr)
        .init();
    finops::run(finops::cli::Cli::parse()).await
}

/// mimalloc keeps freed pages for a second (`purge_delay`, 1000 ms in this
/// version) before handing them back. A large month's ingest frees hundreds
/// of MB within that second (the fact map's old arrays as it grows, the
/// decoder's buffers), so its peak RSS counted them twice: 350–390 MB on
/// the 1M-fact month against 240–245 MB with 10 ms, for about a tenth more
/// time in madvise. A `MIMALLOC_PURGE_DELAY` the user sets still wins.
fn return_freed_memory_promptly() {
    /// `mi_option_purge_delay` in mimalloc.h (v2 and v3): the -sys crate
    /// names no constant for it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it on its next purge.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 10) }
    }
}
