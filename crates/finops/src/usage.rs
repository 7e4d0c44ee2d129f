//! `finops ingest-logs`, `finops report investigations|live` and `finops
//! investigation`: the live signal in the local mode. As the usage-stream
//! function does per delivery, `ingest-logs` runs the detectors on the days
//! the logs cover right after storing them.

use std::io::Read;
use std::path::{Path, PathBuf};

use domain::analytics::investigations::{DetectorConfig, Investigation};
use domain::analytics::live_vs_billed::{self, LineStatus, LiveVsBilled};
use serde::Serialize;
use services::governance::usage::{step_of, DetectionRun, LogRead, StagedUsage, UsageIngest};
use services::governance::Governance;

use crate::cli::{Format, InvestigationCmd, ReportCmd};
use crate::config::Config;
use crate::cur::{operator, CurError};
use crate::local;
use crate::output::{table, Cell, Grid};

fn input(path: impl ToString, reason: impl ToString) -> CurError {
    CurError::Input { path: path.to_string(), reason: reason.to_string() }
}

fn json<T: Serialize>(v: &T) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Log objects under the given files and folders: `.json` and `.json.gz`.
fn log_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CurError> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).map_err(|e| input(p.display(), e))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p).and_then(|d| d.map(|e| e.map(|e| e.path())).collect()).map_err(|e| input(p.display(), e))?;
            entries.sort();
            for e in entries.into_iter().rev() {
                let name = e.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                if e.is_dir() || name.ends_with(".json") || name.ends_with(".json.gz") {
                    stack.push(e);
                }
            }
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// A log object's text, gunzipped when its name says so, into `text`: a
/// reader reuses its buffers from one object to the next instead of growing
/// (and having the kernel zero) new ones per object.
fn read_text(path: &Path, bytes: &mut Vec<u8>, text: &mut String) -> Result<(), CurError> {
    bytes.clear();
    text.clear();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(bytes)).map_err(|e| input(path.display(), e))?;
    if path.to_string_lossy().ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(text).map_err(|e| input(path.display(), format!("not gzipped UTF-8 text: {e}")))?;
    } else {
        text.push_str(std::str::from_utf8(bytes).map_err(|e| input(path.display(), format!("not UTF-8 text: {e}")))?);
    }
    Ok(())
}

/// A local file's source identity: its name under the folder Bedrock's
/// layout starts at (`AWSLogs/…`), else its file name, so the same object
/// read from two copies is one source.
fn source_of(path: &Path) -> String {
    let s = path.to_string_lossy();
    match s.find("AWSLogs/") {
        Some(i) => s[i..].to_owned(),
        None => path.file_name().map_or_else(|| s.to_string(), |n| n.to_string_lossy().into_owned()),
    }
}

async fn discard(gov: &Governance, staged: Vec<StagedUsage>) {
    for s in staged {
        gov.discard_staged(s).await;
    }
}

