use chrono::TimeZone;

use super::*;
use crate::actor::Persona;
use crate::arn::RolePattern;
use crate::cur::attribution::ClaimBook;
use crate::cur::facts::CurRow;
use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
use crate::ids::AccountId;

fn m(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn week(s: &str) -> IsoWeek {
    IsoWeek::parse(s).unwrap()
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 6, 6, 0, 0).unwrap()
}

fn po() -> Actor {
    Actor::new(UserId::parse("pat").unwrap(), Persona::ProductOwner, vec![])
}

fn fl() -> Actor {
    Actor::new(UserId::parse("fiona").unwrap(), Persona::FinOpsLead, vec![])
}

#[test]
fn proration_takes_each_day_from_its_own_month_across_a_month_boundary() {
    // 2026-W14 is Mon 30 March .. Sun 5 April: 2 days of March (31 days), 5 of April (30).
    let w = week("2026-W14");
    assert_eq!((w.monday(), w.sunday()), (d("2026-03-30"), d("2026-04-05")));
    // 3100 × 2/31 + 3000 × 5/30 would need two estimates; one monthly figure 3100:
    // 3100 × 2/31 = 200, 3100 × 5/30 = 516.666… → 716.67.
    assert_eq!(prorate(m("3100"), w), m("716.67"));
    // Inside one month: 7/31 of 3100 = 700 exactly.
    assert_eq!(prorate(m("3100"), week("2026-W11")), m("700"));
    // February (28 days) to March (31): W09 is 23 Feb .. 1 Mar: 6/28 + 1/31 of 868.
    assert_eq!(prorate(m("868"), week("2026-W09")), m("214.00"));
}

#[test]
fn flags_switch_strictly_above_the_thresholds() {
    let t = Thresholds::default();
    let e = m("100");
    assert_eq!(flag(m("110"), e, &t), (Some("10".parse().unwrap()), Flag::Ok));
    assert_eq!(flag(m("110.01"), e, &t), (Some("10.01".parse().unwrap()), Flag::Warn));
    assert_eq!(flag(m("125"), e, &t), (Some("25".parse().unwrap()), Flag::Warn));
    assert_eq!(flag(m("125.01"), e, &t).1, Flag::Critical);
    assert_eq!(flag(m("40"), e, &t), (Some("-60".parse().unwrap()), Flag::Ok));
    assert_eq!(flag(m("1"), Money::ZERO, &t), (None, Flag::NoEstimate), "spend with no estimate is not a variance");
    assert_eq!(flag(Money::ZERO, Money::ZERO, &t), (None, Flag::Ok));
    let custom = Thresholds { warn_pct: "5".parse().unwrap(), critical_pct: "50".parse().unwrap() };
    assert_eq!(flag(m("106"), e, &custom).1, Flag::Warn);
    assert_eq!(flag(m("130"), e, &custom).1, Flag::Warn);
    assert!(Thresholds { warn_pct: "30".parse().unwrap(), critical_pct: "20".parse().unwrap() }.validate().is_err());
    assert_eq!(Thresholds::from_config(None, None), Ok(t));
    assert_eq!(Thresholds::from_config(Some("5"), Some("50")), Ok(custom));
    assert!(Thresholds::from_config(Some("ten"), None).unwrap_err().contains("FINOPS_CARD_WARN_PCT"));
    assert!(Thresholds::from_config(Some("30"), None).is_err(), "warn above critical");
}

const ACCT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/finops-chat-ab12";

fn row(day: &str, usage_type: &str, tokens: i64, cost: &str) -> CurRow {
    CurRow {
        usage_day: d(day),
        account: AccountId::parse(ACCT).unwrap(),
        product_code: "AmazonBedrock".into(),
        billing_entity: "AWS".into(),
        product_name: "Amazon Bedrock".into(),
        usage_type: usage_type.into(),
        operation: "InvokeModel".into(),
        line_item_type: "Usage".into(),
        resource_id: None,
        principal: Some("arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/s".into()),
        workspace: None,
        usage_amount: Decimal::from(tokens),
        cost: cost.parse().unwrap(),
    }
}

