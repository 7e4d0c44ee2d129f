use chrono::TimeZone;
use rust_decimal::Decimal;

use super::*;
use crate::arn::RolePattern;
use crate::cur::attribution::ClaimBook;
use crate::cur::facts::CurRow;
use crate::governance::approval::Platform;
use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
use crate::ids::{ModelId, NodeId, RequestId};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CLAIMED_ROLE: &str = "arn:aws:iam::111122223333:role/finops-chat-ab12";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn period() -> BillingPeriod {
    BillingPeriod::parse("2026-03").unwrap()
}

fn at(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, 2, 0, 0).unwrap()
}

/// A Bedrock usage row.
fn row(d: u32, account: &str, usage_type: &str, principal: Option<&str>, cost: &str) -> CurRow {
    CurRow {
        usage_day: day(d),
        account: AccountId::parse(account).unwrap(),
        product_code: "AmazonBedrock".into(),
        billing_entity: "AWS".into(),
        product_name: "Amazon Bedrock".into(),
        usage_type: usage_type.into(),
        operation: "InvokeModel".into(),
        line_item_type: "Usage".into(),
        resource_id: None,
        principal: principal.map(String::from),
        workspace: None,
        usage_amount: Decimal::from(1000),
        cost: cost.parse().unwrap(),
    }
}

fn session(role: &str, account: &str) -> String {
    format!("arn:aws:sts::{account}:assumed-role/{role}/app")
}

fn guardrail_row(d: u32, arn: &str, cost: &str) -> CurRow {
    let mut r = row(d, ACCT, "USE1-Guardrail-ContentPolicyUnitsConsumed", Some(""), cost);
    r.operation = "ApplyGuardrail".into();
    r.resource_id = Some(arn.into());
    r
}

fn claim(kind: ClaimKind, arn: &str, workload: &str, from: u32) -> Claim {
    Claim {
        target: ClaimTarget::parse(kind, arn).unwrap(),
        workload: WorkloadId::parse(workload).unwrap(),
        claimed_at: day(from),
        claimed_by: UserId::parse("po").unwrap(),
        released_at: None,
        released_by: None,
    }
}

fn scope(model: &str, account: &str, region: &str) -> ModelApprovalScope {
    ModelApprovalScope {
        request: RequestId::parse("br-1").unwrap(),
        workload: WorkloadId::parse("chat").unwrap(),
        platform: Platform::Bedrock,
        model: ModelId::parse(model).unwrap(),
        accounts: vec![AccountId::parse(account).unwrap()],
        regions: vec![Region::parse(region).unwrap()],
        allowed_actions: vec![],
        agentic_access: false,
        cross_region_geo: None,
        approved_at: at(1),
    }
}

fn workload(id: &str, since: Option<u32>, estimate: bool, case: bool) -> WorkloadFacts {
    WorkloadFacts {
        id: WorkloadId::parse(id).unwrap(),
        owner: UserId::parse("pat").unwrap(),
        claimed_since: since.map(day),
        has_estimate: estimate,
        business_case: case.then(|| BusinessCase { value_type: ValueType::CostSaving, annual_baseline: Money::parse("100000").unwrap(), target_pct: Decimal::from(10) }),
    }
}

/// State for one detection: claims, scopes and workloads.
struct World {
    claims: Vec<Claim>,
    scopes: Vec<ModelApprovalScope>,
    workloads: Vec<WorkloadFacts>,
}

impl World {
    fn new() -> Self {
        Self { claims: vec![claim(ClaimKind::IamRole, CLAIMED_ROLE, "chat", 1)], scopes: vec![], workloads: vec![] }
    }

    fn detect(&self, rows: Vec<CurRow>) -> Vec<Observation> {
        self.detect_in(rows, None)
    }

