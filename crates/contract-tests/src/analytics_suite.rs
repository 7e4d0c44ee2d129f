//! Gaps, spend cards and maturity over stored facts and governance state,
//! asserted the same way in every world (embedded store, DynamoDB Local).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain::analytics::cards::{CardStatus, SpendCard};
use domain::analytics::gaps::{Gap, GapAction, GapStatus, Scenario};
use domain::cur::attribution::{Outcome, Reason};
use domain::cur::facts::{outcomes, CurRow, Facts};
use domain::governance::claims::ClaimKind;
use domain::governance::tasks::{Task, TaskKind};
use domain::{AccountId, Actor, IsoWeek, Money, NodeId, Persona, UserId, WorkloadId};
use rust_decimal::Decimal;
use services::governance::{ClaimInput, DisputeInput, GapActionInput, GovernanceError, ResolveInput, RollupInput, SourceFacts};
use services::ports::bus::{DomainEvent, EventHandler};

use crate::attribution_suite::{fixture, generated, period};
use crate::governed_world::{actor, cloud_engineer, finops_lead, product_owner, World};

fn m(s: &str) -> Money {
    Money::parse(s).expect("money")
}

pub(crate) async fn store(w: &World, source: &str, facts: &Facts) {
    w.gov
        .store_source_facts(SourceFacts { period: period(), source, facts, rows: facts.ai_rows(), principal_column: true, version: None, delivery: None })
        .await
        .expect("store facts");
}

/// Generated February CUR and the generator's governance state (for handler tests).
pub async fn store_generated(w: &World, seed: u64) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), seed, 3000, 0.5);
    store(w, "s3://cur/feb.parquet", &facts).await;
    w.gov.import(&finops_lead(), fixture()).await.expect("import");
}

pub(crate) async fn stored_gaps(w: &World) -> Vec<Gap> {
    w.gov.gaps_report(&finops_lead(), period()).await.expect("gaps").gaps
}

pub(crate) fn find<'a>(gaps: &'a [Gap], s: Scenario, key_part: &str) -> &'a Gap {
    gaps.iter().find(|g| g.scenario == s && g.key.contains(key_part)).unwrap_or_else(|| panic!("no {s} gap with {key_part}: {gaps:#?}"))
}

async fn audit_actions(w: &World, kind: &str, id: &str) -> Vec<(String, String, Option<String>)> {
    w.gov.audit_trail(&finops_lead(), kind, id).await.expect("audit").into_iter().map(|r| (r.action, r.actor.user.to_string(), r.rationale)).collect()
}

/// Generated CUR with the generator's governance state: every reason-derived
/// gap's spend adds up to the report's unattributed spend for that reason, and
/// detecting again writes nothing.
pub async fn detected_gaps_match_attribution_and_redetection_writes_nothing(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 7, 8000, 0.5);
    store(&w, "s3://cur/feb.parquet", &facts).await;
    let lead = finops_lead();
    w.gov.import(&lead, fixture()).await.expect("import");
    let first = w.gov.detect_gaps(period()).await.expect("detect");
    assert!(first.opened > 0 && first.opened == first.holding, "{first:?}");
    let report = w.gov.attribution_report(&lead, period()).await.expect("report");
    let gaps = stored_gaps(&w).await;
    let spend = |s: Scenario| gaps.iter().filter(|g| g.scenario == s).map(|g| g.spend).sum::<Money>();
    let reason = |r: Reason| report.unattributed_by_reason.iter().find(|x| x.reason == r).map(|x| x.cost).unwrap_or_default();
    for (s, r) in [
        (Scenario::AttributionNotEnabled, Reason::AttributionNotEnabled),
        (Scenario::UnattributedSpend, Reason::BroadRole),
        (Scenario::NoBudgetAllocation, Reason::NoBudgetAllocation),
        (Scenario::UnclaimedWorkload, Reason::UnclaimedWorkload),
        (Scenario::UnallocatedGuardrailCost, Reason::UnallocatedGuardrail),
    ] {
        assert!(spend(s) > Money::ZERO, "{s} appears in generated CUR");
        assert_eq!(spend(s), reason(r), "{s} gaps add up to {r:?} spend");
    }
    // search has an estimate and no business case; support-bot has its case.
    assert_eq!(find(&gaps, Scenario::MissingBusinessCase, "search").context.owner.as_ref().map(UserId::as_str), Some("po-search@example.com"));
    assert!(!gaps.iter().any(|g| g.scenario == Scenario::MissingBusinessCase && g.key == "support-bot"));
    let g = &gaps[0];
    assert_eq!(audit_actions(&w, "gap", &g.id).await, [("detected".into(), "gap-detector".into(), Some("condition holds".into()))]);

    let again = w.gov.detect_gaps(period()).await.expect("detect");
    assert_eq!((again.opened, again.updated, again.auto_resolved, again.reopened), (0, 0, 0, 0), "{again:?}");
    assert_eq!(stored_gaps(&w).await, gaps);
    // The routed event does the same: a duplicate CurPeriodIngested is harmless.
    let handler = services::governance::GapDetectorHandler(w.gov.clone());
    let event = DomainEvent {
        id: "e1".into(),
        detail_type: "CurPeriodIngested".into(),
        time: chrono::Utc::now(),
        correlation_id: "c1".into(),
        detail: serde_json::json!({"period": "2026-02"}),
    };
    handler.handle(&event).await.expect("handled");
    handler.handle(&event).await.expect("handled twice");
    assert_eq!(stored_gaps(&w).await, gaps);
    assert_eq!(audit_actions(&w, "gap", &g.id).await.len(), 1);
}

