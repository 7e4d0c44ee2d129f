use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    finops::memory::purge_freed_memory_sooner();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("FINOPS_LOG"))
        .with_writer(std::io::stderr)
        .init();
    finops::run(finops::cli::Cli::parse()).await
}