/// Reads every file on as many threads as the machine has while the calling
/// thread stages each one as it is read (its usage encoded and written under
/// a generation nothing points at yet), so reading and writing overlap.
/// Files are independent; a reader holds one file's text at a time and at
/// most a few reads wait to be staged, so memory does not grow with the
/// number of files. Returns what was staged, in file order, or the first
/// error with everything staged before it (the caller discards it).
fn read_and_stage(gov: &Governance, reader: &services::governance::usage::LogReader<'_>, files: &[PathBuf]) -> (Vec<StagedUsage>, Result<(), CurError>) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len()).max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Result<LogRead, CurError>)>(threads);
    let runtime = tokio::runtime::Handle::current();
    // The readers are plain threads; this one leaves the async runtime's
    // workers (block_in_place) to drive the staging writes with block_on.
    tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..threads)
                .map(|_| {
                    let tx = tx.clone();
                    let (next, stop) = (&next, &stop);
                    s.spawn(move || {
                    let (mut bytes, mut text) = (Vec::new(), String::new());
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        if tx.send((i, read_text(f, &mut bytes, &mut text).map(|()| reader.read_text(&text)))).is_err() {
                            break;
                        }
                    }
                })
                })
                .collect();
            drop(tx);
            let mut staged: Vec<Option<StagedUsage>> = (0..files.len()).map(|_| None).collect();
            let mut outcome = Ok(());
            for (i, read) in rx.iter() {
                if outcome.is_err() {
                    continue; // drain, so no reader blocks on a full channel
                }
                let step = read.and_then(|read| runtime.block_on(gov.stage_usage(&source_of(&files[i]), read)).map_err(CurError::from));
                match step {
                    Ok(st) => staged[i] = Some(st),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        outcome = Err(e);
                    }
                }
            }
            // Joined here, so a reader that panicked is this error, not a panic.
            let failed = readers.into_iter().map(|r| r.join().is_err()).fold(false, |a, b| a | b);
            let staged: Vec<StagedUsage> = staged.into_iter().flatten().collect();
            if outcome.is_ok() && (failed || staged.len() != files.len()) {
                outcome = Err(input("ingest-logs", "a reading thread failed"));
            }
            (staged, outcome)
        })
    })
}

#[derive(Debug, Serialize)]
struct IngestOut {
    objects: Vec<UsageIngest>,
    detection: DetectionRun,
}