    /// Detection over `threads` shares of the facts (`None`: as `detect` chooses).
    fn detect_in(&self, rows: Vec<CurRow>, threads: Option<usize>) -> Vec<Observation> {
        let mut facts = Facts::default();
        for r in rows {
            facts.add(r);
        }
        let attributor = Attributor { claims: ClaimBook::new(self.claims.clone()), broad_roles: RolePattern::defaults() };
        let catalog = PriceCatalog::bundled().unwrap();
        if let Some(n) = threads {
            assert_eq!(outcome_runs(period(), &facts, &attributor, n).count(), n, "the facts split into {n} shares");
        }
        let input = DetectionInput {
            period: period(),
            facts: &facts,
            attributor: &attributor,
            scopes: &self.scopes,
            catalog: &catalog,
            workloads: &self.workloads,
            as_of: day(31),
        };
        match threads {
            Some(n) => detect_in(&input, n),
            None => detect(&input, 4),
        }
    }
}

fn of(obs: &[Observation], s: Scenario) -> Vec<&Observation> {
    obs.iter().filter(|o| o.scenario == s).collect()
}

const HAIKU_IN: &str = "USE1-Claude3Haiku-input-tokens";

#[test]
fn attribution_not_enabled_is_keyed_by_account_and_sums_its_rows() {
    let obs = World::new().detect(vec![row(3, ACCT, HAIKU_IN, None, "1.25"), row(9, ACCT, HAIKU_IN, None, "0.75"), row(4, OTHER, HAIKU_IN, Some(""), "2")]);
    let g = of(&obs, Scenario::AttributionNotEnabled);
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].key, ACCT);
    assert_eq!(g[0].spend, Money::parse("2.00").unwrap());
    assert_eq!((g[0].first_seen, g[0].last_seen), (day(3), day(9)));
    assert_eq!(g[1].key, OTHER);
}

#[test]
fn attribution_not_enabled_is_not_raised_when_principals_are_present() {
    let obs = World::new().detect(vec![row(3, ACCT, HAIKU_IN, Some(&session("finops-chat-ab12", ACCT)), "1.25")]);
    assert!(of(&obs, Scenario::AttributionNotEnabled).is_empty());
    assert!(obs.is_empty(), "claimed usage raises nothing: {obs:?}");
}

#[test]
fn unattributed_spend_is_keyed_by_the_broad_role() {
    let sso = session("AWSReservedSSO_AdministratorAccess_0a1b2c", ACCT);
    let obs = World::new().detect(vec![row(5, ACCT, HAIKU_IN, Some(&sso), "3"), row(6, ACCT, HAIKU_IN, Some(&format!("{sso}x")), "1")]);
    let g = of(&obs, Scenario::UnattributedSpend);
    assert_eq!(g.len(), 1, "two sessions of one role are one gap");
    assert_eq!(g[0].key, "arn:aws:iam::111122223333:role/AWSReservedSSO_AdministratorAccess_0a1b2c");
    assert_eq!(g[0].spend, Money::parse("4").unwrap());
}

#[test]
fn unattributed_spend_is_not_raised_for_a_narrow_role() {
    let obs = World::new().detect(vec![row(5, ACCT, HAIKU_IN, Some(&session("payments-batch", ACCT)), "3")]);
    assert!(of(&obs, Scenario::UnattributedSpend).is_empty());
}

#[test]
fn no_budget_allocation_is_keyed_by_principal_and_model() {
    let p = session("payments-batch", ACCT);
    let obs = World::new().detect(vec![
        row(5, ACCT, HAIKU_IN, Some(&p), "3"),
        row(5, ACCT, "USE1-NovaLite-input-tokens", Some(&p), "1"),
        row(7, ACCT, "USE1-Claude3Haiku-output-tokens", Some(&p), "2"),
    ]);
    let g = of(&obs, Scenario::NoBudgetAllocation);
    let keys: Vec<_> = g.iter().map(|o| (o.key.as_str(), o.spend)).collect();
    assert_eq!(
        keys,
        [
            ("arn:aws:iam::111122223333:role/payments-batch|amazon.nova-lite-v1:0", Money::parse("1").unwrap()),
            (&*format!("arn:aws:iam::111122223333:role/payments-batch|{HAIKU}"), Money::parse("5").unwrap()),
        ]
    );
    assert_eq!(g[1].context.model.as_deref(), Some(HAIKU));
    assert_eq!(g[1].context.region.as_ref().map(Region::as_str), Some("us-east-1"));
}

