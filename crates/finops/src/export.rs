//! `finops export`: the FOCUS 1.2 allocation export and Finance's chargeback,
//! written as Parquet or CSV (by the file's extension). A file is written to
//! a temporary name beside it and renamed, so a refused or failed export
//! never leaves a half-written file where the old one was.

use std::path::Path;

use domain::exports::Table;
use domain::BillingPeriod;
use export_files::{write, FileFormat};

use crate::cli::{ExportCmd, Format};
use crate::config::Config;
use crate::cur::{operator, CurError};
use crate::local;

fn input(path: &str, reason: impl Into<String>) -> CurError {
    CurError::Input { path: path.into(), reason: reason.into() }
}

pub async fn export(config: &Config, cmd: &ExportCmd, format: Format) -> Result<String, CurError> {
    let (kind, period, out) = match cmd {
        ExportCmd::Focus { period, out } => ("FOCUS 1.2", period, out),
        ExportCmd::Chargeback { period, out } => ("chargeback", period, out),
    };
    let period = BillingPeriod::parse(period).map_err(|e| input("--period", e.to_string()))?;
    let file_format = FileFormat::of_path(out).ok_or_else(|| input("--out", format!("{}: name the file .parquet or .csv", out.display())))?;
    let gov = local::governance_for(config).await?;
    let actor = operator();
    if gov.period_sources(period).await?.is_empty() {
        eprintln!("finops export: warning: nothing was ingested for {period}; the export has no spend until `finops ingest` reads its CUR");
    }
    let table = match cmd {
        ExportCmd::Focus { .. } => gov.focus_export(&actor, period).await?,
        ExportCmd::Chargeback { .. } => gov.chargeback_export(&actor, period).await?,
    };
    let bytes = write(&table, file_format).map_err(|e| input("--out", e.to_string()))?;
    write_atomically(out, &bytes)?;
    let billed = total(&table, if matches!(cmd, ExportCmd::Focus { .. }) { "BilledCost" } else { "Chargeback" });
    Ok(match format {
        Format::Json | Format::Csv => format!(
            "{}\n",
            serde_json::json!({"export": kind, "period": period.to_string(), "rows": table.rows.len(), "file": out.display().to_string(), "bytes": bytes.len(), "total": billed.to_string()})
        ),
        Format::Table => format!("{kind} export of {period}: {} rows, {} bytes, total {billed}, written to {}\n", table.rows.len(), bytes.len(), out.display()),
    })
}

/// The column's sum (over E4 lines only for chargeback, whose nodes repeat
/// their workloads' money).
fn total(table: &Table, column: &str) -> rust_decimal::Decimal {
    let Some(c) = table.index(column) else { return rust_decimal::Decimal::ZERO };
    let level = table.index("Level");
    table
        .rows
        .iter()
        .filter(|r| level.is_none_or(|l| matches!(&r[l], domain::exports::Value::Text(Some(x)) if x == "E4")))
        .filter_map(|r| match &r[c] {
            domain::exports::Value::Decimal(Some(d)) => Some(*d),
            _ => None,
        })
        .sum()
}

fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), CurError> {
    let shown = out.display().to_string();
    let name = out.file_name().ok_or_else(|| input("--out", format!("{shown}: not a file name")))?;
    let tmp = out.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&tmp, bytes).map_err(|e| input(&shown, e.to_string()))?;
    std::fs::rename(&tmp, out).map_err(|e| match std::fs::remove_file(&tmp) {
        Ok(()) => input(&shown, e.to_string()),
        Err(left) => input(&shown, format!("{e}; the partial file {} is left behind: {left}", tmp.display())),
    })
}
