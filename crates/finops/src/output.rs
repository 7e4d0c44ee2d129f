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

/// Columns two spaces apart, no borders (it reads well in a terminal and
/// pastes into a ticket); a column whose every cell is an amount or a number
/// is right-aligned so its digits line up. comfy-table lays it out.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(header.iter().copied());
    for r in rows {
        t.add_row(r.iter().map(String::as_str));
    }
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i + 1 == N { 0 } else { 2 }));
        if !rows.is_empty() && rows.iter().all(|r| is_amount(&r[i])) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.lines().map(|l| l.trim_end().to_owned() + "\n").collect()
}

/// `$1,234.50`, `-$21.40`, `12`, `3.5%`: what a right-aligned column holds.
fn is_amount(cell: &str) -> bool {
    let c = cell.trim_start_matches('-').trim_start_matches('$').trim_end_matches('%');
    !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit() || ch == ',' || ch == '.') && c.chars().any(|ch| ch.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[["long-cell".into(), "x".into()], ["y".into(), "z".into()]]);
        assert_eq!(t, "A          BB\nlong-cell  x\ny          z\n");
    }

    #[test]
    fn amounts_are_right_aligned_so_their_digits_line_up() {
        let t = table(&["WORKLOAD", "SPEND", "NOTE"], &[["chat".into(), "$586,423.31".into(), "ok".into()], ["search".into(), "-$21.40".into(), "credit".into()]]);
        assert_eq!(t, "WORKLOAD        SPEND  NOTE\nchat      $586,423.31  ok\nsearch        -$21.40  credit\n");
        assert!(is_amount("$1,234.50") && is_amount("-$21.40") && is_amount("12") && is_amount("3.5%"));
        assert!(!is_amount("") && !is_amount("$") && !is_amount("chat") && !is_amount("2026-03-01"));
    }
}