fn attributor() -> Attributor {
    Attributor {
        claims: ClaimBook::new([Claim {
            target: ClaimTarget::parse(ClaimKind::IamRole, ROLE).unwrap(),
            workload: WorkloadId::parse("chat").unwrap(),
            claimed_at: d("2026-03-01"),
            claimed_by: UserId::parse("pat").unwrap(),
            released_at: None,
            released_by: None,
        }]),
        broad_roles: RolePattern::defaults(),
    }
}

fn lines_of(rows: Vec<CurRow>, w: IsoWeek) -> Vec<CardLine> {
    let mut facts = Facts::default();
    for r in rows {
        facts.add(r);
    }
    week_lines(w, &facts, &attributor(), &PriceCatalog::bundled().unwrap()).remove(&WorkloadId::parse("chat").unwrap()).unwrap_or_default()
}

fn card(lines: Vec<CardLine>, monthly: &str) -> SpendCard {
    SpendCard::build(CardInput {
        week: week("2026-W14"),
        workload: WorkloadId::parse("chat").unwrap(),
        workload_name: "Chat",
        portfolio: NodeId::parse("assist").unwrap(),
        owner: UserId::parse("pat").unwrap(),
        monthly_estimate: Some(m(monthly)),
        estimate_source: EstimateSource::FaConfirmed,
        lines,
        thresholds: &Thresholds::default(),
        live: None,
        at: at(),
    })
}

#[test]
fn lines_group_by_model_token_type_and_region_over_both_months_of_the_week() {
    let lines = lines_of(
        vec![
            row("2026-03-29", "USE1-Claude3Haiku-input-tokens", 999, "9"), // the Sunday before: not this week
            row("2026-03-30", "USE1-Claude3Haiku-input-tokens", 6000, "1.50"),
            row("2026-04-02", "USE1-Claude3Haiku-input-tokens", 2000, "0.50"),
            row("2026-04-02", "USE1-Claude3Haiku-output-tokens", 1000, "1.25"),
            row("2026-04-03", "USW2-Claude3Haiku-cache-read-input-token-count", 3000, "0.10"),
            row("2026-04-05", "USE1-Claude3Haiku-cache-write-input-token-count", 1000, "0.30"),
            row("2026-04-06", "USE1-Claude3Haiku-input-tokens", 999, "9"), // the next Monday
        ],
        week("2026-W14"),
    );
    let got: Vec<_> = lines.iter().map(|l| (l.id.as_str(), l.cost, l.tokens)).collect();
    let h = "anthropic.claude-3-haiku-20240307-v1:0";
    assert_eq!(
        got,
        [
            (&*format!("{h}/input/us-east-1"), m("2.00"), Decimal::from(8000)),
            (&*format!("{h}/output/us-east-1"), m("1.25"), Decimal::from(1000)),
            (&*format!("{h}/cache_read/us-west-2"), m("0.10"), Decimal::from(3000)),
            (&*format!("{h}/cache_write/us-east-1"), m("0.30"), Decimal::from(1000)),
        ]
    );
    let c = card(lines, "3100");
    assert_eq!(c.actual, m("3.65"));
    // cache read 3000 ÷ (input 8000 + cache read 3000 + cache write 1000) = 0.25
    assert_eq!(c.cache_hit_rate, Some("0.25".parse().unwrap()));
    assert_eq!(c.estimate, m("716.67"));
    assert_eq!(c.variance, m("3.65") - m("716.67"));
    assert_eq!(c.flag, Flag::Ok);
}

