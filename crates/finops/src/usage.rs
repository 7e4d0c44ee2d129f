//! `finops ingest-logs`, `finops report investigations|live` and `finops
//! investigation`: the live signal in the local mode. As the usage-stream
//! function does per delivery, `ingest-logs` runs the detectors on the days
//! the logs cover right after storing them.

use std::io::Read;
use std::path::{Path, PathBuf};

use domain::analytics::investigations::{DetectorConfig, Investigation};
use serde::Serialize;
use services::governance::usage::{step_of, DetectionRun, UsageIngest};
use services::governance::Governance;

use crate::cli::{Format, InvestigationCmd, ReportCmd};
use crate::config::Config;
use crate::cur::{operator, CurError};
use crate::local;
use crate::output::table;

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

/// A log object's text, gunzipped when its name says so.
fn read_text(path: &Path) -> Result<String, CurError> {
    let bytes = std::fs::read(path).map_err(|e| input(path.display(), e))?;
    if path.to_string_lossy().ends_with(".gz") {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text).map_err(|e| input(path.display(), format!("not gzipped UTF-8 text: {e}")))?;
        Ok(text)
    } else {
        String::from_utf8(bytes).map_err(|e| input(path.display(), format!("not UTF-8 text: {e}")))
    }
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
    // Every file is read (into its small hourly aggregate, the text dropped)
    // before anything is stored: a file that cannot be read stores nothing
    // from any, and memory holds one file's text at a time.
    let gov = local::governance_for(config).await?;
    let reader = gov.log_reader().await?;
    let mut reads = Vec::with_capacity(files.len());
    for f in &files {
        reads.push((source_of(f), reader.read_text(&read_text(f)?)));
    }
    drop(reader);
    let mut objects = Vec::new();
    let mut days = std::collections::BTreeSet::new();
    for (source, read) in reads {
        let done = gov.ingest_usage(&source, read).await?;
        days.extend(done.days.iter().copied());
        objects.push(done);
    }
    let detection = gov.detect_investigations(&days, &DetectorConfig::default()).await?;
    let out = IngestOut { objects, detection };
    Ok(match format {
        Format::Json => json(&out),
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

fn investigations_table(list: &[Investigation]) -> String {
    let rows: Vec<[String; 7]> = list
        .iter()
        .map(|i| {
            [
                i.id.clone(),
                i.kind.as_str().to_owned(),
                format!("{:?}", i.severity).to_lowercase(),
                i.status.as_str().to_owned(),
                i.key.clone(),
                i.evidence.spend.round_cents().to_string(),
                i.evidence.baseline.round_cents().to_string(),
            ]
        })
        .collect();
    table(&["ID", "KIND", "SEVERITY", "STATUS", "ABOUT", "SPEND", "BASELINE"], &rows)
}

/// `report investigations` and `report live`, on the service `cur::report` opened.
pub async fn report(gov: &Governance, cmd: &ReportCmd, format: Format) -> Result<String, CurError> {
    match cmd {
        ReportCmd::Investigations => {
            let list = gov.investigations(&operator()).await?;
            Ok(match format {
                Format::Json => json(&list),
                Format::Table => investigations_table(&list),
            })
        }
        ReportCmd::Live { hours } => {
            let live = gov.live(&operator(), *hours).await?;
            Ok(match format {
                Format::Json => json(&live),
                Format::Table => {
                    let rows: Vec<[String; 5]> = live.lines.iter().map(|l| [l.owner.clone(), l.requests.to_string(), l.input_tokens.to_string(), l.output_tokens.to_string(), l.cost.round_cents().to_string()]).collect();
                    let mut s = table(&["OWNER", "REQUESTS", "INPUT TOKENS", "OUTPUT TOKENS", "COST"], &rows);
                    s.push_str(&format!("\n{} to {}: {} from the logs at catalogue prices\n", live.from.format("%Y-%m-%d %H:%M"), live.to.format("%Y-%m-%d %H:%M UTC"), live.total.round_cents()));
                    s
                }
            })
        }
        _ => Err(input("report", "not a live-signal report (crate::cur::report)")),
    }
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
        Format::Json => json(&i),
        Format::Table => investigations_table(std::slice::from_ref(&i)),
    })
}
