//! Rendering results as an aligned table for people or JSON for scripts.

use crate::cli::Format;
use crate::doctor::Report;

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({ "ok": report.ok(), "checks": report.checks });
            format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
        }
        Format::Table => {
            let rows: Vec<[String; 3]> = report
                .checks
                .iter()
                .map(|c| [c.check.clone(), if c.ok { "ok".into() } else { "FAIL".into() }, c.detail.clone()])
                .collect();
            table(&["CHECK", "STATUS", "DETAIL"], &rows)
        }
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[["long-cell".into(), "x".into()], ["y".into(), "z".into()]]);
        assert_eq!(t, "A          BB\nlong-cell  x\ny          z\n");
    }
}
