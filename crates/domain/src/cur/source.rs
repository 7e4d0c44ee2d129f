//! What a CUR source object is called in the ledger: its identity decides
//! which earlier facts a delivery replaces, so the same file must get the same
//! identity however it reached us, and two different files must not share one.

/// A CUR object's source identity from where it was found (`/`-separated: an
/// S3 key, or a local path).
///
/// - Data Exports lays a delivery out as
///   `…/<export>/data/BILLING_PERIOD=YYYY-MM/<file>`: the identity is that
///   tail, `<export>/data/BILLING_PERIOD=…/<file>`, so a file ingested from S3
///   and the same file downloaded and ingested locally (from any folder) are
///   one source, and a re-delivery replaces it;
/// - otherwise, with a `BILLING_PERIOD=` folder: `BILLING_PERIOD=…/<file>`;
/// - otherwise `fallback` (`s3://bucket/key` for S3; a local file's name, never
///   a machine's absolute path).
pub fn source_identity(path: &str, fallback: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some(bp) = parts.iter().rposition(|p| p.starts_with("BILLING_PERIOD=")) else { return fallback.to_owned() };
    if bp + 1 >= parts.len() {
        return fallback.to_owned();
    }
    let start = if bp >= 2 && parts[bp - 1] == "data" { bp - 2 } else { bp };
    parts[start..].join("/")
}

/// The key of an `s3://bucket/key` location (a manifest's `dataFiles`), or
/// the location itself when it is not one.
pub fn s3_key(location: &str) -> &str {
    location.strip_prefix("s3://").and_then(|r| r.split_once('/')).map_or(location, |(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_exports_file_is_known_by_its_export_key_wherever_it_is() {
        let s3 = source_identity("cur/prefix/ai-costs/data/BILLING_PERIOD=2026-03/ai-costs-00001.snappy.parquet", "s3://b/…");
        let local = source_identity("/home/me/Downloads/ai-costs/data/BILLING_PERIOD=2026-03/ai-costs-00001.snappy.parquet", "x");
        let elsewhere = source_identity("/tmp/copy/ai-costs/data/BILLING_PERIOD=2026-03/ai-costs-00001.snappy.parquet", "y");
        assert_eq!(s3, "ai-costs/data/BILLING_PERIOD=2026-03/ai-costs-00001.snappy.parquet");
        assert_eq!(local, s3);
        assert_eq!(elsewhere, s3);
        // Another export's part of the same name is another source.
        assert_ne!(source_identity("p/other/data/BILLING_PERIOD=2026-03/ai-costs-00001.snappy.parquet", "z"), s3);
    }

    #[test]
    fn other_layouts_keep_the_period_folder_or_fall_back() {
        assert_eq!(source_identity("/x/BILLING_PERIOD=2026-03/cur.parquet", "f"), "BILLING_PERIOD=2026-03/cur.parquet");
        assert_eq!(source_identity("/x/y/cur.parquet", "cur.parquet"), "cur.parquet");
        assert_eq!(source_identity("/x/BILLING_PERIOD=2026-03", "f"), "f");
    }
}
