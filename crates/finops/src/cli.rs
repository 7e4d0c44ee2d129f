//! Arguments. Later issues add subcommands here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "finops", version, about = "FinOps Center: AI cost governance for AWS, run locally or against your stack")]
pub struct Cli {
    /// Where local state lives (the embedded store file and local secrets).
    #[arg(long, env = "FINOPS_HOME", default_value = ".finops", global = true)]
    pub home: PathBuf,

    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report which store and event bus are configured, and check that they work.
    Doctor,
    /// Mint a bearer token for the local server (signed with FINOPS_HOME/secret).
    Token {
        #[arg(long)]
        user: String,
        /// ProductOwner, FinOpsLead, CloudEngineer, PortfolioOwner or Finance.
        #[arg(long)]
        persona: String,
        /// Hierarchy nodes the user sees (repeat, or separate with commas).
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
        /// Validity in hours.
        #[arg(long, default_value_t = 12)]
        hours: u32,
    },
    /// Serve the governance HTTP API on the embedded store (the local mode).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: String,
    },
    /// Walk three workloads from request to claim over the local HTTP API, on a
    /// fresh embedded home, and print what happened.
    Demo {
        /// Keep the demo's home (under --home) instead of a temporary one.
        #[arg(long)]
        keep: bool,
    },
}
