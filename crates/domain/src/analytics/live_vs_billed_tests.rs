use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::arn::RolePattern;
use crate::cur::attribution::ClaimBook;
use crate::cur::facts::CurRow;
use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
use crate::ids::{Region, UserId, WorkloadId};
use crate::invocations::{TokenCounts, UsageKey, UsageValue};

const CHAT: &str = "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/s";
const STRAY: &str = "arn:aws:sts::111122223333:assumed-role/finops-stray-zz99/s";
const OTHER_ACCT: &str = "444455556666";

fn m(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn d(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, n).unwrap()
}

fn period() -> BillingPeriod {
    BillingPeriod::parse("2026-03").unwrap()
}

fn row(day: u32, account: &str, principal: &str, usage_type: &str, line_item_type: &str, cost: &str) -> CurRow {
    CurRow {
        usage_day: d(day),
        account: AccountId::parse(account).unwrap(),
        product_code: "AmazonBedrock".into(),
        billing_entity: "AWS".into(),
        product_name: "Amazon Bedrock".into(),
        usage_type: usage_type.into(),
        operation: "InvokeModel".into(),
        line_item_type: line_item_type.into(),
        resource_id: None,
        principal: Some(principal.into()),
        workspace: None,
        usage_amount: Decimal::ZERO,
        cost: cost.parse().unwrap(),
    }
}

fn attributor() -> Attributor {
    Attributor {
        claims: ClaimBook::new([Claim {
            target: ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/finops-chat-ab12").unwrap(),
            workload: WorkloadId::parse("chat").unwrap(),
            claimed_at: d(1),
            claimed_by: UserId::parse("pat").unwrap(),
            released_at: None,
            released_by: None,
        }]),
        broad_roles: RolePattern::defaults(),
    }
}

fn facts(rows: Vec<CurRow>) -> Facts {
    let mut f = Facts::default();
    for r in rows {
        f.add(r);
    }
    f
}

/// (day, hour, account, principal, model, cost; `None`: unpriced)
type Logged<'a> = (u32, u32, &'a str, &'a str, &'a str, Option<&'a str>);