pub async fn ingest_logs(config: &Config, paths: &[PathBuf], format: Format) -> Result<String, CurError> {
    let files = log_files(paths)?;
    if files.is_empty() {
        return Err(input(paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "), "no invocation log files (.json, .json.gz) found"));
    }
    // All or nothing: every file is read and its usage staged (written under
    // a generation nothing points at yet) before any is committed, so a file
    // that cannot be read stores nothing from any.
    let gov = local::governance_for(config).await?;
    let reader = gov.log_reader().await?;
    let (staged, read) = read_and_stage(&gov, &reader, &files);
    if let Err(e) = read {
        discard(&gov, staged).await;
        return Err(e);
    }
    drop(reader);
    let mut objects = Vec::new();
    let mut days = std::collections::BTreeSet::new();
    let mut pending = staged.into_iter();
    while let Some(s) = pending.next() {
        match gov.commit_usage(s).await {
            Ok(done) => {
                days.extend(done.days.iter().copied());
                objects.push(done);
            }
            Err(e) => {
                discard(&gov, pending.collect()).await;
                return Err(e.into());
            }
        }
    }
    let detection = gov.detect_investigations(&days, &DetectorConfig::default()).await?;
    let out = IngestOut { objects, detection };
    Ok(match format {
        Format::Json | Format::Csv => json(&out),
        Format::Table => {
            let rows: Vec<[String; 5]> = out
                .objects
                .iter()
                .map(|o| [o.source.clone(), o.records.to_string(), o.unreadable.to_string(), if o.duplicate { "unchanged".into() } else { "stored".into() }, o.errors.first().cloned().unwrap_or_default()])
                .collect();
            let mut s = table(&["SOURCE", "RECORDS", "UNREADABLE", "RESULT", "FIRST ERROR"], &rows);
            s.push_str(&format!("\ninvestigations: {} opened, {} updated; workloads alerted: {}\n", out.detection.opened.len(), out.detection.updated.len(), out.detection.alerted.len()));
            s
        }
    })
}

fn investigations_grid(list: &[Investigation]) -> Grid<7> {
    Grid {
        header: ["ID", "KIND", "SEVERITY", "STATUS", "ABOUT", "SPEND", "BASELINE"],
        rows: list
            .iter()
            .map(|i| [i.id.clone().into(), i.kind.as_str().into(), format!("{:?}", i.severity).to_lowercase().into(), i.status.as_str().into(), i.key.clone().into(), i.evidence.spend.into(), i.evidence.baseline.into()])
            .collect(),
    }
}

/// `report investigations` and `report live`, on the service `cur::report` opened.
pub async fn report(gov: &Governance, cmd: &ReportCmd, format: Format) -> Result<String, CurError> {
    match cmd {
        ReportCmd::Investigations => {
            let list = gov.investigations(&operator()).await?;
            Ok(match format {
                Format::Json => json(&list),
                Format::Table => investigations_grid(&list).table(),
                Format::Csv => investigations_grid(&list).csv(),
            })
        }
        ReportCmd::Live { hours } => {
            let live = gov.live(&operator(), *hours).await?;
            let grid = Grid {
                header: ["OWNER", "REQUESTS", "INPUT TOKENS", "OUTPUT TOKENS", "COST"],
                rows: live.lines.iter().map(|l| [l.owner.clone().into(), Cell::Count(l.requests), Cell::Count(l.input_tokens), Cell::Count(l.output_tokens), l.cost.into()]).collect(),
            };
            Ok(match format {
                Format::Json => json(&live),
                Format::Csv => grid.csv(),
                Format::Table => {
                    let mut s = grid.table();
                    s.push_str(&format!("\n{} to {}: {} from the logs at catalogue prices\n", live.from.format("%Y-%m-%d %H:%M"), live.to.format("%Y-%m-%d %H:%M UTC"), live.total.round_cents()));
                    s
                }
            })
        }
        ReportCmd::LiveVsBilled { period } => {
            let period = domain::BillingPeriod::parse(period).map_err(|e| input("--period", e))?;
            let r = gov.live_vs_billed(&operator(), period).await?;
            Ok(match format {
                Format::Json => json(&r),
                Format::Table => live_vs_billed_table(&r),
                Format::Csv => live_vs_billed_grid(&r).csv(),
            })
        }
        _ => Err(input("report", "not a live-signal report (crate::cur::report)")),
    }
}

fn pct(p: Option<impl std::fmt::Display>) -> String {
    p.map_or_else(|| "-".into(), |p| format!("{p}%"))
}

/// Every owner and day, as the JSON has them: what a spreadsheet pivots.
fn live_vs_billed_grid(r: &LiveVsBilled) -> Grid<8> {
    Grid {
        header: ["OWNER", "DAY", "STATUS", "BILLED", "ESTIMATED", "ERROR %", "REQUESTS", "UNPRICED CALLS"],
        rows: r
            .lines
            .iter()
            .map(|l| {
                let status = serde_json::to_value(l.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                [l.owner.clone().into(), l.day.to_string().into(), status.into(), l.billed.into(), l.estimated.into(), Cell::Pct(l.error_pct), Cell::Count(l.requests), Cell::Count(l.unpriced_requests)]
            })
            .collect(),
    }
}

fn live_vs_billed_table(r: &LiveVsBilled) -> String {
    // Per owner over the period (the JSON has every day); the error is over
    // the days compared only.
    #[derive(Default)]
    struct Owner {
        billed: domain::Money,
        estimated: domain::Money,
        compared: (domain::Money, domain::Money),
        days: (u32, u32),
        unpriced: u64,
    }
    let mut by_owner: std::collections::BTreeMap<&str, Owner> = std::collections::BTreeMap::new();
    for l in &r.lines {
        let o = by_owner.entry(l.owner.as_str()).or_default();
        o.billed += l.billed;
        o.estimated += l.estimated;
        o.unpriced += l.unpriced_requests;
        if l.status == LineStatus::Compared {
            o.compared.0 += l.billed;
            o.compared.1 += l.estimated;
            o.days.0 += 1;
        } else {
            o.days.1 += 1;
        }
    }
    let rows: Vec<[String; 7]> = by_owner
        .iter()
        .map(|(name, o)| {
            [
                name.to_string(),
                o.billed.round_cents().to_string(),
                o.estimated.round_cents().to_string(),
                pct(live_vs_billed::error_pct(o.compared.1, o.compared.0)),
                o.days.0.to_string(),
                o.days.1.to_string(),
                o.unpriced.to_string(),
            ]
        })
        .collect();
    let mut s = format!("{} — CUR covers {} day(s)\n\n", r.period, r.days.len());
    s.push_str(&table(&["OWNER", "BILLED", "ESTIMATED", "ERROR", "DAYS COMPARED", "NOT COMPARED", "UNPRICED CALLS"], &rows));
    s.push_str(&format!(
        "\ncompared: billed {} / estimated {} from the logs: error {}\nnot comparable (no model a log names: Marketplace units, guardrails, CCU, unpriced models, tax, credits): {}\nlogged on days CUR does not cover yet: {}\n",
        r.compared_billed.round_cents(),
        r.compared_estimated.round_cents(),
        pct(r.error_pct),
        r.not_comparable.round_cents(),
        r.awaiting_cur.round_cents(),
    ));
    let unpriced: u64 = r.lines.iter().map(|l| l.unpriced_requests).sum();
    if unpriced > 0 {
        s.push_str(&format!("{unpriced} logged call(s) could not be priced (a model the catalogue lacks, or an application inference profile whose workload has no approved model): their days are not compared\n"));
    }
    for a in r.accounts_without_logs() {
        s.push_str(&format!("account {}: {} billed and no invocation log at all: is model-invocation logging on, and delivered?\n", a.account, a.billed.round_cents()));
    }
    s
}

/// `gen-logs`: the invocation logs of a CUR file's token lines, gzipped, in
/// Bedrock's S3 layout under `out`.
pub fn gen_logs(cur: &Path, out: &Path, skip_accounts: &[String]) -> Result<String, CurError> {
    for a in skip_accounts {
        domain::AccountId::parse(a).map_err(|e| input("--skip-account", e))?;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (facts, _) = cur_files::read_path(cur, threads).map_err(|source| CurError::Read { path: cur.display().to_string(), source })?;
    let catalog = domain::governance::catalog::PriceCatalog::bundled().map_err(|e| input("price catalogue", e))?;
    let objects = cur_files::replay::invocation_logs(&facts, &catalog);
    let (mut written, mut records) = (0usize, 0usize);
    let mut accounts = std::collections::BTreeSet::new();
    for (key, lines) in objects.iter().filter(|(k, _)| !skip_accounts.iter().any(|a| k.starts_with(&format!("AWSLogs/{a}/")))) {
        let path = out.join(key);
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path)?, flate2::Compression::fast());
            for l in lines {
                std::io::Write::write_all(&mut gz, l.as_bytes())?;
                std::io::Write::write_all(&mut gz, b"\n")?;
            }
            gz.finish()?;
            Ok(())
        };
        write().map_err(|e| input(path.display(), e))?;
        written += 1;
        records += lines.len();
        accounts.extend(key.split('/').nth(1).map(str::to_owned));
    }
    Ok(format!("wrote {records} invocation-log records in {written} objects for {} account(s) under {}\n", accounts.len(), out.join("AWSLogs").display()))
}

pub async fn investigation(config: &Config, cmd: InvestigationCmd, format: Format) -> Result<String, CurError> {
    let gov = local::governance_for(config).await?;
    let (id, step, rationale) = match cmd {
        InvestigationCmd::Assign { id, to, rationale } => (id, step_of("assign", Some(&to), None)?, rationale.unwrap_or_default()),
        InvestigationCmd::Link { id, gap, rationale } => (id, step_of("link", None, Some(&gap))?, rationale),
        InvestigationCmd::Close { id, rationale } => (id, step_of("close", None, None)?, rationale),
    };
    let i = gov.investigation_step(&operator(), &id, step, &rationale).await?;
    Ok(match format {
        Format::Json | Format::Csv => json(&i),
        Format::Table => investigations_grid(std::slice::from_ref(&i)).table(),
    })
}