const ACCT: &str = "111122223333";

/// A February Bedrock usage row.
pub fn row(day: u32, account: &str, usage_type: &str, principal: Option<&str>, cost: &str) -> CurRow {
    CurRow {
        usage_day: NaiveDate::from_ymd_opt(2026, 2, day).expect("day"),
        account: AccountId::parse(account).expect("account"),
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
        cost: cost.parse().expect("cost"),
    }
}

pub(crate) fn session(role: &str) -> String {
    format!("arn:aws:sts::{ACCT}:assumed-role/{role}/app")
}

const GR: &str = "arn:aws:bedrock:us-east-1:111122223333:guardrail/gr9999zzzz";

/// February usage that raises every scenario, given the state `actions_world` builds.
fn scenario_rows(chatbot_role: &str) -> Facts {
    let mut guardrail = row(4, ACCT, "USE1-Guardrail-ContentPolicyUnitsConsumed", Some(""), "0.40");
    guardrail.operation = "ApplyGuardrail".into();
    guardrail.resource_id = Some(GR.into());
    let mut f = Facts::default();
    for r in [
        row(2, "999988887777", "USE1-Claude3Haiku-input-tokens", None, "5.00"),
        row(3, ACCT, "USE1-Claude3Haiku-input-tokens", Some(&session("AWSReservedSSO_AdministratorAccess_12ab")), "7.00"),
        row(3, ACCT, "USE1-Claude3Haiku-input-tokens", Some(&session("payments-batch")), "11.00"),
        row(5, ACCT, "USE1-NovaLite-input-tokens", Some(&session("etl-nightly")), "3.00"),
        row(6, ACCT, "USW2-Claude3Haiku-input-tokens", Some(&session(chatbot_role)), "13.00"),
        guardrail,
    ] {
        f.add(r);
    }
    f
}

/// Support Chatbot approved (its role unclaimed), Search Helper approved without a
/// business case and claimed from 1 February; then February's scenario rows.
async fn actions_world(w: &World) -> (String, WorkloadId, services::governance::ApprovalRecord) {
    let (_, chatbot) = crate::governed_suite::approved(w, "Support Chatbot").await;
    let po = product_owner();
    let mut d = crate::governed_suite::draft("Search Helper");
    d.business_case = None;
    let r = w.gov.create_request(&po, d).await.expect("create");
    w.gov.submit_request(&po, &r.id).await.expect("submit");
    let helper = w.gov.approve_request(&finops_lead(), &r.id, crate::governed_suite::approval()).await.expect("approve");
    w.gov
        .claim(
            &finops_lead(),
            ClaimInput {
                workload: helper.workload.clone(),
                kind: ClaimKind::IamRole,
                arn: format!("arn:aws:iam::{ACCT}:role/{}", helper.role_name),
                claimed_at: NaiveDate::from_ymd_opt(2026, 2, 1),
                rationale: Some("the role served this workload since February".into()),
            },
        )
        .await
        .expect("claim");
    store(w, "s3://cur/feb-scenarios.parquet", &scenario_rows(&chatbot.role_name)).await;
    w.gov.detect_gaps(period()).await.expect("detect");
    (chatbot.role_name.clone(), helper.workload, chatbot)
}

pub(crate) fn input(action: GapAction, rationale: &str) -> GapActionInput {
    GapActionInput { action, rationale: rationale.into(), owner: None, portfolio: None, name: None, workload: None, request: None, suspend: false }
}