fn usage(entries: &[Logged<'_>]) -> UsageFacts {
    let mut u = UsageFacts::default();
    for &(day, hour, account, principal, model, cost) in entries {
        let key = UsageKey {
            hour: Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap(),
            account: AccountId::parse(account).unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            principal: principal.into(),
            model_id: model.into(),
        };
        let value = UsageValue { requests: 1, tokens: TokenCounts { input: 1000, ..Default::default() }, cost: cost.map(m).unwrap_or(Money::ZERO), unpriced: u64::from(cost.is_none()) };
        u.facts.entry(key).or_default().add(value);
    }
    u
}

fn compare_of(rows: Vec<CurRow>, logs: UsageFacts) -> LiveVsBilled {
    compare(period(), &facts(rows), &logs, &attributor(), &PriceCatalog::bundled().unwrap())
}

const HAIKU_IN: &str = "USE1-Claude3Haiku-input-tokens";
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

#[test]
fn a_workload_day_compares_its_estimate_with_its_bill() {
    let r = compare_of(
        vec![row(2, "111122223333", CHAT, HAIKU_IN, "Usage", "100.00")],
        usage(&[(2, 9, "111122223333", CHAT, HAIKU, Some("60.00")), (2, 10, "111122223333", CHAT, HAIKU, Some("39.50"))]),
    );
    assert_eq!(r.lines.len(), 1, "{:?}", r.lines);
    let l = &r.lines[0];
    assert_eq!((l.owner.as_str(), l.day, l.status), ("chat", d(2), LineStatus::Compared));
    assert_eq!((l.billed, l.estimated, l.requests), (m("100.00"), m("99.50"), 2));
    assert_eq!(l.error_pct, Some("-0.5".parse().unwrap()));
    assert_eq!((r.compared_billed, r.compared_estimated, r.error_pct), (m("100.00"), m("99.50"), Some("-0.5".parse().unwrap())));
    assert_eq!(r.days, vec![d(2)]);
}

#[test]
fn only_lines_a_log_can_be_priced_as_are_billed_and_the_rest_is_kept_aside() {
    let r = compare_of(
        vec![
            row(2, "111122223333", CHAT, HAIKU_IN, "Usage", "10.00"),
            // Marketplace units name no model; a model the catalogue lacks; a credit.
            row(2, "111122223333", CHAT, "USE1-MP:USE1_InputTokenCount-Units", "Usage", "7.00"),
            row(2, "111122223333", CHAT, "USE1-Llama3-70B-input-tokens", "Usage", "5.00"),
            row(2, "111122223333", CHAT, HAIKU_IN, "Credit", "-2.00"),
        ],
        usage(&[(2, 9, "111122223333", CHAT, HAIKU, Some("10.00"))]),
    );
    assert_eq!(r.billed, m("10.00"));
    assert_eq!(r.not_comparable, m("10.00"), "7 + 5 − 2: counted, not dropped");
    assert_eq!(r.error_pct, Some(Decimal::ZERO));
}

#[test]
fn unpriced_calls_leave_the_day_without_an_error() {
    let r = compare_of(
        vec![row(2, "111122223333", CHAT, HAIKU_IN, "Usage", "10.00")],
        usage(&[(2, 9, "111122223333", CHAT, HAIKU, Some("4.00")), (2, 9, "111122223333", CHAT, "meta.llama3-70b-instruct-v1:0", None)]),
    );
    let l = &r.lines[0];
    assert_eq!((l.status, l.error_pct, l.unpriced_requests), (LineStatus::Unpriced, None, 1));
    assert_eq!(r.error_pct, None, "nothing is compared");
    assert_eq!(r.billed, m("10.00"));
}

#[test]
fn an_account_that_logs_nothing_is_flagged_and_its_days_show_no_logs() {
    let r = compare_of(
        vec![row(2, "111122223333", CHAT, HAIKU_IN, "Usage", "10.00"), row(2, OTHER_ACCT, "arn:aws:sts::444455556666:assumed-role/x/y", HAIKU_IN, "Usage", "3.00")],
        usage(&[(2, 9, "111122223333", CHAT, HAIKU, Some("10.00"))]),
    );
    let missing: Vec<&str> = r.accounts_without_logs().map(|a| a.account.as_str()).collect();
    assert_eq!(missing, vec![OTHER_ACCT]);
    let line = r.lines.iter().find(|l| l.billed == m("3.00")).unwrap();
    assert_eq!((line.status, line.requests), (LineStatus::NoLogs, 0));
    assert_eq!(r.compared_billed, m("10.00"), "a day without logs is not an error of the estimate");
}

#[test]
fn log_spend_before_cur_covers_the_day_awaits_cur_and_a_stray_caller_is_not_billed() {
    let r = compare_of(
        vec![row(2, "111122223333", CHAT, HAIKU_IN, "Usage", "10.00")],
        usage(&[(2, 9, "111122223333", CHAT, HAIKU, Some("10.00")), (3, 9, "111122223333", CHAT, HAIKU, Some("8.00")), (2, 11, "111122223333", STRAY, HAIKU, Some("1.00"))]),
    );
    assert_eq!(r.awaiting_cur, m("8.00"));
    let stray = r.lines.iter().find(|l| l.owner.starts_with("unattributed:")).unwrap();
    assert_eq!((stray.status, stray.estimated), (LineStatus::NotBilled, m("1.00")));
    assert_eq!(r.estimated, m("11.00"));
    assert!(r.accounts.iter().all(|a| a.logs));
}

#[test]
fn a_scoped_view_keeps_its_owners_and_recomputes_its_totals() {
    let r = compare_of(
        vec![row(2, "111122223333", CHAT, HAIKU_IN, "Usage", "10.00"), row(2, "111122223333", STRAY, HAIKU_IN, "Usage", "6.00")],
        usage(&[(2, 9, "111122223333", CHAT, HAIKU, Some("9.00")), (2, 9, "111122223333", STRAY, HAIKU, Some("6.00"))]),
    );
    assert_eq!(r.billed, m("16.00"));
    let mine = r.scoped(|o| o == "chat", false);
    assert_eq!((mine.billed, mine.estimated, mine.error_pct), (m("10.00"), m("9.00"), Some("-10".parse().unwrap())));
    assert!(mine.accounts.is_empty() && mine.not_comparable.is_zero());
}

#[test]
fn a_weeks_check_sums_the_compared_days_of_one_owner_and_counts_the_others() {
    let r = compare_of(
        vec![row(2, "111122223333", CHAT, HAIKU_IN, "Usage", "10.00"), row(3, "111122223333", CHAT, HAIKU_IN, "Usage", "10.00"), row(4, "111122223333", CHAT, HAIKU_IN, "Usage", "5.00")],
        usage(&[(2, 9, "111122223333", CHAT, HAIKU, Some("10.10")), (3, 9, "111122223333", CHAT, HAIKU, Some("9.90")), (4, 9, "111122223333", CHAT, "meta.llama3-70b-instruct-v1:0", None)]),
    );
    // 2026-W10 is Monday 2 March to Sunday 8 March.
    let c = week_check(&r.lines, "chat", IsoWeek::parse("2026-W10").unwrap()).unwrap();
    assert_eq!((c.billed, c.estimated, c.error_pct, c.days_compared, c.days_not_compared), (m("20.00"), m("20.00"), Some(Decimal::ZERO), 2, 1));
    assert_eq!(week_check(&r.lines, "search", IsoWeek::parse("2026-W10").unwrap()), None);
    assert_eq!(week_check(&r.lines, "chat", IsoWeek::parse("2026-W11").unwrap()), None);
}
