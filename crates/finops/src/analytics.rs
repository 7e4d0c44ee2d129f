//! `finops report gaps|cards|maturity` and `finops gap action`: the governance
//! analytics of the local mode. With no scheduler locally, `report gaps` runs the
//! detection the nightly schedule runs in AWS, and `report cards` the Monday
//! build; both write only what changed, so running them again is harmless.


use domain::analytics::cards::week_to_build;
use domain::analytics::gaps::GapAction;
use domain::{BillingPeriod, IsoWeek, NodeId, RequestId, UserId, WorkloadId};
use serde::Serialize;
use services::governance::{GapActionInput, Governance};

use crate::config::Config;
use crate::cli::{Format, GapCmd, ReportCmd};
use crate::cur::{operator, CurError};
use crate::local;
use crate::output::{Cell, Grid};

/// The operator at the terminal, seeing the whole hierarchy (every E1 node):
/// the reports here are the organisation's, not one portfolio's.
pub(crate) async fn operator_everywhere(gov: &Governance) -> Result<domain::Actor, CurError> {
    let mut actor = operator();
    actor.scope = gov.hierarchy().await?.nodes().filter(|n| n.parent.is_none()).map(|n| n.id.clone()).collect();
    Ok(actor)
}

fn json<T: Serialize>(v: &T) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

fn input(flag: &str, reason: impl ToString) -> CurError {
    CurError::Input { path: flag.into(), reason: reason.to_string() }
}

/// One line of `finops report gaps --format json`.
#[derive(Debug, Serialize)]
pub struct GapLine {
    pub id: String,
    pub scenario: String,
    pub key: String,
    /// A decimal string.
    pub spend: String,
    pub status: String,
    pub first_seen: String,
    pub last_seen: String,
}

/// The analytics reports, on the service `cur::report` opened.
pub async fn report(gov: &Governance, cmd: &ReportCmd, format: Format) -> Result<String, CurError> {
    match cmd {
        ReportCmd::Gaps { period } => gaps(gov, period, format).await,
        ReportCmd::Cards { week } => cards(gov, week.as_deref(), format).await,
        ReportCmd::Maturity { period } => maturity(gov, period.as_deref(), format).await,
        ReportCmd::Attribution { .. } | ReportCmd::Reconcile { .. } | ReportCmd::Investigations | ReportCmd::Live { .. } | ReportCmd::LiveVsBilled { .. } => Err(input("report", "not an analytics report (crate::cur::report)")),
    }
}

async fn gaps(gov: &Governance, period: &str, format: Format) -> Result<String, CurError> {
    let period = BillingPeriod::parse(period).map_err(|e| input("--period", e))?;
    gov.detect_gaps(period).await?;
    let r = gov.gaps_report(&operator_everywhere(gov).await?, period).await?;
    let lines: Vec<GapLine> = r
        .gaps
        .iter()
        .map(|g| GapLine {
            id: g.id.clone(),
            scenario: g.scenario.as_str().into(),
            key: g.key.clone(),
            spend: g.spend.to_canonical_string(),
            status: g.status.as_str().into(),
            first_seen: g.first_seen.to_string(),
            last_seen: g.last_seen.to_string(),
        })
        .collect();
    let grid = Grid {
        header: ["ID", "SCENARIO", "KEY", "SPEND", "STATUS", "FIRST SEEN", "LAST SEEN"],
        rows: r.gaps.iter().zip(&lines).map(|(g, l)| [l.id.clone().into(), l.scenario.clone().into(), l.key.clone().into(), g.spend.into(), l.status.clone().into(), l.first_seen.clone().into(), l.last_seen.clone().into()]).collect(),
    };
    Ok(match format {
        Format::Json => json(&lines),
        Format::Csv => grid.csv(),
        Format::Table => {
            let mut out = format!(
                "{period}: {} open gaps, {} of open spend (each dollar once); declared value at stake: Cost Saving {} / Revenue Driving {} a year\n",
                r.open,
                r.open_spend.round_cents(),
                r.value_at_stake.cost_saving.round_cents(),
                r.value_at_stake.revenue_driving.round_cents()
            );
            // Per scenario, a dollar in two gaps shows in both.
            for s in &r.by_scenario {
                out.push_str(&format!("  {:<28} {:>4} open  {}\n", s.scenario.as_str(), s.open, s.spend.round_cents()));
            }
            out.push('\n');
            out.push_str(&grid.table());
            out
        }
    })
}