pub async fn every_scenario_is_raised_and_its_action_does_the_real_thing(w: World) {
    let (chatbot_role, helper, chatbot) = actions_world(&w).await;
    let fl = finops_lead();
    let pat = product_owner();
    let all = stored_gaps(&w).await;
    let mut scenarios: Vec<Scenario> = all.iter().map(|g| g.scenario).collect();
    scenarios.sort();
    scenarios.dedup();
    assert_eq!(scenarios, Scenario::ALL, "{all:#?}");

    // Attribution Not Enabled → the CUR 2.0 export command with IAM principal data.
    let g = find(&all, Scenario::AttributionNotEnabled, "999988887777");
    let out = w.gov.gap_action(&fl, &g.id, input(GapAction::GuidedSetup, "payer admin to enable the export")).await.expect("setup");
    assert!(out.outcome["command"].as_str().is_some_and(|c| c.starts_with("aws bcm-data-exports create-export") && c.contains("\"INCLUDE_IAM_PRINCIPAL_DATA\":\"TRUE\"")));
    assert_eq!(out.gap.status, GapStatus::Actioned);

    // Unattributed Spend → a Draft request for the owner, who is told.
    let g = find(&all, Scenario::UnattributedSpend, "AWSReservedSSO");
    let mut i = input(GapAction::CreateRequest, "the data team needs its own role");
    (i.owner, i.portfolio) = (Some(pat.user.clone()), Some(NodeId::parse("assist").expect("node")));
    let out = w.gov.gap_action(&fl, &g.id, i).await.expect("create request");
    let rid = domain::RequestId::parse(out.outcome["request"].as_str().expect("request id")).expect("id");
    let req = w.gov.get_request(&pat, &rid).await.expect("request");
    assert_eq!((req.requester.as_str(), req.status.as_str()), (pat.user.as_str(), "Draft"));
    assert!(req.draft.description.contains(&g.id));
    assert!(w.gov.inbox(&pat).await.expect("inbox").iter().any(|n| n.kind == "request_prefilled"));
    assert_eq!(audit_actions(&w, "business_request", rid.as_str()).await[0].0, "create_for_owner");

    // No Budget Allocation → Approve writes the scope for that model, account and region.
    let g = find(&all, Scenario::NoBudgetAllocation, "payments-batch");
    let mut i = input(GapAction::Approve, "payments may use Haiku");
    (i.owner, i.portfolio, i.name) = (Some(pat.user.clone()), Some(NodeId::parse("assist").expect("node")), Some("Payments Batch".into()));
    let out = w.gov.gap_action(&fl, &g.id, i).await.expect("approve");
    let scope = &out.outcome["scope"];
    assert_eq!((scope["model"].as_str(), scope["accounts"][0].as_str(), scope["regions"][0].as_str()), (Some("anthropic.claude-3-haiku-20240307-v1:0"), Some(ACCT), Some("us-east-1")));
    let approved = domain::RequestId::parse(out.outcome["request"].as_str().expect("id")).expect("id");
    let record = w.gov.approval(&approved).await.expect("approval").expect("approved");
    assert_eq!(out.outcome["role_name"].as_str(), Some(record.role_name.as_str()));
    let trail: Vec<String> = audit_actions(&w, "business_request", approved.as_str()).await.into_iter().map(|a| a.0).collect();
    assert_eq!(trail[..2], ["create_for_owner", "approve"], "opened and approved in one write, then its tasks: {trail:?}");
    assert_eq!(w.gov.get_request(&pat, &approved).await.expect("request").status.as_str(), "Approved");

    // … or Block, asking the kill switch to suspend.
    let g = find(&all, Scenario::NoBudgetAllocation, "etl-nightly");
    let mut i = input(GapAction::Block, "Nova is not approved for ETL");
    i.suspend = true;
    let out = w.gov.gap_action(&fl, &g.id, i).await.expect("block");
    assert_eq!((out.outcome["blocked"]["model"].as_str(), out.outcome["blocked"]["suspend_requested"].as_bool()), (Some("amazon.nova-lite-v1:0"), Some(true)));

    // Out of Budget Scope → Add Scope; with two Haiku scopes the approval must be named.
    let g = find(&all, Scenario::OutOfBudgetScope, "us-west-2");
    let err = w.gov.gap_action(&fl, &g.id, input(GapAction::AddScope, "HA needs us-west-2")).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Invalid(f) if f.field == "request"), "{err:?}");
    let mut i = input(GapAction::AddScope, "HA needs us-west-2");
    i.request = Some(chatbot.request.clone());
    let out = w.gov.gap_action(&fl, &g.id, i).await.expect("add scope");
    assert!(out.outcome["scope"]["regions"].as_array().is_some_and(|r| r.iter().any(|x| x == "us-west-2")));
    // … which the role's policy must follow: a Cloud Engineer task, numbered after
    // the approval's own tasks even where they are generated only now.
    let widen = out.outcome["task"].as_str().expect("a widening task").to_owned();
    w.gov.reconcile_task_sets().await.expect("tasks");
    let ce = cloud_engineer();
    let t = w.gov.get_task(&ce, &widen).await.expect("task");
    assert_eq!(t.kind, TaskKind::WidenAccess);
    assert!(t.steps.iter().any(|s| s.commands.iter().any(|c| c.contains("put-role-policy")) && s.commands[0].contains("bedrock:us-west-2::foundation-model")), "{t:#?}");
    let chatbot_tasks: Vec<Task> = w.gov.list_tasks(&ce, true).await.expect("tasks").into_iter().filter(|t| t.request == chatbot.request).collect();
    assert_eq!(chatbot_tasks.len(), 2, "the approval's task and the widening: {chatbot_tasks:#?}");
    for t in &chatbot_tasks {
        for n in 1..=t.steps.len() {
            w.gov.complete_step(&ce, &t.id, n).await.expect("step");
        }
    }
    let ready = |inbox: Vec<services::governance::InboxItem>| inbox.iter().filter(|n| n.kind == "ready_to_claim" && n.body["workload"] == chatbot.workload.as_str()).count();
    assert_eq!(ready(w.gov.inbox(&pat).await.expect("inbox")), 1, "Ready to Claim once every task, the widening included, is done");

    // … or Flag CE to move: a task to find the caller and move it into the scope,
    // whose completion leaves the Ready-to-Claim workload where it is.
    let g = find(&all, Scenario::OutOfBudgetScope, "999988887777");
    let mut i = input(GapAction::FlagMove, "the sandbox account must not run Haiku");
    i.request = Some(chatbot.request.clone());
    let out = w.gov.gap_action(&fl, &g.id, i).await.expect("flag move");
    let mv = w.gov.get_task(&ce, out.outcome["task"].as_str().expect("task")).await.expect("task");
    assert_eq!((mv.kind, mv.account.as_str()), (TaskKind::MoveIntoScope, "999988887777"));
    for n in 1..=mv.steps.len() {
        w.gov.complete_step(&ce, &mv.id, n).await.expect("step");
    }
    assert_eq!(w.gov.get_workload(&fl, &chatbot.workload).await.expect("workload").status.as_str(), "ReadyToClaim");
    assert_eq!(ready(w.gov.inbox(&pat).await.expect("inbox")), 1, "no second Ready to Claim");

    // Unclaimed Workload → the owner of the workload whose workflow made the role.
    let g = find(&all, Scenario::UnclaimedWorkload, &chatbot_role);
    w.gov.gap_action(&fl, &g.id, input(GapAction::NotifyOwner, "please claim your role")).await.expect("notify");
    assert!(w.gov.inbox(&pat).await.expect("inbox").iter().any(|n| n.kind == "claim_role" && n.body["role_arn"].as_str().is_some_and(|a| a.ends_with(&chatbot_role))));

    // Unallocated Guardrail Cost → Assign to Workload claims the guardrail.
    let g = find(&all, Scenario::UnallocatedGuardrailCost, GR);
    let mut i = input(GapAction::AssignToWorkload, "the chatbot's guardrail");
    i.workload = Some(chatbot.workload.clone());
    w.gov.gap_action(&fl, &g.id, i).await.expect("assign");
    let claims = w.gov.claims_of(&fl, &chatbot.workload).await.expect("claims");
    assert!(claims.iter().any(|c| c.target.kind == ClaimKind::Guardrail && c.target.arn == GR));

    // Missing Business Case → the owner is asked.
    let g = find(&all, Scenario::MissingBusinessCase, helper.as_str());
    w.gov.gap_action(&fl, &g.id, input(GapAction::RequestBusinessCase, "spend without a declared value")).await.expect("ask");
    assert!(w.gov.inbox(&pat).await.expect("inbox").iter().any(|n| n.kind == "business_case_requested"));

    // Every action is in the gap's audit trail with actor and rationale.
    let actioned: Vec<Gap> = stored_gaps(&w).await.into_iter().filter(|g| g.status == GapStatus::Actioned).collect();
    assert_eq!(actioned.len(), 9);
    for g in actioned {
        let trail = audit_actions(&w, "gap", &g.id).await;
        let last = trail.last().expect("audited");
        assert_eq!(last.1, fl.user.as_str(), "{} {trail:?}", g.scenario);
        assert!(last.2.as_deref().is_some_and(|r| !r.is_empty()));
    }

    // Re-detection: the added scope resolves the out-of-scope gap automatically;
    // the decisions on the others are kept.
    let summary = w.gov.detect_gaps(period()).await.expect("detect");
    assert_eq!(summary.auto_resolved, 1, "{summary:?}");
    let now = stored_gaps(&w).await;
    let oos = find(&now, Scenario::OutOfBudgetScope, "us-west-2");
    assert_eq!(oos.status, GapStatus::Resolved);
    assert_eq!(audit_actions(&w, "gap", &oos.id).await.last().map(|a| a.0.clone()), Some("auto_resolved".into()));
    assert_eq!(find(&now, Scenario::UnallocatedGuardrailCost, GR).status, GapStatus::Actioned, "claims are not retroactive: February stays unallocated");

    // Recall sends a decision back to Active, with the trail kept.
    let g = find(&now, Scenario::NoBudgetAllocation, "etl-nightly");
    let out = w.gov.gap_action(&fl, &g.id, input(GapAction::Recall, "ETL got a budget after all")).await.expect("recall");
    assert_eq!(out.gap.status, GapStatus::Active);
    let trail: Vec<String> = audit_actions(&w, "gap", &g.id).await.into_iter().map(|a| a.0).collect();
    assert_eq!(trail, ["detected", "block", "recall"]);
}

