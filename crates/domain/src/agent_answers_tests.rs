use super::*;
use crate::analytics::cards::Thresholds;
use crate::arn::RolePattern;
use crate::cur::attribution::ClaimBook;
use crate::cur::facts::{report, CurRow};
use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
use crate::ids::UserId;
use crate::period::IsoWeek;
use crate::AccountId;

const ACCT: &str = "111122223333";
const PROFILE: &str = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123def456";

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
}

fn w(id: &str) -> WorkloadId {
    WorkloadId::parse(id).unwrap()
}

fn money(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn attributor() -> Attributor {
    let claim = |kind, arn: &str, wl: &str| Claim {
        target: ClaimTarget::parse(kind, arn).unwrap(),
        workload: w(wl),
        claimed_at: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        claimed_by: UserId::parse("po").unwrap(),
        released_at: None,
        released_by: None,
    };
    Attributor {
        claims: ClaimBook::new([
            claim(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/chat", "chat"),
            claim(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/search", "search"),
            claim(ClaimKind::InferenceProfile, PROFILE, "chat"),
        ]),
        broad_roles: RolePattern::defaults(),
    }
}

/// A Bedrock row: `who` is a role name (an assumed-role session of it) or
/// "" for no principal; `profile` routes it through the claimed profile.
fn row(day: u32, who: &str, usage_type: &str, tokens: i64, cost: &str, line_type: &str, profile: bool) -> CurRow {
    CurRow {
        usage_day: d(day),
        account: AccountId::parse(ACCT).unwrap(),
        product_code: "AmazonBedrock".into(),
        billing_entity: "AWS".into(),
        product_name: String::new(),
        usage_type: usage_type.into(),
        operation: "InvokeModel".into(),
        line_item_type: line_type.into(),
        resource_id: profile.then(|| PROFILE.to_owned()),
        principal: Some(if who.is_empty() { String::new() } else { format!("arn:aws:sts::{ACCT}:assumed-role/{who}/dev") }),
        workspace: None,
        usage_amount: Decimal::from(tokens),
        cost: cost.parse().unwrap(),
    }
}

const IN: &str = "USE1-Claude3Haiku-input-tokens";
const OUT: &str = "USE1-Claude3Haiku-output-tokens";
const READ: &str = "USE1-Claude3Haiku-cache-read-input-token-count";

fn facts() -> Facts {
    let mut f = Facts::default();
    for r in [
        row(2, "chat", IN, 4_000_000, "1000.00", "Usage", false),
        row(9, "chat", OUT, 100_000, "125.00", "Usage", false),
        row(9, "chat", READ, 1_000_000, "25.00", "Usage", true),
        row(10, "search", IN, 2_000_000, "500.00", "Usage", false),
        row(20, "search", OUT, 40_000, "50.00", "Usage", false),
        row(12, "stranger", IN, 400_000, "100.00", "Usage", false),
        row(12, "", IN, 40_000, "10.00", "Usage", false),
        row(15, "chat", IN, 0, "-7.50", "Credit", false),
    ] {
        f.add(r);
    }
    // February, for growth.
    let mut feb = row(2, "search", IN, 400_000, "100.00", "Usage", false);
    feb.usage_day = NaiveDate::from_ymd_opt(2026, 2, 10).unwrap();
    f.add(feb);
    f
}

fn march() -> Span {
    Span::Month(BillingPeriod::parse("2026-03").unwrap())
}

fn cube(span: Span) -> SpendCube {
    SpendCube::build(span, &facts(), &attributor(), &PriceCatalog::bundled().unwrap())
}

fn all() -> BTreeSet<WorkloadId> {
    [w("chat"), w("search")].into_iter().collect()
}

#[test]
fn the_cube_adds_up_to_the_attribution_report_exactly() {
    let c = cube(march());
    let r = report(BillingPeriod::parse("2026-03").unwrap(), &facts(), &attributor());
    assert_eq!(c.total(), r.ai_total);
    assert_eq!(c.by_workload(&|_| true).values().copied().sum::<Money>(), r.attributed);
    let Figures::Unattributed { total, by_reason } = unattributed(&c) else { panic!() };
    assert_eq!(total, r.unattributed);
    assert_eq!(by_reason.len(), 2, "{by_reason:?}");
    assert_eq!(by_reason[0], ReasonLine { reason: Reason::NoBudgetAllocation, cost: money("100") });
    assert_eq!(c.last_day, Some(d(20)));
}

#[test]
fn spend_by_covers_only_the_visible_workloads() {
    let c = cube(march());
    let only_chat: BTreeSet<WorkloadId> = [w("chat")].into_iter().collect();
    let Figures::SpendBy { rows, total, .. } = spend_by(&c, Dimension::TokenType, &Visible { workloads: &only_chat }) else { panic!() };
    // The credit is an adjustment, not chat's usage.
    assert_eq!(total, money("1150"));
    assert_eq!(rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["input", "output", "cache_read"]);
    assert_eq!(rows[0].tokens, Decimal::from(4_000_000));
    let everyone = all();
    let Figures::SpendBy { rows, total, .. } = spend_by(&c, Dimension::Workload, &Visible { workloads: &everyone }) else { panic!() };
    assert_eq!(total, money("1700"));
    assert_eq!(rows[1], SpendRow { key: "search".into(), cost: money("550"), tokens: Decimal::from(2_040_000) });
}

#[test]
fn estimate_status_compares_the_span_share_of_the_monthly_estimate() {
    let t = Thresholds::default();
    let estimates: BTreeMap<WorkloadId, Money> = [(w("chat"), money("1000")), (w("search"), money("3100"))].into_iter().collect();
    let c = cube(march());
    let Figures::EstimateStatus { workloads, actual, estimate, unestimated } = estimate_status(&c, &[w("chat"), w("search")], &estimates, &t) else { panic!() };
    assert_eq!((actual, estimate, unestimated), (money("1700"), money("4100"), Money::ZERO));
    assert_eq!(workloads[0].verdict, EstimateVerdict::Over);
    assert_eq!(workloads[0].variance_pct, Some(Decimal::from(15)));
    assert_eq!(workloads[1].verdict, EstimateVerdict::Under);
    // A week carries 7/31 of March: 700 for search, which spent 500 on the 10th.
    let week = Span::Week(IsoWeek::of(d(10)));
    let Figures::EstimateStatus { workloads, .. } = estimate_status(&cube(week), &[w("search")], &estimates, &t) else { panic!() };
    assert_eq!(workloads[0].estimate, Some(money("700")));
    assert_eq!(workloads[0].actual, money("500"));
    // Spend with no estimate is shown apart, not added to the comparison.
    let only_chat: BTreeMap<WorkloadId, Money> = [(w("chat"), money("1000"))].into_iter().collect();
    let Figures::EstimateStatus { workloads, actual, estimate, unestimated } = estimate_status(&c, &[w("chat"), w("search")], &only_chat, &t) else { panic!() };
    assert_eq!(workloads[1].verdict, EstimateVerdict::NoEstimate);
    assert_eq!((actual, estimate, unestimated), (money("1150"), money("1000"), money("550")));
}

#[test]
fn cache_saving_moves_ten_points_of_input_to_cache_reads_at_catalogue_prices() {
    let c = cube(march());
    let only_chat: BTreeSet<WorkloadId> = [w("chat")].into_iter().collect();
    let Figures::CacheHitRate { models, hit_rate, saving_per_10_points } = cache_hit_rate(&c, &Visible { workloads: &only_chat }, &PriceCatalog::bundled().unwrap()) else { panic!() };
    // 1M cache reads of 5M input-side tokens.
    assert_eq!(hit_rate, Some(Decimal::new(2, 1)));
    // 500k tokens move: 500 × (0.00025 − 0.000025) = 0.1125 → $0.11.
    assert_eq!(saving_per_10_points, money("0.11"));
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].model, "anthropic.claude-3-haiku-20240307-v1:0");
}

#[test]
fn top_workloads_rank_by_spend_or_by_growth_on_the_previous_span() {
    let everyone = all();
    let v = Visible { workloads: &everyone };
    let (now, before) = (cube(march()), cube(march().previous()));
    let Figures::TopWorkloads { rows, .. } = top_workloads(&now, &before, Ranking::Spend, &v) else { panic!() };
    assert_eq!(rows.iter().map(|r| r.workload.as_str()).collect::<Vec<_>>(), ["chat", "search"]);
    let Figures::TopWorkloads { rows, previous_span, .. } = top_workloads(&now, &before, Ranking::Growth, &v) else { panic!() };
    assert_eq!(previous_span, Span::Month(BillingPeriod::parse("2026-02").unwrap()));
    assert_eq!(rows[0].workload, w("chat"));
    assert_eq!(rows[1].growth_pct, Some(Decimal::from(450)));
}

#[test]
fn map_credit_at_risk_is_a_tagged_workloads_spend_outside_its_profiles() {
    let everyone = all();
    let engagements: BTreeMap<WorkloadId, String> = [(w("chat"), "mig12345".to_owned())].into_iter().collect();
    let Figures::MapCreditsAtRisk { rows, at_risk } = map_credits_at_risk(&cube(march()), &engagements, &Visible { workloads: &everyone }) else { panic!() };
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].via_profiles, rows[0].at_risk, at_risk), (money("25"), money("1125"), money("1125")));
    let nobody = BTreeSet::new();
    let Figures::MapCreditsAtRisk { rows, .. } = map_credits_at_risk(&cube(march()), &engagements, &Visible { workloads: &nobody }) else { panic!() };
    assert!(rows.is_empty());
}