#[test]
fn detection_says_the_same_whatever_order_the_facts_come_in() {
    // One principal's Haiku spend in two regions and two usage accounts: the
    // gap's one account and region must not be those of the first fact met.
    let p = session("payments-batch", ACCT);
    let guardrail = "arn:aws:bedrock:us-east-1:111122223333:guardrail/gr1";
    let rows = vec![
        row(9, OTHER, "USW2-Claude3Haiku-input-tokens", Some(&p), "4"),
        row(5, ACCT, HAIKU_IN, Some(&p), "3"),
        row(7, OTHER, "USE1-Claude3Haiku-output-tokens", Some(&p), "2"),
        row(3, OTHER, HAIKU_IN, None, "1"),
        guardrail_row(4, guardrail, "0.5"),
    ];
    let mut reversed = rows.clone();
    reversed.reverse();
    let world = World::new();
    let (forward, backward) = (world.detect(rows), world.detect(reversed));
    assert_eq!(forward, backward);
    let g = of(&forward, Scenario::NoBudgetAllocation);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].context.account.as_ref().map(AccountId::as_str), Some(ACCT));
    assert_eq!(g[0].context.region.as_ref().map(Region::as_str), Some("us-east-1"));
    assert_eq!(g[0].context.regions.iter().map(Region::as_str).collect::<Vec<_>>(), ["us-east-1", "us-west-2"]);
}

#[test]
fn detection_over_shares_of_the_facts_finds_what_one_pass_finds() {
    // A large month's facts are gone through in shares on several threads.
    // Every scenario here has spend in every share, and gaps share spend
    // with each other (out of scope and unattributed at once), so each
    // sum, set and link must merge to what one pass finds.
    let mut w = World::new();
    w.scopes.push(scope(HAIKU, ACCT, "us-east-1"));
    w.workloads.push(workload("chat", Some(1), false, false));
    let usage_types = [HAIKU_IN, "USW2-Claude3Haiku-input-tokens", "USE1-NovaLite-input-tokens"];
    let rows: Vec<CurRow> = (0..70_000u32)
        .map(|i| {
            // Days and usage types (regions) move through the month in
            // bill order, so that each share sees other days and regions.
            let (d, account) = (1 + i / 2_300, if i % 3 == 0 { OTHER } else { ACCT });
            let cost = format!("0.{:04}", 1 + i % 9_999);
            let usage_type = usage_types[(i / 25_000) as usize];
            match i % 6 {
                0 => row(d, ACCT, usage_type, Some(&format!("arn:aws:sts::{ACCT}:assumed-role/finops-chat-ab12/s{i}")), &cost),
                1 => row(d, account, usage_type, Some(&format!("arn:aws:sts::{account}:assumed-role/AWSReservedSSO_AdministratorAccess_0a1b2c/s{i}")), &cost),
                2 => row(d, account, usage_type, Some(&format!("arn:aws:sts::{account}:assumed-role/finops-orphan-{}/s{i}", i % 5)), &cost),
                3 => row(d, account, usage_type, Some(&format!("arn:aws:sts::{account}:assumed-role/payments-{}/s{i}", i % 11)), &cost),
                // An account that never names who called.
                4 => row(d, "777788889999", usage_type, None, &cost),
                _ => guardrail_row(d, &format!("arn:aws:bedrock:us-east-1:{ACCT}:guardrail/gr{}", i % 4), &cost),
            }
        })
        .collect();
    let one = w.detect_in(rows.clone(), Some(1));
    for scenario in [Scenario::NoBudgetAllocation, Scenario::UnattributedSpend, Scenario::UnclaimedWorkload, Scenario::OutOfBudgetScope, Scenario::AttributionNotEnabled, Scenario::UnallocatedGuardrailCost, Scenario::MissingBusinessCase] {
        assert!(!of(&one, scenario).is_empty(), "{scenario:?} has a gap to merge");
    }
    assert!(one.iter().any(|o| !o.context.shared.is_empty()), "some spend is shared between gaps");
    for n in [2, 3] {
        assert_eq!(w.detect_in(rows.clone(), Some(n)), one, "{n} shares");
    }
}