pub async fn gap_actions_refuse_bad_input_and_other_personas(w: World) {
    actions_world(&w).await;
    let all = stored_gaps(&w).await;
    let fl = finops_lead();
    let g = find(&all, Scenario::UnallocatedGuardrailCost, GR);
    let before = stored_gaps(&w).await;
    let err = w.gov.gap_action(&product_owner(), &g.id, input(GapAction::AssignToWorkload, "mine")).await.unwrap_err();
    assert!(matches!(err, GovernanceError::Forbidden(_)), "{err:?}");
    assert!(audit_actions(&w, "gap", &g.id).await.iter().any(|a| a.0.starts_with("forbidden:")), "the refusal is audited");
    let err = w.gov.gap_action(&fl, &g.id, input(GapAction::AssignToWorkload, " ")).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Invalid(f) if f.field == "rationale"), "{err:?}");
    let err = w.gov.gap_action(&fl, &g.id, input(GapAction::AddScope, "why")).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Invalid(f) if f.field == "action"), "{err:?}");
    let err = w.gov.gap_action(&fl, &g.id, input(GapAction::AssignToWorkload, "no workload named")).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Invalid(f) if f.field == "workload"), "{err:?}");
    let mut i = input(GapAction::AssignToWorkload, "a workload that does not exist");
    i.workload = Some(WorkloadId::parse("nope").expect("id"));
    let err = w.gov.gap_action(&fl, &g.id, i).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Invalid(f) if f.field == "workload"), "{err:?}");
    let err = w.gov.gap_action(&fl, "gap-202602-0000000000000000", input(GapAction::Resolve, "x")).await.unwrap_err();
    assert!(matches!(err, GovernanceError::NotFound { .. }), "{err:?}");
    // An Approve refused half-way (the FinOps Lead would own the request) leaves
    // no request, scope or workload behind: they are written with the gap or not at all.
    let nba = find(&all, Scenario::NoBudgetAllocation, "payments-batch");
    let requests_before = w.gov.list_requests(&fl, None).await.expect("requests");
    let scopes_before = w.gov.approval_scopes().await.expect("scopes");
    let mut i = input(GapAction::Approve, "approving for myself");
    (i.owner, i.portfolio) = (Some(fl.user.clone()), Some(NodeId::parse("assist").expect("node")));
    let err = w.gov.gap_action(&fl, &nba.id, i).await.unwrap_err();
    assert!(matches!(err, GovernanceError::Forbidden(_)), "{err:?}");
    assert_eq!(w.gov.list_requests(&fl, None).await.expect("requests"), requests_before);
    assert_eq!(w.gov.approval_scopes().await.expect("scopes"), scopes_before);
    assert_eq!(stored_gaps(&w).await, before, "refusals change no gap");
    w.gov.gap_action(&fl, &g.id, input(GapAction::Resolve, "accepted as platform overhead")).await.expect("resolve");
    let err = w.gov.gap_action(&fl, &g.id, input(GapAction::Resolve, "again")).await.unwrap_err();
    assert!(matches!(err, GovernanceError::Conflict(_)), "{err:?}");
}