#[test]
fn month_to_date_projects_in_a_straight_line_from_the_days_billed() {
    let estimates: BTreeMap<WorkloadId, Money> = [(w("search"), money("1000"))].into_iter().collect();
    let Figures::MonthToDate { through, days_elapsed, spent, projected, estimate, projected_variance_pct, .. } = month_to_date(&cube(march()), &[w("search")], &estimates) else {
        panic!()
    };
    assert_eq!((through, days_elapsed, spent), (Some(d(20)), 20, money("550")));
    // 550 × 31 ÷ 20 = 852.50
    assert_eq!(projected, money("852.50"));
    assert_eq!(estimate, Some(money("1000")));
    assert_eq!(projected_variance_pct, Some(Decimal::new(-1475, 2)));
    let empty = cube(Span::Month(BillingPeriod::parse("2026-04").unwrap()));
    let Figures::MonthToDate { through, projected, .. } = month_to_date(&empty, &[w("search")], &estimates) else { panic!() };
    assert_eq!((through, projected), (None, Money::ZERO));
}

#[test]
fn the_rendering_states_the_numbers_it_answers_with() {
    let c = cube(march());
    let everyone = all();
    let text = render(&spend_by(&c, Dimension::Workload, &Visible { workloads: &everyone }), "2026-03", "the organisation");
    assert!(text.contains("$1,700.00") && text.contains("chat $1,150.00"), "{text}");
    let text = render(&unattributed(&c), "2026-03", "the organisation");
    assert!(text.contains("$110.00") && text.contains("no_budget_allocation"), "{text}");
    let estimates: BTreeMap<WorkloadId, Money> = [(w("chat"), money("1000"))].into_iter().collect();
    let text = render(&estimate_status(&c, &[w("chat")], &estimates, &Thresholds::default()), "2026-03", "workload chat");
    assert!(text.contains("$150.00 over") && text.contains("chat ($1,150.00 against $1,000.00)"), "{text}");
    assert!(text.starts_with("In 2026-03, workload chat"), "{text}");
    let text = render(&spend_by(&cube(Span::Month(BillingPeriod::parse("2026-04").unwrap())), Dimension::Model, &Visible { workloads: &everyone }), "2026-04", "the organisation");
    assert!(text.starts_with("The organisation had no"), "{text}");
}