#[test]
fn cache_hit_rate_ignores_output_and_is_none_without_input() {
    let line = |t: TokenType, n: i64| CardLine { id: format!("{t:?}"), model: "m".into(), token_type: Some(t), region: "r".into(), cost: Money::ZERO, tokens: Decimal::from(n), late_for: None };
    assert_eq!(cache_hit_rate(&[line(TokenType::Output, 100)]), None);
    assert_eq!(cache_hit_rate(&[line(TokenType::Input, 1), line(TokenType::CacheRead, 2), line(TokenType::Output, 1000)]), Some("0.6667".parse().unwrap()));
}

fn simple_line(id: &str, cost: &str) -> CardLine {
    CardLine { id: id.into(), model: "m".into(), token_type: Some(TokenType::Input), region: "us-east-1".into(), cost: m(cost), tokens: Decimal::from(10), late_for: None }
}

#[test]
fn a_dispute_names_lines_and_a_reason_and_the_finops_lead_resolves_it() {
    let mut c = card(vec![simple_line("a", "10"), simple_line("b", "5")], "100");
    assert!(matches!(c.dispute(vec![], "too high", &po(), at()), Err(CardError::Invalid { field: "lines", .. })));
    assert!(matches!(c.dispute(vec!["zz".into()], "too high", &po(), at()), Err(CardError::Invalid { field: "lines", .. })));
    assert!(matches!(c.dispute(vec!["a".into()], " ", &po(), at()), Err(CardError::Invalid { field: "reason", .. })));
    assert_eq!(c.status, CardStatus::Open, "refusals change nothing");
    c.dispute(vec!["a".into()], "load test traffic, not ours", &po(), at()).unwrap();
    assert_eq!(c.status, CardStatus::Disputed);
    assert!(!c.is_settled());
    assert!(c.accept().is_err(), "a disputed card waits for the FinOps Lead");
    assert!(matches!(c.resolve("", &fl(), at()), Err(CardError::Invalid { field: "rationale", .. })));
    c.resolve("confirmed: charged to the platform team instead", &fl(), at()).unwrap();
    assert_eq!(c.status, CardStatus::Resolved);
    assert!(c.is_settled());
    let d = &c.disputes[0];
    assert_eq!((d.lines.as_slice(), d.by.as_str()), (&["a".to_owned()][..], "pat"));
    assert_eq!(d.resolution.as_ref().map(|r| r.by.as_str()), Some("fiona"));
}

#[test]
fn a_settled_card_never_changes_and_an_open_one_takes_late_data() {
    let old = card(vec![simple_line("a", "10")], "100");
    let fresh = card(vec![simple_line("a", "12")], "100");
    assert_eq!(old.rebuilt(old.clone()), None, "same figures: nothing to write");
    let updated = old.rebuilt(fresh.clone()).unwrap();
    assert_eq!((updated.actual, updated.revision, updated.status), (m("12"), 2, CardStatus::Open));
    let mut disputed = old.clone();
    disputed.dispute(vec!["a".into()], "why", &po(), at()).unwrap();
    let reopened = disputed.rebuilt(fresh.clone()).unwrap();
    assert_eq!(reopened.status, CardStatus::Open, "new figures reopen a disputed card");
    assert_eq!(reopened.disputes.len(), 1, "and keep its dispute history");
    let mut accepted = old.clone();
    accepted.accept().unwrap();
    assert_eq!(accepted.rebuilt(fresh), None, "a settled card is final");
    assert!(accepted.accept().is_err());
    assert!(accepted.dispute(vec!["a".into()], "late", &po(), at()).is_err());
}