pub async fn a_gap_that_stops_holding_resolves_and_reopens_with_its_history(w: World) {
    actions_world(&w).await;
    let g = find(&stored_gaps(&w).await, Scenario::UnattributedSpend, "AWSReservedSSO").clone();
    // The source is re-delivered without the SSO usage (a corrected CUR): the gap resolves.
    let mut corrected = scenario_rows("none");
    corrected.retain(|k, _| !k.principal.is_some_and(|p| p.contains("AWSReservedSSO")));
    store(&w, "s3://cur/feb-scenarios.parquet", &corrected).await;
    w.gov.detect_gaps(period()).await.expect("detect");
    assert_eq!(find(&stored_gaps(&w).await, Scenario::UnattributedSpend, "AWSReservedSSO").status, GapStatus::Resolved);
    // It comes back: the gap reopens, same id, history kept.
    store(&w, "s3://cur/feb-scenarios.parquet", &scenario_rows("none")).await;
    let s = w.gov.detect_gaps(period()).await.expect("detect");
    assert!(s.reopened >= 1, "{s:?}");
    let back = find(&stored_gaps(&w).await, Scenario::UnattributedSpend, "AWSReservedSSO").clone();
    assert_eq!((back.id.as_str(), back.status), (g.id.as_str(), GapStatus::Active));
    let trail: Vec<String> = audit_actions(&w, "gap", &g.id).await.into_iter().map(|a| a.0).collect();
    assert_eq!(trail, ["detected", "auto_resolved", "reopened"]);
}

// ---- spend cards ---------------------------------------------------------------

pub fn week() -> IsoWeek {
    // The world's clock is Monday 2 March 2026: the week to build is 23 Feb .. 1 Mar.
    domain::analytics::cards::week_to_build(NaiveDate::from_ymd_opt(2026, 3, 2).expect("day"))
}

fn portfolio_owner() -> Actor {
    actor("olga@example.com", Persona::PortfolioOwner, &["assist"])
}

/// The workload's attributed usage in a week, computed straight from the facts.
async fn attributed_in(w: &World, facts: &Facts, workload: &str, wk: IsoWeek) -> Money {
    let attributor = w.gov.attributor().await.expect("attributor");
    outcomes(period(), facts, &attributor)
        .filter(|(k, _, o)| wk.contains(k.usage_day) && matches!(o, Outcome::Attributed { workload: x, .. } if x.as_str() == workload))
        .map(|(_, v, _)| v.cost)
        .sum()
}

/// The Product Owner who owns a card's workload (the fixture's owners sit under `assist`).
pub fn owner_of(c: &SpendCard) -> Actor {
    actor(c.owner.as_str(), Persona::ProductOwner, &["assist"])
}

async fn card(w: &World, id: &str) -> SpendCard {
    w.gov.get_card(&finops_lead(), id).await.expect("card")
}

