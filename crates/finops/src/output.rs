//! Rendering results as an aligned table for people, JSON for scripts, or
//! CSV for spreadsheets and BI tools.

use domain::Money;
use rust_decimal::Decimal;

use crate::cli::Format;
use crate::doctor::Report;

/// One cell of a report: what a table shows people (money to the cent,
/// grouped, with its sign and symbol) and what CSV carries (the exact
/// decimal string, no symbol, no grouping).
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Money(Money),
    /// A number kept exact (tokens, a rate), shown as it is.
    Number(Decimal),
    Count(u64),
    /// A percentage; `None` is "-" in a table and empty in CSV.
    Pct(Option<Decimal>),
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}

impl From<Money> for Cell {
    fn from(m: Money) -> Self {
        Cell::Money(m)
    }
}

impl Cell {
    fn for_people(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Money(m) => m.to_string(),
            Cell::Number(d) => d.to_string(),
            Cell::Count(n) => n.to_string(),
            Cell::Pct(p) => p.map_or_else(|| "-".into(), |p| format!("{p}%")),
        }
    }

    fn exact(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Money(m) => m.to_canonical_string(),
            Cell::Number(d) => d.normalize().to_string(),
            Cell::Count(n) => n.to_string(),
            Cell::Pct(p) => p.map(|p| p.normalize().to_string()).unwrap_or_default(),
        }
    }
}

/// A report's main table, built once and rendered for people or as CSV.
pub struct Grid<const N: usize> {
    pub header: [&'static str; N],
    pub rows: Vec<[Cell; N]>,
}

impl<const N: usize> Grid<N> {
    pub fn table(&self) -> String {
        let rows: Vec<[String; N]> = self.rows.iter().map(|r| r.each_ref().map(Cell::for_people)).collect();
        table(&self.header, &rows)
    }

    /// RFC 4180 (the csv crate: CRLF-free `\n` records, fields quoted when
    /// they hold a comma, quote or line break); header names in snake case.
    pub fn csv(&self) -> String {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let header = self.header.map(|h| h.to_lowercase().replace([' ', '-'], "_").replace('%', "pct"));
        let mut ok = w.write_record(header).is_ok();
        for r in &self.rows {
            ok &= w.write_record(r.each_ref().map(Cell::exact)).is_ok();
        }
        // Writing to memory cannot fail; an error here would be a bug in csv.
        let bytes = w.into_inner().unwrap_or_default();
        debug_assert!(ok);
        String::from_utf8(bytes).unwrap_or_default()
    }
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json | Format::Csv => {
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
    fn csv_carries_exact_amounts_and_quotes_by_rfc_4180() {
        let g = Grid {
            header: ["KEY", "COST", "VAR %"],
            rows: vec![
                [Cell::from("a,b \"c\""), Cell::Money(Money::parse("1234.505").unwrap()), Cell::Pct(Some(Decimal::new(125, 1)))],
                [Cell::from("x"), Cell::Money(Money::parse("-21.4").unwrap()), Cell::Pct(None)],
            ],
        };
        assert_eq!(g.csv(), "key,cost,var_pct\n\"a,b \"\"c\"\"\",1234.505,12.5\nx,-21.4,\n");
        let text = g.csv();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][0], "a,b \"c\"");
        assert!(g.table().contains("$1,234.51") && g.table().contains("-$21.40"));
    }

    #[test]
    fn amounts_are_right_aligned_so_their_digits_line_up() {
        let t = table(&["WORKLOAD", "SPEND", "NOTE"], &[["chat".into(), "$586,423.31".into(), "ok".into()], ["search".into(), "-$21.40".into(), "credit".into()]]);
        assert_eq!(t, "WORKLOAD        SPEND  NOTE\nchat      $586,423.31  ok\nsearch        -$21.40  credit\n");
        assert!(is_amount("$1,234.50") && is_amount("-$21.40") && is_amount("12") && is_amount("3.5%"));
        assert!(!is_amount("") && !is_amount("$") && !is_amount("chat") && !is_amount("2026-03-01"));
    }
}
