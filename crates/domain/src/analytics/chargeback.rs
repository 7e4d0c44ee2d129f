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

use std::collections::{BTreeMap, BTreeSet};

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
pub fn chargeback_table<'a>(period: BillingPeriod, cards: &'a [SpendCard], rollups: &[Rollup], hierarchy: &Hierarchy) -> Result<Table, Vec<String>> {
    let mut open = Vec::new();
    for c in cards.iter().filter(|c| !c.is_settled()) {
        open.push(format!("card {} is {}", c.id, c.status.as_str()));
    }
    let approved: BTreeMap<(IsoWeek, &NodeId), &Rollup> = rollups.iter().map(|r| ((r.week, &r.portfolio), r)).collect();
    let needed: BTreeSet<(IsoWeek, &NodeId)> = cards.iter().map(|c| (c.week, &c.portfolio)).collect();
    for (week, portfolio) in &needed {
        if !approved.contains_key(&(*week, *portfolio)) {
            open.push(format!("rollup {week}.{portfolio} is not approved"));
        }
    }
    if !open.is_empty() {
        return Err(open);
    }
    #[derive(Default)]
    struct Line<'a> {
        cost: Money,
        cards: Vec<&'a str>,
        rollups: BTreeSet<(IsoWeek, &'a NodeId)>,
    }
    let mut lines: BTreeMap<NodeId, Line> = BTreeMap::new();
    let mut add = |node: NodeId, c: &'a SpendCard| {
        let l = lines.entry(node).or_default();
        l.cost += c.chargeback;
        l.cards.push(&c.id);
        l.rollups.insert((c.week, &c.portfolio));
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
            // `2026-W10.ai-assistants@po-lead`: the rollup and who approved it.
            text(
                l.rollups
                    .iter()
                    .map(|(w, p)| format!("{w}.{p}{}", approved.get(&(*w, *p)).map_or_else(String::new, |r| format!("@{}", r.approved_by))))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            text(l.rollups.iter().map(|(w, _)| w.to_string()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(" ")),
        ];
        rows.push((if path.is_empty() { vec![node] } else { path }, row));
    }
    // Parents before children, siblings by id: the tree read top-down.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Table { columns: COLUMNS.to_vec(), rows: rows.into_iter().map(|(_, r)| r).collect() })
}