pub async fn cards_are_built_reviewed_and_rolled_up(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 11, 6000, 0.5);
    store(&w, "s3://cur/feb.parquet", &facts).await;
    let lead = finops_lead();
    w.gov.import(&lead, fixture()).await.expect("import");
    let built = w.gov.build_cards(week()).await.expect("build");
    assert_eq!((built.built, built.updated), (4, 0), "{built:?}");
    let again = w.gov.build_cards(week()).await.expect("build");
    assert_eq!((again.built, again.updated, again.unchanged), (0, 0, 4), "a rebuild on the same data writes nothing");

    let chat = card(&w, &format!("{}.chat", week())).await;
    assert_eq!(chat.actual, attributed_in(&w, &facts, "chat", week()).await);
    assert!(chat.actual > Money::ZERO);
    // 90 000 a month: 6 February days of 28 and 1 March day of 31.
    let expected = Decimal::from(90000) * Decimal::from(6) / Decimal::from(28) + Decimal::from(90000) / Decimal::from(31);
    assert_eq!(chat.estimate, Money::new(expected.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)));
    assert_eq!(chat.lines.iter().map(|l| l.cost).sum::<Money>(), chat.actual);

    let pat = actor("pat@example.com", Persona::ProductOwner, &["assist"]);
    let olga = portfolio_owner();
    let ids: Vec<String> = w.gov.cards(&lead, week()).await.expect("cards").into_iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 4);
    // Another Product Owner in scope reads the card but cannot settle it.
    let err = w.gov.accept_card(&pat, &chat.id).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Forbidden(m) if m.contains("po-chat@example.com")), "{err:?}");
    assert!(audit_actions(&w, "spend_card", &chat.id).await.iter().any(|a| a.0 == "forbidden:ReviewCard" && a.1 == "pat@example.com"), "the refusal is audited");
    assert_eq!(card(&w, &chat.id).await.status, CardStatus::Open);
    w.gov.accept_card(&owner_of(&chat), &chat.id).await.expect("accept");
    let search_id = format!("{}.search", week());
    let search = card(&w, &search_id).await;
    let search_owner = owner_of(&search);
    let line = search.lines.first().map(|l| l.id.clone()).unwrap_or_default();
    assert!(matches!(w.gov.dispute_card(&pat, &search_id, DisputeInput { lines: vec![line.clone()], reason: "not mine".into() }).await, Err(GovernanceError::Forbidden(_))));
    let err = w.gov.dispute_card(&search_owner, &search_id, DisputeInput { lines: vec!["nope".into()], reason: "x".into() }).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Invalid(f) if f.field == "lines"), "{err:?}");
    w.gov.dispute_card(&search_owner, &search_id, DisputeInput { lines: vec![line], reason: "load test, not production".into() }).await.expect("dispute");
    assert_eq!(w.gov.disputed_cards(&lead).await.expect("queue").iter().map(|c| c.id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&search_id));
    assert!(matches!(w.gov.resolve_dispute(&pat, &search_id, ResolveInput { rationale: "mine".into() }).await, Err(GovernanceError::Forbidden(_))));

    // The chargeback export waits for every card of the month's weeks (a
    // week belongs to the month of its Sunday) and names what is open.
    let month = domain::BillingPeriod::of(week().sunday());
    let err = w.gov.chargeback_export(&lead, month).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Conflict(m) if m.contains(&format!("card {search_id} is Disputed")) && m.contains("not approved")), "{err:?}");
    // The rollup waits for every card of the portfolio.
    let assist = NodeId::parse("assist").expect("node");
    let err = w.gov.approve_rollup(&olga, &assist, week(), RollupInput::default()).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Conflict(m) if m.contains("search") && m.contains("Disputed")), "{err:?}");
    w.gov.resolve_dispute(&lead, &search_id, ResolveInput { rationale: "agreed: moved to the test budget".into() }).await.expect("resolve");
    assert!(w.gov.disputed_cards(&lead).await.expect("queue").is_empty());
    for id in &ids {
        let c = card(&w, id).await;
        if c.status == CardStatus::Open {
            w.gov.accept_card(&owner_of(&c), id).await.expect("accept");
        }
    }
    assert!(matches!(w.gov.approve_rollup(&pat, &assist, week(), RollupInput::default()).await, Err(GovernanceError::Forbidden(_))));
    let err = w.gov.chargeback_export(&lead, month).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Conflict(m) if m.contains(&format!("rollup {}.assist is not approved", week())) && !m.contains("card ")), "{err:?}");
    let r = w.gov.approve_rollup(&olga, &assist, week(), RollupInput { rationale: Some("week closed".into()) }).await.expect("rollup");
    // Settled and approved: the chargeback is produced, one line per
    // workload and per node above it, from the cards' own chargeback.
    let table = w.gov.chargeback_export(&lead, month).await.expect("chargeback");
    let col = |n: &str| table.index(n).expect("column");
    let text = |row: &Vec<domain::exports::Value>, c: usize| match &row[c] {
        domain::exports::Value::Text(Some(t)) => t.clone(),
        other => panic!("{other:?}"),
    };
    let money = |row: &Vec<domain::exports::Value>| match &row[col("Chargeback")] {
        domain::exports::Value::Decimal(Some(d)) => Money::new(*d),
        other => panic!("{other:?}"),
    };
    let workloads: Vec<_> = table.rows.iter().filter(|r| text(r, col("Level")) == "E4").collect();
    assert_eq!(workloads.len(), 4);
    assert_eq!(workloads.iter().map(|r| money(r)).sum::<Money>(), r.chargeback);
    let chat_line = workloads.iter().find(|r| text(r, col("Node")) == "chat").expect("chat's line");
    assert_eq!(text(chat_line, col("Cards")), chat.id);
    assert!(text(chat_line, col("Rollups")).starts_with(&format!("{}.assist@", week())));
    let assist_line = table.rows.iter().find(|r| text(r, col("Node")) == "assist").expect("the portfolio's line");
    assert_eq!(money(assist_line), r.chargeback);
    assert!(matches!(w.gov.chargeback_export(&pat, month).await, Err(GovernanceError::Forbidden(_))));
    let mut sum = Money::ZERO;
    for id in &ids {
        sum += card(&w, id).await.chargeback;
    }
    assert_eq!((r.cards.len(), r.chargeback), (4, sum));
    let err = w.gov.approve_rollup(&olga, &assist, week(), RollupInput::default()).await.unwrap_err();
    assert!(matches!(err, GovernanceError::Conflict(_)), "an approved rollup is immutable: {err:?}");
    assert_eq!(w.gov.get_rollup(&olga, &assist, week()).await.expect("rollup"), r);
    let trail: Vec<String> = w.gov.audit_trail(&lead, "spend_card", &search_id).await.expect("audit").into_iter().map(|a| a.action).collect();
    assert_eq!(trail, ["build", "forbidden:ReviewCard", "dispute", "forbidden:ResolveDispute", "resolve"]);
}