#[test]
fn no_budget_allocation_is_not_raised_once_the_role_is_claimed() {
    let mut w = World::new();
    w.claims.push(claim(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/payments-batch", "payments", 1));
    let obs = w.detect(vec![row(5, ACCT, HAIKU_IN, Some(&session("payments-batch", ACCT)), "3")]);
    assert!(of(&obs, Scenario::NoBudgetAllocation).is_empty());
}

#[test]
fn out_of_budget_scope_covers_attributed_and_unattributed_usage_outside_every_scope() {
    let mut w = World::new();
    w.scopes.push(scope(HAIKU, ACCT, "us-east-1"));
    let claimed = session("finops-chat-ab12", ACCT);
    let obs = w.detect(vec![
        row(5, ACCT, HAIKU_IN, Some(&claimed), "1"),                        // in scope
        row(6, ACCT, "USW2-Claude3Haiku-input-tokens", Some(&claimed), "2"), // attributed, other region
        row(7, OTHER, HAIKU_IN, Some(&session("x", OTHER)), "4"),            // unattributed, other account
        row(7, OTHER, "USE1-NovaLite-input-tokens", Some(&session("x", OTHER)), "8"), // model with no scope at all
    ]);
    let g = of(&obs, Scenario::OutOfBudgetScope);
    let keys: Vec<_> = g.iter().map(|o| (o.key.clone(), o.spend)).collect();
    assert_eq!(
        keys,
        [
            (format!("{HAIKU}|{ACCT}|us-west-2"), Money::parse("2").unwrap()),
            (format!("{HAIKU}|{OTHER}|us-east-1"), Money::parse("4").unwrap()),
        ]
    );
}

#[test]
fn out_of_budget_scope_is_not_raised_inside_the_scope() {
    let mut w = World::new();
    w.scopes.push(scope(HAIKU, ACCT, "us-east-1"));
    w.scopes.push(scope(&format!("us.{HAIKU}"), ACCT, "us-west-2"));
    let claimed = session("finops-chat-ab12", ACCT);
    let obs = w.detect(vec![row(5, ACCT, HAIKU_IN, Some(&claimed), "1"), row(6, ACCT, "USW2-Claude3Haiku-input-tokens", Some(&claimed), "1")]);
    assert!(of(&obs, Scenario::OutOfBudgetScope).is_empty(), "a cross-region profile id approves its base model: {obs:?}");
}

#[test]
fn unclaimed_workload_is_a_finops_role_without_a_claim() {
    let obs = World::new().detect(vec![row(8, ACCT, HAIKU_IN, Some(&session("finops-orphan-zz99", ACCT)), "6")]);
    let g = of(&obs, Scenario::UnclaimedWorkload);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].key, "arn:aws:iam::111122223333:role/finops-orphan-zz99");
    assert_eq!(g[0].context.role_name.as_deref(), Some("finops-orphan-zz99"));
    assert!(of(&obs, Scenario::NoBudgetAllocation).is_empty(), "one reason, one gap");
}

#[test]
fn unclaimed_workload_is_not_raised_for_a_claimed_finops_role() {
    let obs = World::new().detect(vec![row(8, ACCT, HAIKU_IN, Some(&session("finops-chat-ab12", ACCT)), "6")]);
    assert!(of(&obs, Scenario::UnclaimedWorkload).is_empty());
}

const GR: &str = "arn:aws:bedrock:us-east-1:111122223333:guardrail/gr0123abcd";

#[test]
fn unallocated_guardrail_cost_is_keyed_by_guardrail_arn() {
    let obs = World::new().detect(vec![guardrail_row(2, GR, "0.5"), guardrail_row(20, GR, "0.25")]);
    let g = of(&obs, Scenario::UnallocatedGuardrailCost);
    assert_eq!(g.len(), 1);
    assert_eq!((g[0].key.as_str(), g[0].spend), (GR, Money::parse("0.75").unwrap()));
    assert_eq!((g[0].first_seen, g[0].last_seen), (day(2), day(20)));
}

