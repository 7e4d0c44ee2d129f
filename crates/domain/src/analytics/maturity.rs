//! Governance maturity (PRODUCT.md "Governance maturity"): four dimensions
//! scored 0–100, blended 40/25/20/15 into an overall score and a tier. Each
//! dimension states its figures, its next move and what closing its gap is
//! worth in dollars, so the score is a to-do list, not a grade.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::ids::{RequestId, WorkloadId};
use crate::money::Money;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tier {
    #[serde(rename = "Not Started")]
    NotStarted,
    Crawl,
    Walk,
    Run,
}

/// < 40 Not Started, 40–59 Crawl, 60–89 Walk, 90+ Run.
pub fn tier(score: Decimal) -> Tier {
    if score >= Decimal::from(90) {
        Tier::Run
    } else if score >= Decimal::from(60) {
        Tier::Walk
    } else if score >= Decimal::from(40) {
        Tier::Crawl
    } else {
        Tier::NotStarted
    }
}

/// One model with spend in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelUse {
    pub model: String,
    pub spend: Money,
    /// An approval scope exists for it.
    pub approved: bool,
    /// No usage outside its scopes.
    pub in_scope: bool,
    /// No open gap names it.
    pub gap_free: bool,
}

impl ModelUse {
    fn governed(&self) -> bool {
        self.approved && self.in_scope && self.gap_free
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedWorkload {
    pub workload: WorkloadId,
    pub has_estimate: bool,
    /// Attributed spend in the period.
    pub spend: Money,
}

/// A request's journey from approval to live (every task implemented).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    pub request: RequestId,
    /// When the last task was due (its SLA).
    pub due: DateTime<Utc>,
    /// When the last task was implemented; `None` while in flight.
    pub live_at: Option<DateTime<Utc>>,
    /// Declared opportunity per month (annual ÷ 12): what a late journey delays.
    pub monthly_value: Money,
}

pub struct MaturityInput {
    /// AI usage spend: attributed + unattributed (adjustments excluded).
    pub ai_spend: Money,
    pub attributed: Money,
    pub open_gaps: usize,
    pub models: Vec<ModelUse>,
    pub workloads: Vec<ClaimedWorkload>,
    pub journeys: Vec<Journey>,
    pub now: DateTime<Utc>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    /// Weight in the overall score, in percent (before renormalising over the
    /// measured dimensions).
    pub weight_pct: u32,
    /// 0–100; `None` when there is nothing to measure yet (no claimed
    /// workload, no journey, no AI spend): such a dimension is left out of
    /// the overall score instead of counting as 0.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub score: Option<Decimal>,
    pub figures: String,
    pub next_move: String,
    /// What closing this dimension's gap is worth.
    pub worth: Money,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maturity {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub overall: Decimal,
    pub tier: Tier,
    pub dimensions: Vec<Dimension>,
    /// Says which dimensions were not measured and that the overall score is
    /// weighted over the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `part ÷ whole × 100` to one place; `None` when there is nothing to measure.
fn score(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (!whole.is_zero()).then(|| round1(part * Decimal::ONE_HUNDRED / whole))
}

fn round1(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
}

/// `$3.65`, `$950`, `$4.8K`, `$480K`, `$1.2M`: figures read at a glance.
pub fn compact_usd(m: Money) -> String {
    let a = m.amount();
    let sign = if a.is_sign_negative() && !a.is_zero() { "-" } else { "" };
    let a = a.abs();
    let r = |d: Decimal, dp: u32| d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero).normalize();
    let (k, mm) = (Decimal::from(1000), Decimal::from(1_000_000));
    if a >= mm {
        format!("{sign}${}M", r(a / mm, 1))
    } else if a >= Decimal::from(10_000) {
        format!("{sign}${}K", r(a / k, 0))
    } else if a >= k {
        format!("{sign}${}K", r(a / k, 1))
    } else if a >= Decimal::from(100) {
        format!("{sign}${}", r(a, 0))
    } else {
        format!("{sign}${:.2}", a.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
    }
}

pub fn assess(input: &MaturityInput) -> Maturity {
    let unattributed = input.ai_spend - input.attributed;
    let attribution = Dimension {
        name: "Workload Attribution".into(),
        weight_pct: 40,
        score: score(input.attributed.amount(), input.ai_spend.amount()),
        figures: format!("{} attributed, {} unattributed, {} open gaps", compact_usd(input.attributed), compact_usd(unattributed), input.open_gaps),
        next_move: if unattributed.amount() > Decimal::ZERO {
            "Work the open allocation gaps, largest spend first: claim finops- roles, give broad-role users dedicated roles, enable IAM principal data".into()
        } else if input.ai_spend.is_zero() {
            "Ingest a month of CUR 2.0 with IAM principal data".into()
        } else {
            "Keep claims current as workloads change".into()
        },
        worth: unattributed,
    };

    let active = input.models.len();
    let governed = input.models.iter().filter(|m| m.governed()).count();
    let ungoverned: Vec<&ModelUse> = input.models.iter().filter(|m| !m.governed()).collect();
    let model_governance = Dimension {
        name: "Model Governance".into(),
        weight_pct: 25,
        score: score(Decimal::from(governed), Decimal::from(active)),
        figures: format!("{governed} of {active} active models approved, in scope and gap-free"),
        next_move: if ungoverned.is_empty() {
            "Review approval scopes when usage moves to new accounts or regions".into()
        } else {
            format!(
                "Approve, scope or block {}",
                ungoverned.iter().map(|m| m.model.as_str()).take(3).collect::<Vec<_>>().join(", ") + if ungoverned.len() > 3 { ", …" } else { "" }
            )
        },
        worth: ungoverned.iter().map(|m| m.spend).sum(),
    };

    let claimed = input.workloads.len();
    let estimated = input.workloads.iter().filter(|w| w.has_estimate).count();
    let missing: Vec<&ClaimedWorkload> = input.workloads.iter().filter(|w| !w.has_estimate).collect();
    let estimate_coverage = Dimension {
        name: "Estimate Coverage".into(),
        weight_pct: 20,
        score: score(Decimal::from(estimated), Decimal::from(claimed)),
        figures: format!("{estimated} of {claimed} claimed workloads have an estimate"),
        next_move: if missing.is_empty() {
            "Re-confirm estimates when a card is flagged critical".into()
        } else {
            format!("Ask the owners of {} for a monthly estimate", missing.iter().map(|w| w.workload.as_str()).take(3).collect::<Vec<_>>().join(", "))
        },
        worth: missing.iter().map(|w| w.spend).sum(),
    };

    let mut on_time = 0usize;
    let mut late_done = 0usize;
    let mut overdue = 0usize;
    let mut delayed = Money::ZERO;
    for j in &input.journeys {
        match j.live_at {
            Some(t) if t <= j.due => on_time += 1,
            Some(_) => {
                late_done += 1;
                delayed = delayed.saturating_add(j.monthly_value);
            }
            None if input.now > j.due => {
                overdue += 1;
                delayed = delayed.saturating_add(j.monthly_value);
            }
            None => {}
        }
    }
    let measured = on_time + late_done + overdue;
    let process = Dimension {
        name: "Process Efficiency".into(),
        weight_pct: 15,
        score: score(Decimal::from(on_time), Decimal::from(measured)),
        figures: format!("{on_time} of {measured} request-to-live journeys within SLA ({overdue} overdue in flight)"),
        next_move: if overdue > 0 {
            format!("Unblock the {overdue} overdue journeys: their Cloud Engineer tasks are past their SLA")
        } else if late_done > 0 {
            "Use Priority (2-day SLA) for urgent requests and keep task queues short".into()
        } else {
            "Keep journeys inside their SLA".into()
        },
        worth: delayed,
    };

    let dims = [attribution, model_governance, estimate_coverage, process];
    // Weighted over the measured dimensions only, their weights renormalised:
    // "0 of 0 journeys" is not a failing grade.
    let weight: Decimal = dims.iter().filter(|d| d.score.is_some()).map(|d| Decimal::from(d.weight_pct)).sum();
    let weighted: Decimal = dims.iter().filter_map(|d| d.score.map(|s| s * Decimal::from(d.weight_pct))).sum();
    let overall = if weight.is_zero() { Decimal::ZERO } else { round1(weighted / weight) };
    let unmeasured: Vec<&str> = dims.iter().filter(|d| d.score.is_none()).map(|d| d.name.as_str()).collect();
    let note = (!unmeasured.is_empty()).then(|| {
        format!("{} not measured (nothing to measure yet); the overall score is weighted over the other dimensions, their weights renormalised", unmeasured.join(", "))
    });
    Maturity { overall, tier: tier(overall), dimensions: dims.into(), note }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
    }

    fn model(name: &str, spend: &str, approved: bool, in_scope: bool, gap_free: bool) -> ModelUse {
        ModelUse { model: name.into(), spend: m(spend), approved, in_scope, gap_free }
    }

    fn wl(id: &str, est: bool, spend: &str) -> ClaimedWorkload {
        ClaimedWorkload { workload: WorkloadId::parse(id).unwrap(), has_estimate: est, spend: m(spend) }
    }

    fn journey(n: u32, due: u32, live: Option<u32>, value: &str) -> Journey {
        Journey { request: RequestId::parse(&format!("br-{n}")).unwrap(), due: t(due), live_at: live.map(t), monthly_value: m(value) }
    }

    /// The fixture, computed by hand:
    /// - attribution: 480 000 of 1 100 000 → 43.636… → 43.6
    /// - model governance: 3 of 5 governed → 60.0
    /// - estimate coverage: 4 of 6 → 66.666… → 66.7
    /// - process: journeys 1, 2 on time; 3 late; 4 overdue in flight; 5 in flight not
    ///   yet due (not counted) → 2 of 4 → 50.0
    /// - overall: 0.40 × 43.6 + 0.25 × 60 + 0.20 × 66.7 + 0.15 × 50 = 17.44 + 15 + 13.34 + 7.5 = 53.28 → 53.3, Crawl
    fn fixture() -> MaturityInput {
        MaturityInput {
            ai_spend: m("1100000"),
            attributed: m("480000"),
            open_gaps: 14,
            models: vec![
                model("a", "100", true, true, true),
                model("b", "200", true, true, true),
                model("c", "300", true, true, true),
                model("d", "4000", true, false, true),
                model("e", "50000", false, true, false),
            ],
            workloads: vec![wl("w1", true, "1"), wl("w2", true, "1"), wl("w3", true, "1"), wl("w4", true, "1"), wl("w5", false, "700"), wl("w6", false, "20")],
            journeys: vec![
                journey(1, 10, Some(9), "1000"),
                journey(2, 10, Some(10), "1000"),
                journey(3, 10, Some(12), "2500"),
                journey(4, 15, None, "500"),
                journey(5, 25, None, "9999"),
            ],
            now: t(20),
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_fixture_scores_as_computed_by_hand() {
        let r = assess(&fixture());
        let scores: Vec<_> = r.dimensions.iter().map(|x| (x.name.as_str(), x.weight_pct, x.score)).collect();
        assert_eq!(
            scores,
            [
                ("Workload Attribution", 40, Some(d("43.6"))),
                ("Model Governance", 25, Some(d("60.0"))),
                ("Estimate Coverage", 20, Some(d("66.7"))),
                ("Process Efficiency", 15, Some(d("50.0"))),
            ]
        );
        assert_eq!(r.overall, d("53.3"));
        assert_eq!(r.tier, Tier::Crawl);
        assert_eq!(r.note, None);
        assert_eq!(r.dimensions[0].figures, "$480K attributed, $620K unattributed, 14 open gaps");
        let worth: Vec<_> = r.dimensions.iter().map(|x| x.worth).collect();
        assert_eq!(worth, [m("620000"), m("54000"), m("720"), m("3000")]);
        assert_eq!(r.dimensions[1].figures, "3 of 5 active models approved, in scope and gap-free");
        assert_eq!(r.dimensions[1].next_move, "Approve, scope or block d, e");
        assert_eq!(r.dimensions[3].figures, "2 of 4 request-to-live journeys within SLA (1 overdue in flight)");
    }

    #[test]
    fn tiers_change_at_40_60_and_90() {
        let cases = [("0", Tier::NotStarted), ("39.9", Tier::NotStarted), ("40", Tier::Crawl), ("59.9", Tier::Crawl), ("60", Tier::Walk), ("89.9", Tier::Walk), ("90", Tier::Run), ("100", Tier::Run)];
        for (s, want) in cases {
            assert_eq!(tier(d(s)), want, "{s}");
        }
    }

    #[test]
    fn a_fully_governed_estate_runs_and_an_empty_one_has_not_started() {
        let mut f = fixture();
        f.attributed = f.ai_spend;
        f.models.iter_mut().for_each(|x| (x.approved, x.in_scope, x.gap_free) = (true, true, true));
        f.workloads.iter_mut().for_each(|w| w.has_estimate = true);
        f.journeys.retain(|j| j.live_at.is_some_and(|l| l <= j.due));
        let r = assess(&f);
        assert_eq!((r.overall, r.tier), (d("100"), Tier::Run));
        assert!(r.dimensions.iter().all(|x| x.worth.is_zero()));
        let empty = MaturityInput { ai_spend: Money::ZERO, attributed: Money::ZERO, open_gaps: 0, models: vec![], workloads: vec![], journeys: vec![], now: t(1) };
        let r = assess(&empty);
        assert_eq!((r.overall, r.tier), (d("0"), Tier::NotStarted));
        assert!(r.dimensions.iter().all(|x| x.score.is_none()));
        assert_eq!(r.dimensions[0].next_move, "Ingest a month of CUR 2.0 with IAM principal data");
    }

    /// Issue 12 item 14: a dimension with nothing to measure ("0 of 0
    /// journeys") is not measured, left out of the overall score with the
    /// other weights renormalised, and the report says so.
    #[test]
    fn a_dimension_with_nothing_to_measure_is_left_out_not_scored_zero() {
        let mut f = fixture();
        f.journeys.clear();
        let r = assess(&f);
        assert_eq!(r.dimensions[3].score, None);
        assert_eq!(r.dimensions[3].figures, "0 of 0 request-to-live journeys within SLA (0 overdue in flight)");
        // (0.40 × 43.6 + 0.25 × 60 + 0.20 × 66.7) ÷ 0.85 = 45.78 ÷ 0.85 = 53.858… → 53.9, not 45.8.
        assert_eq!(r.overall, d("53.9"));
        assert!(r.note.as_deref().is_some_and(|n| n.contains("Process Efficiency not measured") && n.contains("renormalised")), "{:?}", r.note);
    }

    #[test]
    fn compact_dollars() {
        let cases = [("3.654", "$3.65"), ("950", "$950"), ("4820", "$4.8K"), ("480000", "$480K"), ("1240000", "$1.2M"), ("-620000", "-$620K"), ("0", "$0.00")];
        for (i, want) in cases {
            assert_eq!(compact_usd(m(i)), want, "{i}");
        }
    }
}