pub async fn late_data_leaves_settled_cards_alone_and_lands_on_the_next_card(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 13, 4000, 0.5);
    store(&w, "s3://cur/feb.parquet", &facts).await;
    w.gov.import(&finops_lead(), fixture()).await.expect("import");
    w.gov.build_cards(week()).await.expect("build");
    let chat_id = format!("{}.chat", week());
    let search_id = format!("{}.search", week());
    w.gov.accept_card(&owner_of(&card(&w, &chat_id).await), &chat_id).await.expect("accept");
    let settled = card(&w, &chat_id).await;
    let search = card(&w, &search_id).await;
    let search_line = search.lines.first().map(|l| l.id.clone()).expect("search has usage");
    w.gov.dispute_card(&owner_of(&search), &search_id, DisputeInput { lines: vec![search_line], reason: "looks high".into() }).await.expect("dispute");

    // Late CUR: more chat and search usage on 25 February.
    let mut late = Facts::default();
    late.add(row(25, ACCT, "USE1-Claude3Haiku-input-tokens", Some(&session("finops-chat-ab12")), "4.25"));
    let s = row(25, "444455556666", "USE1-NovaLite-input-tokens", Some("arn:aws:sts::444455556666:assumed-role/finops-search-cd34/app"), "1.50");
    late.add(s);
    store(&w, "s3://cur/feb-late.parquet", &late).await;
    let rebuilt = w.gov.build_cards(week()).await.expect("rebuild");
    assert_eq!((rebuilt.settled, rebuilt.updated), (1, 1), "{rebuilt:?}");
    assert_eq!(card(&w, &chat_id).await, settled, "a settled card never changes");
    let search = card(&w, &search_id).await;
    assert_eq!((search.status, search.revision, search.disputes.len()), (CardStatus::Open, 2, 1), "the disputed card took the late data and is open again");

    // The next week's card carries the settled week's late data as a line, once.
    let next = week().next();
    w.clock.set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 9, 6, 0, 0).single().expect("time"));
    w.gov.build_cards(next).await.expect("build next");
    let chat_next = card(&w, &format!("{next}.chat")).await;
    let late_lines: Vec<_> = chat_next.lines.iter().filter(|l| l.late_for.is_some()).collect();
    assert_eq!(late_lines.len(), 1, "{chat_next:#?}");
    assert_eq!((late_lines[0].cost, late_lines[0].late_for), (m("4.25"), Some(week())));
    assert_eq!(chat_next.adjustments, m("4.25"));
    assert_eq!(chat_next.chargeback, chat_next.actual + m("4.25"));
    let again = w.gov.build_cards(next).await.expect("build next again");
    assert_eq!(again.updated + again.built, 0, "carried once: {again:?}");
}

pub async fn maturity_reports_the_four_dimensions_from_state(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 17, 5000, 0.5);
    store(&w, "s3://cur/feb.parquet", &facts).await;
    let lead = finops_lead();
    w.gov.import(&lead, fixture()).await.expect("import");
    let r = w.gov.attribution_report(&lead, period()).await.expect("report");
    let mat = w.gov.maturity(&lead, period()).await.expect("maturity");
    let dims: BTreeMap<&str, &domain::analytics::maturity::Dimension> = mat.maturity.dimensions.iter().map(|d| (d.name.as_str(), d)).collect();
    let attribution = dims["Workload Attribution"];
    let ai = (r.attributed + r.unattributed).amount();
    let want = (r.attributed.amount() * Decimal::ONE_HUNDRED / ai).round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(attribution.score, Some(want));
    assert_eq!(attribution.worth, r.unattributed);
    // chat and search carry estimates; support-bot and analytics do not.
    assert_eq!(dims["Estimate Coverage"].score, Some(Decimal::from(50)));
    assert_eq!(dims["Estimate Coverage"].figures, "2 of 4 claimed workloads have an estimate");
    assert_eq!(dims["Process Efficiency"].figures, "0 of 0 request-to-live journeys within SLA (0 overdue in flight)");
    assert_eq!(dims["Process Efficiency"].score, None, "nothing to measure is not a zero");
    assert!(mat.maturity.note.as_deref().is_some_and(|n| n.contains("Process Efficiency")));
    assert!(matches!(w.gov.maturity(&product_owner(), period()).await, Err(GovernanceError::Forbidden(_))));
}

