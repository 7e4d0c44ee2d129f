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
    /// The report's main table as RFC 4180 CSV, amounts as exact decimal
    /// strings (reports only).
    Csv,
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
        /// A browser origin allowed to call the API (CORS), e.g.
        /// http://localhost:5173; repeat for several.
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
    },
    /// Load existing governance state (hierarchy, workloads, approvals, claims,
    /// broad-role patterns) from a JSON file; all or nothing.
    Import { file: PathBuf },
    /// Read Bedrock model-invocation logs (.json, .json.gz; files or folders)
    /// into hourly usage, then run the detectors on the days they cover.
    IngestLogs {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Write the Bedrock invocation logs a CUR file's token lines would have
    /// produced (the same principals, days and tokens), in Bedrock's S3
    /// layout, so the live-vs-billed reconciliation can be tried.
    GenLogs {
        /// The CUR file (what gen-cur wrote, or any CUR 2.0 file).
        #[arg(long)]
        cur: PathBuf,
        /// The folder the `AWSLogs/…` tree goes under.
        #[arg(long)]
        out: PathBuf,
        /// Leave an account's logs out (repeat): an account whose logging is off.
        #[arg(long = "skip-account")]
        skip_accounts: Vec<String>,
    },
    /// Work an investigation (FinOps Lead): assign, link to a gap, or close.
    Investigation {
        #[command(subcommand)]
        cmd: InvestigationCmd,
    },
    /// Read CUR 2.0 files (Parquet, CSV, CSV.gz; files or folders) into facts.
    /// Re-ingesting a file replaces its own facts.
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The billing period, when the path does not say (BILLING_PERIOD=YYYY-MM).
        #[arg(long)]
        period: Option<String>,
        /// Threads decoding Parquet row groups.
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
    },
    /// Files for the tools a FinOps team already runs: FOCUS 1.2 (BI, a
    /// FOCUS pipeline) and Finance's chargeback. Parquet or CSV, by --out's
    /// extension.
    Export {
        #[command(subcommand)]
        export: ExportCmd,
    },
    /// Attribution and reconciliation reports over ingested CUR.
    Report {
        #[command(subcommand)]
        report: ReportCmd,
    },
    /// Write deterministic, realistic CUR 2.0 Parquet (all 127 columns) and the
    /// matching import fixture.
    GenCur {
        #[arg(long)]
        rows: u64,
        #[arg(long, default_value_t = 0.05)]
        ai_share: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "2026-03")]
        period: String,
        #[arg(long)]
        out: PathBuf,
        /// Where the import fixture goes (default: OUT with `.import.json`).
        #[arg(long)]
        import_out: Option<PathBuf>,
        #[arg(long, default_value_t = 128 * 1024)]
        row_group_rows: usize,
        /// A large estate instead of the named sample principals: this many
        /// roles (with --sessions and --days, ~1M distinct facts at 4000 × 4 × 31).
        #[arg(long)]
        principals: Option<u32>,
        /// Session names per role (one per developer), with --principals.
        #[arg(long, default_value_t = 4, requires = "principals")]
        sessions: u32,
        /// Days of the month the estate's rows fall on, with --principals.
        #[arg(long, default_value_t = 31, requires = "principals")]
        days: u32,
    },
    /// Print the Athena query that backfills a period's facts (what cur-ingest
    /// runs on {"backfill": …}), to run or inspect in the Athena console; with
    /// --ledger, example queries over the stack's own Glue tables instead.
    AthenaSql {
        #[arg(long)]
        period: String,
        #[arg(long, default_value = "cid")]
        database: String,
        #[arg(long, default_value = "cur2")]
        table: String,
        /// The stack's Glue database (its AnalyticsDatabaseName output): print
        /// queries over the fact ledger and the FOCUS export.
        #[arg(long)]
        ledger: Option<String>,
    },
    /// Act on an allocation gap (as FinOps Lead): guided_setup, create_request,
    /// approve, block, add_scope, flag_move, notify_owner, assign_to_workload,
    /// request_business_case, resolve or recall.
    Gap {
        #[command(subcommand)]
        cmd: GapCmd,
    },
    /// Ask Agent Bill about AI spend, in words ("am I over my estimate this
    /// month?"). It says how it understood the question, or what it can answer.
    Ask {
        #[arg(required = true)]
        question: Vec<String>,
        /// A local token (`finops token`): answer as its user, in its scope.
        /// Without one, as the local operator (FinOps Lead).
        #[arg(long, env = "FINOPS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Confirm an action the question asks for (suspending a workload).
        #[arg(long)]
        confirm: bool,
    },
    /// Tag a workload with its AWS MAP engagement (`map-migrated` value), or
    /// clear it (FinOps Lead; audited). Agent Bill's MAP credit at risk reads it.
    MapTag {
        workload: String,
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        value: Option<String>,
        #[arg(long)]
        clear: bool,
        #[arg(long)]
        rationale: String,
    },
    /// Serve Agent Bill's tools over MCP on stdin/stdout, for an MCP-capable
    /// assistant (see README, "Agent Bill").
    Mcp {
        /// A local token: the assistant acts as its user, in its scope.
        #[arg(long, env = "FINOPS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// The kill switch (as FinOps Lead): deny a workload's claimed roles every
    /// model invocation, and tag them suspended.
    Suspend {
        workload: String,
        #[arg(long)]
        rationale: String,
        /// Deny a role other workloads share, as a whole (audited as such).
        #[arg(long)]
        whole_role: bool,
        /// Print the exact IAM calls and policy JSON; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Lift a suspension: the deny and the tag come off.
    Resume {
        workload: String,
        #[arg(long)]
        rationale: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// The kill switch's state per workload (`status`), make IAM hold it
    /// again (`reconcile`, what the nightly run does), list model blocks
    /// (`blocks`) or lift one (`lift`).
    Enforcement {
        #[command(subcommand)]
        cmd: EnforcementCmd,
    },
    /// Walk three workloads from request to claim over the local HTTP API, on a
    /// fresh embedded home, and print what happened.
    Demo {
        /// Keep the demo's home (under --home) instead of a temporary one.
        #[arg(long)]
        keep: bool,
    },
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Attributed and unattributed AI spend of a billing period; --view
    /// hierarchy rolls it up E1–E4, --view legacy splits shared accounts evenly.
    Attribution {
        #[arg(long)]
        period: String,
        /// summary (the report), hierarchy (E1–E4 rollup) or legacy (shared
        /// accounts split evenly, as tools without attribution show it).
        #[arg(long, value_enum, default_value_t = View::Summary)]
        view: View,
        #[arg(long, value_enum, default_value_t = Basis::Unblended)]
        cost_basis: Basis,
    },
    /// Per account: CUR total = attributed + unattributed + adjustments + non-AI.
    /// Exits 2 when an account does not balance to the cent.
    Reconcile {
        #[arg(long)]
        period: String,
        #[arg(long, value_enum, default_value_t = Basis::Unblended)]
        cost_basis: Basis,
    },
    /// Allocation gaps of a period (detected again first, as the nightly run does).
    Gaps {
        #[arg(long)]
        period: String,
    },
    /// A week's spend cards (built first, as Monday's schedule does).
    Cards {
        /// YYYY-Www; default: last Monday–Sunday.
        #[arg(long)]
        week: Option<String>,
    },
    /// Governance maturity: four dimensions, overall score and tier.
    Maturity {
        /// YYYY-MM; default: the latest month with ingested CUR.
        #[arg(long)]
        period: Option<String>,
    },
    /// Investigations the detectors raised from the invocation logs (hourly
    /// spikes, new principals, models at 10× their baseline).
    Investigations,
    /// Spend so far from the invocation logs, per workload, over the last hours.
    Live {
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// The invocation logs' estimate against CUR's bill, per owner and day,
    /// on the days CUR covers; names the accounts that log nothing.
    LiveVsBilled {
        #[arg(long)]
        period: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCmd {
    /// A period's AI spend in FOCUS 1.2, one row per ledger fact, with the
    /// attribution as x_ columns (x_Workload, x_HierarchyPath, …).
    Focus {
        #[arg(long)]
        period: String,
        /// FILE.parquet or FILE.csv
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// A month's chargeback per workload and hierarchy node, from settled
    /// spend cards and approved rollups only (refused, listing what is
    /// open, until then).
    Chargeback {
        #[arg(long)]
        period: String,
        /// FILE.parquet or FILE.csv
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum InvestigationCmd {
    /// Give an investigation to someone to look into.
    Assign {
        id: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        rationale: Option<String>,
    },
    /// Tie an investigation to the allocation gap it is part of.
    Link {
        id: String,
        #[arg(long)]
        gap: String,
        #[arg(long)]
        rationale: String,
    },
    /// Close an investigation, saying why.
    Close {
        id: String,
        #[arg(long)]
        rationale: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GapCmd {
    /// Take an inline action on a gap; the rationale is audited.
    Action {
        id: String,
        #[arg(long)]
        action: String,
        #[arg(long)]
        rationale: String,
        /// create_request, approve: the Product Owner who will own the workload.
        #[arg(long)]
        owner: Option<String>,
        /// create_request, approve: the E3 portfolio of the new workload.
        #[arg(long)]
        portfolio: Option<String>,
        /// create_request, approve: the new workload's name.
        #[arg(long)]
        name: Option<String>,
        /// assign_to_workload: the workload that claims the guardrail.
        #[arg(long)]
        workload: Option<String>,
        /// add_scope, flag_move: the approval (request id) whose scope is meant.
        #[arg(long)]
        request: Option<String>,
        /// block: also ask the kill switch to suspend the principal.
        #[arg(long)]
        suspend: bool,
    },
}

/// Which dollars a report adds up: unblended (the rates billed), net (after
/// discounts and credits) or amortized (commitments spread over the usage
/// they cover). A basis whose CUR columns were not ingested is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Basis {
    Unblended,
    Net,
    Amortized,
}

impl From<Basis> for domain::cur::bases::CostBasis {
    fn from(b: Basis) -> Self {
        match b {
            Basis::Unblended => Self::Unblended,
            Basis::Net => Self::Net,
            Basis::Amortized => Self::Amortized,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum View {
    Summary,
    Hierarchy,
    Legacy,
}

#[derive(Debug, clap::Subcommand)]
pub enum EnforcementCmd {
    /// Each workload's enforcement state and its last action.
    Status,
    /// Make IAM hold every workload's stored state and every model block;
    /// print what was repaired.
    Reconcile {
        /// Print the calls that would repair drift; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Every model block raised from a gap, lifted or not.
    Blocks,
    /// Install the organisation's one SCP (denies model invocation to
    /// principals tagged finops:suspended) and attach it to each --target:
    /// run with the management account's credentials against a deployed stack.
    InstallScp {
        /// A root (r-…), OU (ou-…-…) or account id; repeat for several.
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// Print the exact Organizations calls and the SCP; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Lift a model block: its deny comes off the account's roles.
    Lift {
        block: String,
        #[arg(long)]
        rationale: String,
        /// Print the exact calls; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}