async fn cards(gov: &Governance, week: Option<&str>, format: Format) -> Result<String, CurError> {
    let week = match week {
        Some(w) => IsoWeek::parse(w).map_err(|e| input("--week", e))?,
        None => week_to_build(chrono::Utc::now().date_naive()),
    };
    gov.build_cards(week).await?;
    let cards = gov.cards(&operator_everywhere(gov).await?, week).await?;
    let grid = Grid {
        header: ["CARD", "ACTUAL", "ESTIMATE", "VARIANCE", "VAR %", "FLAG", "CACHE HIT", "LATE DATA", "STATUS"],
        rows: cards
            .iter()
            .map(|c| {
                [
                    c.id.clone().into(),
                    c.actual.into(),
                    c.estimate.into(),
                    c.variance.into(),
                    Cell::Pct(c.variance_pct),
                    serde_json::to_value(c.flag).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default().into(),
                    c.cache_hit_rate.map_or_else(|| Cell::from("-"), Cell::Number),
                    c.adjustments.into(),
                    c.status.as_str().into(),
                ]
            })
            .collect(),
    };
    Ok(match format {
        Format::Json => json(&cards),
        Format::Csv => grid.csv(),
        Format::Table => format!("{week} ({} .. {})\n\n{}", week.monday(), week.sunday(), grid.table()),
    })
}

async fn maturity(gov: &Governance, period: Option<&str>, format: Format) -> Result<String, CurError> {
    let period = match period {
        Some(p) => BillingPeriod::parse(p).map_err(|e| input("--period", e))?,
        None => latest_period(gov).await?.ok_or_else(|| input("--period", "no CUR has been ingested in the last 24 months; ingest a month or name --period"))?,
    };
    let r = gov.maturity(&operator_everywhere(gov).await?, period).await?;
    let m = &r.maturity;
    let grid = Grid {
        header: ["DIMENSION", "WEIGHT", "SCORE", "FIGURES", "WORTH", "NEXT MOVE"],
        rows: m
            .dimensions
            .iter()
            .map(|d| [d.name.clone().into(), Cell::Pct(Some(d.weight_pct.into())), d.score.map_or_else(|| Cell::from("not measured"), Cell::Number), d.figures.clone().into(), d.worth.into(), d.next_move.clone().into()])
            .collect(),
    };
    Ok(match format {
        Format::Json => json(&r),
        Format::Csv => grid.csv(),
        Format::Table => {
            let mut out = format!("{period}: overall {} — {}\n\n", m.overall, serde_json::to_value(m.tier).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default());
            out.push_str(&grid.table());
            if let Some(note) = &m.note {
                out.push_str(&format!("\nNote: {note}\n"));
            }
            out
        }
    })
}

/// The latest month (looking back 24 from now) with ingested CUR.
async fn latest_period(gov: &Governance) -> Result<Option<BillingPeriod>, CurError> {
    let mut p = BillingPeriod::of(chrono::Utc::now().date_naive());
    for _ in 0..24 {
        if !gov.period_sources(p).await?.is_empty() {
            return Ok(Some(p));
        }
        let Some(prev) = p.first_day().pred_opt() else { break };
        p = BillingPeriod::of(prev);
    }
    Ok(None)
}

pub async fn gap(config: &Config, cmd: GapCmd, format: Format) -> Result<String, CurError> {
    let GapCmd::Action { id, action, rationale, owner, portfolio, name, workload, request, suspend } = cmd;
    let action = GapAction::parse(&action).ok_or_else(|| {
        let all: Vec<&str> = GapAction::ALL.iter().map(|a| a.as_str()).collect();
        input("--action", format!("{action:?} is not an action; use one of {}", all.join(", ")))
    })?;
    let parsed = GapActionInput {
        action,
        rationale,
        owner: owner.map(|o| UserId::parse(&o)).transpose().map_err(|e| input("--owner", e))?,
        portfolio: portfolio.map(|p| NodeId::parse(&p)).transpose().map_err(|e| input("--portfolio", e))?,
        name,
        workload: workload.map(|w| WorkloadId::parse(&w)).transpose().map_err(|e| input("--workload", e))?,
        request: request.map(|r| RequestId::parse(&r)).transpose().map_err(|e| input("--request", e))?,
        suspend,
    };
    let gov = local::governance_for(config).await?;
    let out = gov.gap_action(&operator_everywhere(&gov).await?, &id, parsed).await?;
    Ok(match format {
        Format::Json | Format::Csv => json(&out),
        Format::Table => format!("gap {} is {}\n{}\n", out.gap.id, out.gap.status.as_str(), serde_json::to_string_pretty(&out.outcome).unwrap_or_default()),
    })
}