/// Issue 12 item 4: Finance scoped to a portfolio sees the gaps of its
/// workloads and of the accounts they run in, not the organisation's, and
/// maturity measured over the same; the FinOps Lead and root-scoped Finance
/// keep the organisation. A gap outside the caller's scope is refused, audited.
pub async fn gaps_and_maturity_follow_the_callers_scope(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 23, 6000, 0.5);
    store(&w, "s3://cur/feb.parquet", &facts).await;
    let lead = finops_lead();
    w.gov.import(&lead, fixture()).await.expect("import");
    w.gov.detect_gaps(period()).await.expect("detect");
    let all = w.gov.gaps_report(&lead, period()).await.expect("lead's gaps");
    assert!(all.scope.is_none());
    // The fixture's workloads (all under `assist`) run in these two accounts.
    let theirs: Vec<AccountId> = ["111122223333", "444455556666"].iter().map(|a| AccountId::parse(a).expect("account")).collect();
    let outside = all.gaps.iter().find(|g| g.context.workload.is_none() && g.context.accounts_seen().iter().all(|a| !theirs.contains(a))).expect("a gap in another account");

    let assist = actor("fran@example.com", Persona::Finance, &["assist"]);
    let mine = w.gov.gaps_report(&assist, period()).await.expect("assist's gaps");
    assert_eq!(mine.scope, Some(vec![NodeId::parse("assist").expect("node")]));
    assert!(!mine.gaps.is_empty() && mine.gaps.len() < all.gaps.len(), "{} of {}", mine.gaps.len(), all.gaps.len());
    assert!(mine.gaps.iter().all(|g| g.context.workload.is_some() || g.context.accounts_seen().iter().any(|a| theirs.contains(a))));
    assert!(mine.open_spend < all.open_spend);
    assert_eq!(mine.by_scenario.iter().map(|s| s.open).sum::<usize>(), mine.open);
    assert!(matches!(w.gov.get_gap(&assist, &outside.id).await, Err(GovernanceError::Forbidden(_))));
    assert!(audit_actions(&w, "gap", &outside.id).await.iter().any(|(a, who, _)| a.starts_with("forbidden") && who == "fran@example.com"));
    assert_eq!(w.gov.get_gap(&assist, &mine.gaps[0].id).await.expect("in scope").id, mine.gaps[0].id);

    let payments = actor("pia@example.com", Persona::Finance, &["payments"]);
    let none = w.gov.gaps_report(&payments, period()).await.expect("payments' gaps");
    assert!(none.gaps.is_empty() && none.open_spend == Money::ZERO && none.value_at_stake == Default::default());
    let root = actor("fred@example.com", Persona::Finance, &["retail"]);
    assert_eq!(w.gov.gaps_report(&root, period()).await.expect("org").gaps, all.gaps);

    let org = w.gov.maturity(&lead, period()).await.expect("maturity");
    let scoped = w.gov.maturity(&payments, period()).await.expect("payments' maturity");
    assert_eq!(scoped.scope, Some(vec![NodeId::parse("payments").expect("node")]));
    let dim = |m: &services::governance::MaturityReport, name: &str| m.maturity.dimensions.iter().find(|d| d.name == name).map(|d| d.figures.clone()).expect("dimension");
    assert_ne!(dim(&org, "Estimate Coverage"), dim(&scoped, "Estimate Coverage"));
    assert!(dim(&scoped, "Estimate Coverage").starts_with("0 of 0"), "{}", dim(&scoped, "Estimate Coverage"));
    assert_eq!(w.gov.maturity(&root, period()).await.expect("org").maturity, org.maturity);
}

/// Issue 12 item 15: imported approvals and roles are first-class. Adding
/// scope to an imported approval (no request or approval record behind it)
/// gives the Cloud Engineer a task on the workload's claimed role, and an
/// imported workload's role name seen unclaimed in another account notifies
/// that workload's owner.
pub async fn gap_actions_work_on_imported_state(w: World) {
    let lead = finops_lead();
    w.gov.import(&lead, fixture()).await.expect("import");
    // chat is approved for Haiku in 111122223333/us-east-1 and claims
    // finops-chat-ab12 there; that role name also runs unclaimed in 444455556666,
    // and Haiku runs in us-west-2 outside the imported scope.
    let other = "444455556666";
    let mut f = Facts::default();
    for r in [
        row(4, ACCT, "USW2-Claude3Haiku-input-tokens", Some(&session("finops-chat-ab12")), "6.00"),
        row(5, other, "USE1-NovaLite-input-tokens", Some(&format!("arn:aws:sts::{other}:assumed-role/finops-chat-ab12/app")), "2.50"),
    ] {
        f.add(r);
    }
    store(&w, "s3://cur/feb-imported.parquet", &f).await;
    w.gov.detect_gaps(period()).await.expect("detect");
    let gaps = stored_gaps(&w).await;

    let g = find(&gaps, Scenario::OutOfBudgetScope, "us-west-2");
    let out = w.gov.gap_action(&lead, &g.id, input(GapAction::AddScope, "chat serves the west coast too")).await.expect("add scope on an imported approval");
    let task_id = out.outcome["task"].as_str().expect("a task").to_owned();
    let task = w.gov.get_task(&cloud_engineer(), &task_id).await.expect("task");
    assert_eq!(task.workload.as_str(), "chat");
    let commands = task.steps.iter().flat_map(|s| s.commands.iter()).cloned().collect::<Vec<_>>().join("\n");
    assert!(commands.contains("--role-name finops-chat-ab12"), "the claimed role: {commands}");
    assert!(out.outcome["scope"]["regions"].as_array().is_some_and(|r| r.iter().any(|x| x == "us-west-2")));

    let g = find(&gaps, Scenario::UnclaimedWorkload, "finops-chat-ab12");
    let out = w.gov.gap_action(&lead, &g.id, input(GapAction::NotifyOwner, "claim your role in the search account")).await.expect("notify an imported workload's owner");
    assert_eq!(out.outcome["workload"], "chat");
    let owner = out.outcome["notified"].as_str().expect("owner").to_owned();
    let po = actor(&owner, Persona::ProductOwner, &["assist"]);
    assert!(w.gov.inbox(&po).await.expect("inbox").iter().any(|m| m.kind == "claim_role"), "the owner is told");
}