#[test]
fn unallocated_guardrail_cost_is_not_raised_for_a_claimed_guardrail() {
    let mut w = World::new();
    w.claims.push(claim(ClaimKind::Guardrail, GR, "chat", 1));
    let obs = w.detect(vec![guardrail_row(2, GR, "0.5")]);
    assert!(obs.is_empty(), "{obs:?}");
}

#[test]
fn missing_business_case_needs_a_claim_and_spend_or_an_estimate() {
    let mut w = World::new();
    w.workloads = vec![
        workload("chat", Some(1), false, false),      // spend, no case → gap
        workload("planned", Some(2), true, false),    // estimate, no spend → gap
        workload("idle", Some(2), false, false),      // neither → none
        workload("unclaimed", None, true, false),     // not claimed → none
        workload("future", Some(31), true, false),    // claimed on the last day: still in the period
    ];
    let obs = w.detect(vec![row(10, ACCT, HAIKU_IN, Some(&session("finops-chat-ab12", ACCT)), "9")]);
    let g = of(&obs, Scenario::MissingBusinessCase);
    let keys: Vec<_> = g.iter().map(|o| (o.key.as_str(), o.spend, o.first_seen, o.last_seen)).collect();
    assert_eq!(
        keys,
        [
            ("chat", Money::parse("9").unwrap(), day(10), day(10)),
            ("future", Money::ZERO, day(31), day(31)),
            ("planned", Money::ZERO, day(2), day(31)),
        ]
    );
    assert_eq!(g[0].context.owner.as_ref().map(UserId::as_str), Some("pat"));
}

#[test]
fn missing_business_case_is_not_raised_when_the_case_exists() {
    let mut w = World::new();
    w.workloads = vec![workload("chat", Some(1), true, true)];
    let obs = w.detect(vec![row(10, ACCT, HAIKU_IN, Some(&session("finops-chat-ab12", ACCT)), "9")]);
    assert!(obs.is_empty(), "{obs:?}");
}

#[test]
fn usage_before_the_claim_date_and_adjustments_raise_nothing() {
    let mut w = World::new();
    w.claims = vec![claim(ClaimKind::IamRole, CLAIMED_ROLE, "chat", 15)];
    let mut credit = row(3, ACCT, HAIKU_IN, None, "-5");
    credit.line_item_type = "Credit".into();
    let obs = w.detect(vec![row(3, ACCT, HAIKU_IN, Some(&session("finops-chat-ab12", ACCT)), "2"), credit]);
    assert!(obs.is_empty(), "{obs:?}");
}

// ---- lifecycle ---------------------------------------------------------------

fn fl() -> Actor {
    Actor::new(UserId::parse("fiona").unwrap(), Persona::FinOpsLead, vec![NodeId::parse("retail").unwrap()])
}

fn obs(s: Scenario, key: &str, spend: &str) -> Observation {
    Observation { scenario: s, key: key.into(), spend: Money::parse(spend).unwrap(), first_seen: day(1), last_seen: day(2), context: GapContext::default() }
}

#[test]
fn redetection_keeps_state_and_writes_nothing_when_nothing_changed() {
    let first = reconcile(period(), &[], vec![obs(Scenario::UnclaimedWorkload, "r", "5")], at(1));
    assert_eq!(first.len(), 1);
    let mut g = first[0].clone();
    assert_eq!(g.status, GapStatus::Active);
    g.apply(GapAction::NotifyOwner, &fl(), "owner asked to claim", at(2), None).unwrap();
    let again = reconcile(period(), std::slice::from_ref(&g), vec![obs(Scenario::UnclaimedWorkload, "r", "5")], at(3));
    assert!(again.is_empty(), "same findings: nothing to write");
    let more = reconcile(period(), std::slice::from_ref(&g), vec![obs(Scenario::UnclaimedWorkload, "r", "7")], at(3));
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].status, GapStatus::Actioned, "new spend keeps the decision");
    assert_eq!(more[0].spend, Money::parse("7").unwrap());
    assert_eq!(more[0].history.len(), 2);
}

