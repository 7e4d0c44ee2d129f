//! The `finops` command line: the local embedded mode and operator commands.
//!
//! `main.rs` only parses arguments and calls [`run`]; everything else lives here so
//! it can be tested.

mod export;
pub mod agent;
pub mod analytics;
pub mod cli;
pub mod config;
pub mod cur;
pub mod demo;
pub mod doctor;
pub mod enforcement;
pub mod local;
pub mod memory;
pub mod output;
pub mod usage;

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
    if cli.format == cli::Format::Csv && !matches!(cli.command, Command::Report { .. }) {
        eprintln!("finops: --format csv is for reports (finops report …); use table or json here");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Token { user, persona, scope, hours } => token(&cli.home, &user, &persona, &scope, hours),
        Command::Serve { addr, cors_origins } => serve(&config, &cli.home, &addr, &cors_origins).await,
        Command::Demo { keep } => match demo::run(&cli.home, keep, cli.format).await {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("finops demo: {e}");
                ExitCode::from(1)
            }
        },
        Command::Import { file } => emit("import", cur::import(&config, &file, cli.format).await),
        Command::Ingest { paths, period, threads } => emit("ingest", cur::ingest(&config, &paths, period.as_deref(), threads, cli.format).await),
        Command::Report { report } => emit("report", cur::report(&config, &report, cli.format).await),
        Command::Export { export } => emit("export", export::export(&config, &export, cli.format).await),
        Command::Gap { cmd } => emit("gap", analytics::gap(&config, cmd, cli.format).await),
        Command::GenLogs { cur, out, skip_accounts } => emit("gen-logs", usage::gen_logs(&cur, &out, &skip_accounts)),
        Command::IngestLogs { paths } => emit("ingest-logs", usage::ingest_logs(&config, &paths, cli.format).await),
        Command::Investigation { cmd } => emit("investigation", usage::investigation(&config, cmd, cli.format).await),
        Command::Suspend { workload, rationale, whole_role, dry_run } => {
            emit("suspend", enforcement::enforce(&config, &workload, services::governance::SuspendInput { rationale, whole_role, dry_run }, true, cli.format).await)
        }
        Command::Resume { workload, rationale, dry_run } => {
            emit("resume", enforcement::enforce(&config, &workload, services::governance::SuspendInput { rationale, whole_role: false, dry_run }, false, cli.format).await)
        }
        Command::Ask { question, token, confirm } => emit("ask", agent::ask(&config, &cli.home, &question.join(" "), token.as_deref(), confirm, cli.format).await),
        Command::MapTag { workload, value, clear: _, rationale } => emit("map-tag", agent::map_tag(&config, &workload, value, rationale, cli.format).await),
        Command::Mcp { token } => emit("mcp", agent::mcp(&config, &cli.home, token.as_deref()).await),
        Command::Enforcement { cmd } => emit("enforcement", enforcement::command(&config, cmd, cli.format).await),
        Command::GenCur { rows, ai_share, seed, period, out, import_out, row_group_rows, principals, sessions, days } => {
            let estate = principals.map(|principals| cur_files::generate::Estate { principals, sessions, days });
            let spec = cur::GenSpec { rows, ai_share, seed, rows_per_group: row_group_rows, estate };
            emit("gen-cur", cur::gen_cur(spec, &period, &out, import_out.as_deref()))
        }
        Command::AthenaSql { period, database, table, ledger } => emit(
            "athena-sql",
            domain::BillingPeriod::parse(&period)
                .map(|p| match ledger {
                    Some(db) => ledger_queries(&db, p, cli.format),
                    None => {
                        let t = cur_athena::CurTable { database, table, period_column: "billing_period".into(), principal_column: true, cost_bases: true };
                        cur_athena::backfill_sql(&t, p) + "\n"
                    }
                })
                .map_err(|e| cur::CurError::Input { path: "--period".into(), reason: e.to_string() }),
        ),
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

/// The example queries over the stack's Glue tables: SQL to paste, or JSON.
fn ledger_queries(database: &str, period: domain::BillingPeriod, format: cli::Format) -> String {
    let queries = cur_athena::queries::ledger_queries(database, period);
    match format {
        cli::Format::Json | cli::Format::Csv => {
            let list: Vec<_> = queries.iter().map(|q| serde_json::json!({"name": q.name, "what": q.what, "sql": q.sql})).collect();
            format!("{}\n", serde_json::Value::Array(list))
        }
        cli::Format::Table => queries.iter().map(|q| format!("-- {}: {}\n{};\n\n", q.name, q.what, q.sql)).collect(),
    }
}

fn emit(command: &str, result: Result<String, cur::CurError>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("finops {command}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn token(home: &std::path::Path, user: &str, persona: &str, scope: &[String], hours: u32) -> ExitCode {
    let actor = (|| -> Result<domain::Actor, String> {
        let user = domain::UserId::parse(user).map_err(|e| e.to_string())?;
        let persona = domain::Persona::parse(persona).map_err(|e| e.to_string())?;
        let scope = scope.iter().map(|s| domain::NodeId::parse(s.trim()).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
        Ok(domain::Actor::new(user, persona, scope))
    })();
    let minted = actor.and_then(|a| {
        let tokens = local::tokens(home).map_err(|e| e.to_string())?;
        tokens.mint(&a, chrono::Utc::now() + chrono::Duration::hours(i64::from(hours))).map_err(|e| e.to_string())
    });
    match minted {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("finops token: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve(config: &config::Config, home: &std::path::Path, addr: &str, cors_origins: &[String]) -> ExitCode {
    let setup = async {
        let gov = local::governance_for(config).await.map_err(|e| e.to_string())?;
        let tokens = local::tokens(home).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let app = http_api::with_cors(http_api::with_local_tokens(http_api::router(gov), tokens), cors_origins)?;
        Ok::<_, String>((app, listener, bound))
    };
    let (app, listener, bound) = match setup.await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("finops serve: {e}");
            return ExitCode::from(2);
        }
    };
    println!("finops: serving the governance API on http://{bound} (Ctrl-C stops)");
    let shutdown = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
        }
    };
    match axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finops serve: {e}");
            ExitCode::from(1)
        }
    }
}
