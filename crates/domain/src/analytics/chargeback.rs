//! The chargeback export for Finance: a month's AI spend per workload and per
//! hierarchy node, built only from what the governed review settled. A week
//! belongs to the month its Sunday falls in (the day its cards are built
//! for), so every week is charged exactly once. Each workload's line is the
//! sum of its settled cards' chargeback (the week's attributed usage plus
//! the late data carried onto it), names those cards, and names the
//! Portfolio Owner's approved rollups that cover them; each node's line is
//! the sum of the workloads under it. Anything still open (a card not
//! accepted or resolved, a portfolio week with no approved rollup) refuses
//! the export, listing every such item, so Finance never charges back a
//! figure the owners have not agreed.

use std::collections::BTreeMap;

use super::cards::{Rollup, SpendCard};
use crate::cur::bases::CostBasis;
use crate::exports::{ColumnType, Table, Value};
use crate::hierarchy::Hierarchy;
use crate::ids::NodeId;
use crate::money::Money;
use crate::period::{BillingPeriod, IsoWeek};

pub const COLUMNS: [(&str, ColumnType); 10] = [
    ("Period", ColumnType::Text),
    ("Level", ColumnType::Text),
    ("Node", ColumnType::Text),
    ("Name", ColumnType::Text),
    ("Path", ColumnType::Text),
    ("CostBasis", ColumnType::Text),
    ("Chargeback", ColumnType::Decimal),
    ("Cards", ColumnType::Text),
    ("Rollups", ColumnType::Text),
    ("Weeks", ColumnType::Text),
];

/// The weeks charged in `period`: those whose Sunday falls in it.
pub fn weeks_of(period: BillingPeriod) -> Vec<IsoWeek> {
    let mut week = IsoWeek::of(period.first_day());
    if !period.contains(week.sunday()) {
        week = week.next();
    }
    let mut out = Vec::new();
    while period.contains(week.sunday()) {
        out.push(week);
        week = week.next();
    }
    out
}

/// Builds the export from the weeks' cards and their portfolios' rollups, or
/// lists everything still open.
pub fn chargeback_table(period: BillingPeriod, cards: &[SpendCard], rollups: &[Rollup], hierarchy: &Hierarchy) -> Result<Table, Vec<String>> {
    let mut open = Vec::new();
    for c in cards.iter().filter(|c| !c.is_settled()) {
        open.push(format!("card {} is {}", c.id, c.status.as_str()));
    }
    let approved: BTreeMap<(IsoWeek, &NodeId), &Rollup> = rollups.iter().map(|r| ((r.week, &r.portfolio), r)).collect();
    let mut needed: BTreeMap<(IsoWeek, &NodeId), ()> = BTreeMap::new();
    for c in cards {
        needed.insert((c.week, &c.portfolio), ());
    }
    for (week, portfolio) in needed.keys() {
        if !approved.contains_key(&(*week, *portfolio)) {
            open.push(format!("rollup {week}.{portfolio} is not approved"));
        }
    }
    if !open.is_empty() {
        return Err(open);
    }
    struct Line {
        cost: Money,
        cards: Vec<String>,
        rollups: Vec<String>,
        weeks: Vec<String>,
    }
    let mut lines: BTreeMap<NodeId, Line> = BTreeMap::new();
    let mut add = |node: NodeId, c: &SpendCard| {
        let l = lines.entry(node).or_insert_with(|| Line { cost: Money::ZERO, cards: Vec::new(), rollups: Vec::new(), weeks: Vec::new() });
        l.cost += c.chargeback;
        l.cards.push(c.id.clone());
        let rollup = format!("{}.{}", c.week, c.portfolio);
        if !l.rollups.contains(&rollup) {
            l.rollups.push(rollup);
        }
        let week = c.week.to_string();
        if !l.weeks.contains(&week) {
            l.weeks.push(week);
        }
    };
    for c in cards {
        let node = NodeId::from(&c.workload);
        let mut chain: Vec<NodeId> = hierarchy.ancestors(&node).map(|n| n.id.clone()).collect();
        if chain.is_empty() {
            chain.push(node);
        }
        for n in chain {
            add(n, c);
        }
    }
    let mut rows: Vec<(Vec<NodeId>, Vec<Value>)> = Vec::new();
    for (node, l) in lines {
        let mut path: Vec<NodeId> = hierarchy.ancestors(&node).map(|n| n.id.clone()).collect();
        path.reverse();
        let n = hierarchy.node(&node);
        let text = |s: String| Value::Text(Some(s));
        let row = vec![
            text(period.to_string()),
            text(n.map_or_else(|| "E4".to_owned(), |n| format!("E{}", n.level.number()))),
            text(node.to_string()),
            text(n.map_or_else(|| node.to_string(), |n| n.name.clone())),
            text(path.iter().map(NodeId::as_str).collect::<Vec<_>>().join("/")),
            text(CostBasis::Unblended.to_string()),
            Value::Decimal(Some(l.cost.amount())),
            text(l.cards.join(" ")),
            text(l.rollups.iter().map(|r| approved_text(r, &approved)).collect::<Vec<_>>().join(" ")),
            text(l.weeks.join(" ")),
        ];
        rows.push((if path.is_empty() { vec![node] } else { path }, row));
    }
    // Parents before children, siblings by id: the tree read top-down.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Table { columns: COLUMNS.to_vec(), rows: rows.into_iter().map(|(_, r)| r).collect() })
}

/// `2026-W10.ai-assistants@po-lead` (who approved it), as the line cites it.
fn approved_text(key: &str, approved: &BTreeMap<(IsoWeek, &NodeId), &Rollup>) -> String {
    approved.values().find(|r| format!("{}.{}", r.week, r.portfolio) == key).map_or_else(|| key.to_owned(), |r| format!("{key}@{}", r.approved_by))
}