#[test]
fn late_data_for_a_settled_week_becomes_an_adjustment_line_on_the_next_card() {
    let mut settled = card(vec![simple_line("a", "10")], "100");
    settled.accept().unwrap();
    // The week's usage is now 13.50: 3.50 arrived late.
    let late = late_line(&settled, m("13.50"), Money::ZERO).unwrap();
    assert_eq!((late.cost, late.late_for, late.id.as_str()), (m("3.50"), Some(week("2026-W14")), "late-data/2026-W14"));
    assert_eq!(late_line(&settled, m("13.50"), m("3.50")), None, "already carried: nothing more");
    assert_eq!(late_line(&settled, m("10"), Money::ZERO), None);
    let mut next = SpendCard::build(CardInput {
        week: week("2026-W15"),
        workload: WorkloadId::parse("chat").unwrap(),
        workload_name: "Chat",
        portfolio: NodeId::parse("assist").unwrap(),
        owner: UserId::parse("pat").unwrap(),
        monthly_estimate: Some(m("3000")),
        estimate_source: EstimateSource::ProductOwner,
        lines: vec![simple_line("a", "20"), late],
        thresholds: &Thresholds::default(),
        live: None,
        at: at(),
    });
    assert_eq!((next.actual, next.adjustments, next.chargeback), (m("20"), m("3.50"), m("23.50")));
    assert_eq!(next.estimate, m("700"));
    next.accept().unwrap();
    assert_eq!(settled.actual, m("10"), "the settled card still says what it said");
}

#[test]
fn the_rollup_waits_for_every_card_to_be_settled_and_adds_them_up() {
    let po_owner = Actor::new(UserId::parse("olga").unwrap(), Persona::PortfolioOwner, vec![]);
    let mut a = card(vec![simple_line("a", "10")], "100");
    let mut b = card(vec![simple_line("b", "5")], "100");
    b.workload = WorkloadId::parse("search").unwrap();
    b.id = card_id(b.week, &b.workload);
    a.accept().unwrap();
    b.dispute(vec!["b".into()], "not ours", &po(), at()).unwrap();
    let err = rollup(NodeId::parse("assist").unwrap(), a.week, &[a.clone(), b.clone()], &po_owner, at(), None).unwrap_err();
    assert_eq!(err, RollupError::Unsettled(vec!["2026-W14.search (Disputed)".into()]));
    b.resolve("ok", &fl(), at()).unwrap();
    let r = rollup(NodeId::parse("assist").unwrap(), a.week, &[a, b], &po_owner, at(), Some("week closed".into())).unwrap();
    assert_eq!((r.actual, r.chargeback, r.cards.len(), r.approved_by.as_str()), (m("15"), m("15"), 2, "olga"));
    // Each card: 100 × 2/31 + 100 × 5/30 = 23.118… → 23.12.
    assert_eq!(r.estimate, m("46.24"));
    assert!(matches!(rollup(NodeId::parse("assist").unwrap(), week("2026-W14"), &[], &po_owner, at(), None), Err(RollupError::NoCards(_))));
}

#[test]
fn cards_are_built_for_the_previous_monday_to_sunday() {
    assert_eq!(week_to_build(d("2026-04-06")), week("2026-W14"), "a Monday builds the week before");
    assert_eq!(week_to_build(d("2026-04-12")), week("2026-W14"), "so does the Sunday after");
}

#[test]
fn a_fresh_live_check_refreshes_an_open_or_disputed_card_without_reopening_it() {
    use crate::analytics::live_vs_billed::LiveCheck;
    let check = |e: &str| Some(LiveCheck { billed: m("10"), estimated: m(e), error_pct: None, days_compared: 1, days_not_compared: 0 });
    let mut old = card(vec![simple_line("a", "20")], "3000");
    old.dispute(vec!["a".into()], "not ours", &po(), at()).unwrap();
    let mut fresh = card(vec![simple_line("a", "20")], "3000");
    fresh.live = check("9.90");
    let next = old.rebuilt(fresh.clone()).expect("the check moved");
    assert_eq!((next.status, next.revision, next.live.clone()), (CardStatus::Disputed, old.revision, check("9.90")));
    assert_eq!(next.rebuilt(fresh), None, "nothing moved: nothing to write");
    let mut settled = card(vec![simple_line("a", "20")], "3000");
    settled.accept().unwrap();
    let mut later = card(vec![simple_line("a", "20")], "3000");
    later.live = check("11");
    assert_eq!(settled.rebuilt(later), None, "a settled card never changes");
}
