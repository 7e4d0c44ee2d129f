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
}
