//! The `finops` command line: the local embedded mode and operator commands.
//!
//! `main.rs` only parses arguments and calls [`run`]; everything else lives here so
//! it can be tested.

pub mod cli;
pub mod config;
pub mod doctor;
pub mod output;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Runs one command and returns the process exit code: 0 success, 1 a check or
/// operation failed, 2 the configuration or input was wrong.
pub async fn run(cli: Cli) -> ExitCode {
    let config = match config::Config::from_env(cli.home.clone(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("finops: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Doctor => {
            let report = doctor::run(&config).await;
            print!("{}", output::render(&report, cli.format));
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