#[test]
fn a_gap_whose_condition_stops_holding_is_resolved_automatically_and_reopens_with_its_history() {
    let g = reconcile(period(), &[], vec![obs(Scenario::UnattributedSpend, "sso", "5")], at(1)).remove(0);
    let resolved = reconcile(period(), std::slice::from_ref(&g), vec![], at(2)).remove(0);
    assert_eq!(resolved.status, GapStatus::Resolved);
    let last = resolved.history.last().unwrap();
    assert_eq!((last.action.as_str(), last.persona, last.from, last.to), ("auto_resolved", Persona::System, Some(GapStatus::Active), GapStatus::Resolved));
    assert!(reconcile(period(), std::slice::from_ref(&resolved), vec![], at(3)).is_empty(), "resolving twice writes nothing");
    let reopened = reconcile(period(), std::slice::from_ref(&resolved), vec![obs(Scenario::UnattributedSpend, "sso", "6")], at(4)).remove(0);
    assert_eq!(reopened.id, g.id);
    assert_eq!(reopened.status, GapStatus::Active);
    let actions: Vec<_> = reopened.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["detected", "auto_resolved", "reopened"]);
}

#[test]
fn recall_sends_a_decision_back_to_active_keeping_history() {
    let mut g = Gap::open(period(), obs(Scenario::NoBudgetAllocation, "p|m", "5"), at(1));
    g.apply(GapAction::Block, &fl(), "not approved for this team", at(2), None).unwrap();
    assert_eq!(g.status, GapStatus::Actioned);
    g.apply(GapAction::Recall, &fl(), "the team has budget after all", at(3), None).unwrap();
    assert_eq!(g.status, GapStatus::Active);
    g.apply(GapAction::Resolve, &fl(), "covered by the Q2 budget", at(4), None).unwrap();
    g.apply(GapAction::Recall, &fl(), "reopened on review", at(5), None).unwrap();
    let trail: Vec<_> = g.history.iter().map(|e| (e.action.as_str(), e.actor.as_str(), e.rationale.clone().unwrap_or_default())).collect();
    assert_eq!(trail[1], ("block", "fiona", "not approved for this team".to_owned()));
    assert_eq!(trail[2], ("recall", "fiona", "the team has budget after all".to_owned()));
    assert_eq!(g.history.len(), 5);
    assert!(matches!(g.apply(GapAction::Recall, &fl(), "again", at(6), None), Err(GapError::WrongStatus { .. })));
}

#[test]
fn actions_need_a_rationale_and_must_fit_the_scenario_and_status() {
    let mut g = Gap::open(period(), obs(Scenario::UnallocatedGuardrailCost, GR, "1"), at(1));
    assert_eq!(g.apply(GapAction::AssignToWorkload, &fl(), "  ", at(2), None), Err(GapError::RationaleRequired));
    assert!(matches!(g.apply(GapAction::AddScope, &fl(), "why", at(2), None), Err(GapError::NotForScenario { .. })));
    assert_eq!(g.history.len(), 1, "a refused action records nothing");
    g.auto_resolve(at(3));
    assert!(matches!(g.apply(GapAction::AssignToWorkload, &fl(), "why", at(4), None), Err(GapError::WrongStatus { .. })));
}

#[test]
fn gap_ids_are_stable_and_name_their_period() {
    let a = gap_id(period(), Scenario::UnclaimedWorkload, "arn:aws:iam::1:role/x");
    assert_eq!(a, gap_id(period(), Scenario::UnclaimedWorkload, "arn:aws:iam::1:role/x"));
    assert_ne!(a, gap_id(period(), Scenario::UnattributedSpend, "arn:aws:iam::1:role/x"));
    assert_eq!(period_of_gap_id(&a), Some(period()));
    assert_eq!(period_of_gap_id("gap-2026-xyz"), None);
    assert!(GapAction::parse("add_scope") == Some(GapAction::AddScope) && GapAction::parse("nope").is_none());
    for a in GapAction::ALL {
        assert_eq!(GapAction::parse(a.as_str()), Some(a), "ALL and as_str agree with serde");
    }
    for s in Scenario::ALL {
        assert!(s.actions().iter().all(|a| GapAction::ALL.contains(a)));
    }
}

