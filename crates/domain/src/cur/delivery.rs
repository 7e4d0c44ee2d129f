//! A Data Exports delivery: the `Manifest.json` AWS writes after all of an
//! execution's data files, at
//! `<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`
//! (field layout: `../shared/data/real/compiled/data_exports_manifest.json`).
//! AWS recommends choosing the files of a delivery from its `dataFiles`: a part
//! a refresh no longer writes must stop counting, and a month is announced
//! once per delivery, not once per file.

use serde::Deserialize;

use crate::period::BillingPeriod;

/// One delivery of one billing period of one export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Data Exports' `executionId`: the same manifest delivered twice has the same.
    pub execution: String,
    pub export: String,
    pub period: BillingPeriod,
    /// Each data file's location as the manifest gives it (`s3://bucket/key`).
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the manifest is not valid JSON of Data Exports' shape: {0}")]
    Shape(String),
    #[error("the manifest's {field} is empty")]
    Empty { field: &'static str },
    #[error("data file {file:?} is not in a BILLING_PERIOD=YYYY-MM folder of export {export:?}")]
    Outside { file: String, export: String },
    #[error("the manifest lists files of several billing periods: {0} and {1}")]
    Periods(BillingPeriod, BillingPeriod),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    execution_id: String,
    #[serde(default)]
    export_arn: String,
    data_files: Vec<String>,
}

/// Whether an object key is a Data Exports manifest (not a data file).
pub fn is_manifest_key(key: &str) -> bool {
    key.ends_with("-Manifest.json") || key.ends_with("/Manifest.json")
}

/// The export a data file belongs to and its period: the folders before
/// `data/BILLING_PERIOD=YYYY-MM/`.
pub fn export_of(file: &str) -> Option<(String, BillingPeriod)> {
    let parts: Vec<&str> = file.split('/').collect();
    let bp = parts.iter().rposition(|p| p.starts_with("BILLING_PERIOD="))?;
    if bp < 2 || parts[bp - 1] != "data" || bp + 1 >= parts.len() {
        return None;
    }
    let period = BillingPeriod::parse(parts[bp].trim_start_matches("BILLING_PERIOD=")).ok()?;
    Some((parts[bp - 2].to_owned(), period))
}

impl Delivery {
    /// Reads a manifest. Every data file must sit in one export's
    /// `data/BILLING_PERIOD=` folder of one period, so the delivery can say
    /// which stored sources it replaces.
    pub fn parse(json: &str) -> Result<Delivery, DeliveryError> {
        let raw: Raw = serde_json::from_str(json).map_err(|e| DeliveryError::Shape(e.to_string()))?;
        if raw.execution_id.trim().is_empty() {
            return Err(DeliveryError::Empty { field: "executionId" });
        }
        let first = raw.data_files.first().ok_or(DeliveryError::Empty { field: "dataFiles" })?;
        let (export, period) = export_of(first).ok_or_else(|| DeliveryError::Outside { file: first.clone(), export: raw.export_arn.clone() })?;
        for f in &raw.data_files {
            match export_of(f) {
                Some((e, p)) if e == export && p == period => {}
                Some((e, p)) if e == export => return Err(DeliveryError::Periods(period, p)),
                _ => return Err(DeliveryError::Outside { file: f.clone(), export: export.clone() }),
            }
        }
        Ok(Delivery { execution: raw.execution_id, export, period, files: raw.data_files })
    }

    /// The source identity every file of this delivery's export and period
    /// starts with (`crate::cur::source::source_identity`).
    pub fn source_prefix(&self) -> String {
        format!("{}/data/BILLING_PERIOD={}/", self.export, self.period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../../../tests/fixtures/data_exports_manifest.json");

    #[test]
    fn the_documented_manifest_reads() {
        let d = Delivery::parse(REAL).unwrap();
        assert_eq!(d.execution, "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9");
        assert_eq!((d.export.as_str(), d.period.to_string().as_str()), ("finops-cur2", "2026-10"));
        assert_eq!(d.files.len(), 2);
        assert_eq!(d.source_prefix(), "finops-cur2/data/BILLING_PERIOD=2026-10/");
        assert!(is_manifest_key("cur2/finops-cur2/metadata/BILLING_PERIOD=2026-10/finops-cur2-Manifest.json"));
        assert!(!is_manifest_key("cur2/finops-cur2/data/BILLING_PERIOD=2026-10/finops-cur2-00001.snappy.parquet"));
    }

    #[test]
    fn bad_manifests_are_named() {
        assert!(matches!(Delivery::parse("{"), Err(DeliveryError::Shape(_))));
        assert!(matches!(Delivery::parse(r#"{"executionId":"e","dataFiles":[]}"#), Err(DeliveryError::Empty { field: "dataFiles" })));
        assert!(matches!(Delivery::parse(r#"{"executionId":" ","dataFiles":["s3://b/x/e/data/BILLING_PERIOD=2026-10/a.parquet"]}"#), Err(DeliveryError::Empty { field: "executionId" })));
        assert!(matches!(Delivery::parse(r#"{"executionId":"e","dataFiles":["s3://b/loose.parquet"]}"#), Err(DeliveryError::Outside { .. })));
        let two = r#"{"executionId":"e","dataFiles":["s3://b/x/e/data/BILLING_PERIOD=2026-10/a.parquet","s3://b/x/e/data/BILLING_PERIOD=2026-11/a.parquet"]}"#;
        assert!(matches!(Delivery::parse(two), Err(DeliveryError::Periods(..))));
    }
}