#[test]
fn value_at_stake_keeps_cost_saving_and_revenue_apart() {
    let cs = BusinessCase { value_type: ValueType::CostSaving, annual_baseline: Money::parse("480000").unwrap(), target_pct: Decimal::from(15) };
    let rd = BusinessCase { value_type: ValueType::RevenueDriving, annual_baseline: Money::parse("2000000").unwrap(), target_pct: Decimal::from(5) };
    let v = value_at_stake([&cs, &rd, &cs]);
    assert_eq!(v.cost_saving, Money::parse("144000").unwrap());
    assert_eq!(v.revenue_driving, Money::parse("100000").unwrap());
}

/// Issue 12 item 8: Attribution Not Enabled is an account's condition. An
/// account whose other AI rows carry principals (principal data is on) does
/// not raise it for a few rows without one, and guardrail rows (never with a
/// principal) neither raise it nor count as principals.
#[test]
fn attribution_not_enabled_is_raised_per_account_only_where_no_row_has_a_principal() {
    let x = session("x", OTHER);
    let obs = World::new().detect(vec![
        row(3, ACCT, HAIKU_IN, None, "1"),
        guardrail_row(3, "arn:aws:bedrock:us-east-1:111122223333:guardrail/g1", "0.5"),
        row(4, OTHER, HAIKU_IN, None, "2"),
        row(5, OTHER, HAIKU_IN, Some(&x), "3"),
    ]);
    let g = of(&obs, Scenario::AttributionNotEnabled);
    assert_eq!(g.iter().map(|o| (o.key.as_str(), o.spend)).collect::<Vec<_>>(), [(ACCT, Money::parse("1").unwrap())]);
    assert_eq!(of(&obs, Scenario::UnallocatedGuardrailCost).len(), 1);
}

/// Issue 12 item 13: a dollar out of budget scope and unattributed lies in two
/// gaps; each gap shows it, the headline counts it once.
#[test]
fn the_headline_counts_a_dollar_in_two_gaps_once() {
    let mut w = World::new();
    w.scopes.push(scope(HAIKU, ACCT, "us-east-1"));
    w.workloads.push(workload("chat", Some(1), true, false));
    let claimed = session("finops-chat-ab12", ACCT);
    let x = session("x", OTHER);
    let obs = w.detect(vec![
        row(5, ACCT, HAIKU_IN, Some(&claimed), "1"),                        // attributed, in scope: missing case only
        row(6, ACCT, "USW2-Claude3Haiku-input-tokens", Some(&claimed), "2"), // attributed, out of scope: both
        row(7, OTHER, HAIKU_IN, Some(&x), "4"),                              // no budget allocation and out of scope
        row(8, OTHER, "USE1-NovaLite-input-tokens", Some(&x), "8"),          // no budget allocation only
    ]);
    let gaps = reconcile(period(), &[], obs, at(10));
    let spend = |s: Scenario| gaps.iter().filter(|g| g.scenario == s).map(|g| g.spend).sum::<Money>();
    assert_eq!(spend(Scenario::OutOfBudgetScope), Money::parse("6").unwrap());
    assert_eq!(spend(Scenario::MissingBusinessCase), Money::parse("3").unwrap());
    assert_eq!(spend(Scenario::NoBudgetAllocation), Money::parse("12").unwrap());
    let h = headline(&gaps);
    assert_eq!(h.open_spend, Money::parse("15").unwrap(), "1 + 2 + 4 + 8, each dollar once; the gaps list 21");
    assert_eq!(h.by_scenario.iter().map(|s| s.spend).sum::<Money>(), Money::parse("21").unwrap());
    assert_eq!(h.open, gaps.len());
    // A shared gap that is resolved no longer shares: its dollars count in the open one.
    let mut some_closed = gaps.clone();
    for g in some_closed.iter_mut().filter(|g| g.scenario == Scenario::MissingBusinessCase) {
        g.auto_resolve(at(11));
    }
    assert_eq!(headline(&some_closed).open_spend, Money::parse("14").unwrap(), "the resolved case's 3 drops out; its 2 still counts, out of scope");
}
