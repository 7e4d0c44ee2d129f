//! Agent Bill in every world (embedded store, DynamoDB Local): the same
//! questions asked by a Product Owner, Finance and the FinOps Lead get
//! different, correct scopes, with the attribution report's own numbers;
//! cross-scope questions are refused and audited; a sentence maps to its
//! question or to the list of what can be asked; a cached answer follows
//! new facts; a suspension needs its confirmation.

use std::collections::BTreeMap;

use domain::agent::answers::Figures;
use domain::governance::enforcement::EnforcementState;
use domain::{Money, Persona, WorkloadId};
use serde_json::{json, Map, Value};
use services::governance::agent::{Answer, AskInput};
use services::governance::{GovernanceError, MapTagInput, SourceFacts};

use crate::attribution_suite::{fixture, generated, period};
use crate::governed_world::{actor, finops_lead, product_owner, World};

fn args(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// February's facts, and the fixture's workloads split over two portfolios:
/// chat and support-bot under `assist`, search and analytics under `payments`.
pub async fn populated(w: &World, seed: u64) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), seed, 6000, 0.5);
    w.gov
        .store_source_facts(SourceFacts { period: period(), source: "s3://cur/data/BILLING_PERIOD=2026-02/a.parquet", facts: &facts, rows: facts.ai_rows(), principal_column: true, version: None, delivery: None })
        .await
        .expect("store facts");
    let mut doc = fixture();
    for wl in &mut doc.workloads {
        if matches!(wl.id.as_str(), "search" | "analytics") {
            wl.node = domain::NodeId::parse("payments").expect("node");
        }
        if wl.id.as_str() == "chat" {
            wl.map_migrated = Some("migCHAT12345".into());
        }
    }
    w.gov.import(&finops_lead(), doc).await.expect("import");
}

async fn ask_tool(w: &World, who: &domain::Actor, tool: &str, a: Value) -> Result<Answer, GovernanceError> {
    w.gov.answer_tool(who, tool, &args(a)).await
}

fn rows(a: &Answer) -> BTreeMap<String, Money> {
    match &a.figures {
        Figures::SpendBy { rows, .. } => rows.iter().map(|r| (r.key.clone(), r.cost)).collect(),
        other => panic!("not a breakdown: {other:?}"),
    }
}

pub async fn each_persona_gets_its_own_scope_with_the_reports_numbers(w: World) {
    populated(&w, 31).await;
    let lead = finops_lead();
    let report = w.gov.attribution_report(&lead, period()).await.expect("report");
    let by_workload: BTreeMap<String, Money> = report.by_workload.iter().map(|x| (x.workload.to_string(), x.cost)).collect();
    assert_eq!(by_workload.len(), 4, "{by_workload:?}");
    let q = json!({"dimension": "workload", "period": "2026-02"});

    // The FinOps Lead: the organisation, exactly the report's lines.
    let org = ask_tool(&w, &lead, "spend_by", q.clone()).await.expect("lead");
    assert_eq!(rows(&org), by_workload);
    assert!(org.scope.nodes.is_none());
    assert!(org.text.contains("the organisation"), "{}", org.text);

    // A Product Owner of `assist`: its two workloads, nothing else.
    let po = ask_tool(&w, &product_owner(), "spend_by", q.clone()).await.expect("po");
    let mine: BTreeMap<String, Money> = by_workload.iter().filter(|(k, _)| matches!(k.as_str(), "chat" | "support-bot")).map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(rows(&po), mine);
    assert_eq!(po.scope.workloads.iter().map(WorkloadId::as_str).collect::<Vec<_>>(), ["chat", "support-bot"]);

    // Finance over `payments`: the other two, and the unattributed spend.
    let finance = actor("fran@example.com", Persona::Finance, &["payments"]);
    let fin = ask_tool(&w, &finance, "spend_by", q.clone()).await.expect("finance");
    let theirs: BTreeMap<String, Money> = by_workload.iter().filter(|(k, _)| matches!(k.as_str(), "search" | "analytics")).map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(rows(&fin), theirs);
    let unattributed = ask_tool(&w, &finance, "unattributed", json!({"period": "2026-02"})).await.expect("finance unattributed");
    match &unattributed.figures {
        Figures::Unattributed { total, by_reason } => {
            assert_eq!(*total, report.unattributed);
            assert_eq!(by_reason.iter().map(|r| r.cost).sum::<Money>(), report.unattributed);
        }
        other => panic!("{other:?}"),
    }

    // Cross-scope: the Product Owner names a workload of `payments`, and asks
    // what nobody owns. Both refused, naming the scope, and audited.
    match ask_tool(&w, &product_owner(), "estimate_status", json!({"workload": "search", "period": "2026-02"})).await {
        Err(GovernanceError::Forbidden(m)) => assert!(m.contains("outside your scope") && m.contains("assist"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(ask_tool(&w, &product_owner(), "unattributed", json!({})).await, Err(GovernanceError::Forbidden(_))));
    let trail = w.gov.audit_trail(&lead, "workload", "search").await.expect("trail");
    assert!(trail.iter().any(|r| r.actor.user == product_owner().user && r.action.starts_with("forbidden")), "{trail:?}");
    let trail = w.gov.audit_trail(&lead, "agent", "unattributed").await.expect("trail");
    assert!(trail.iter().any(|r| r.actor.user == product_owner().user && r.action.starts_with("forbidden")), "{trail:?}");

    // Estimates: chat has 90,000 a month, support-bot none.
    let est = ask_tool(&w, &product_owner(), "estimate_status", json!({"period": "2026-02"})).await.expect("estimate");
    match &est.figures {
        Figures::EstimateStatus { workloads, estimate, actual, unestimated } => {
            assert_eq!(*estimate, Money::parse("90000").expect("money"));
            assert_eq!(*actual, mine["chat"]);
            assert_eq!(*unestimated, mine["support-bot"]);
            assert_eq!(workloads.len(), 2);
        }
        other => panic!("{other:?}"),
    }

    // MAP: chat is tagged; what it spent outside its profiles is at risk.
    let map = ask_tool(&w, &lead, "map_credits_at_risk", json!({"period": "2026-02"})).await.expect("map");
    match &map.figures {
        Figures::MapCreditsAtRisk { rows, at_risk } => {
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].spend, by_workload["chat"]);
            assert_eq!(rows[0].via_profiles + rows[0].at_risk, rows[0].spend);
            assert_eq!(*at_risk, rows[0].at_risk);
        }
        other => panic!("{other:?}"),
    }
    let none = ask_tool(&w, &finance, "map_credits_at_risk", json!({"period": "2026-02"})).await.expect("map, finance");
    assert!(matches!(&none.figures, Figures::MapCreditsAtRisk { rows, .. } if rows.is_empty()));
    // The FinOps Lead tags search too (audited); a Product Owner may not; a bad value is named.
    let search = WorkloadId::parse("search").expect("id");
    let tag = |v: &str, why: &str| MapTagInput { map_migrated: Some(v.into()), rationale: why.into() };
    assert!(matches!(w.gov.set_map_tag(&product_owner(), &search, tag("migSEARCH1", "mine")).await, Err(GovernanceError::Forbidden(_))));
    match w.gov.set_map_tag(&lead, &search, tag("mig<1>", "MAP engagement signed")).await {
        Err(GovernanceError::Invalid(f)) => assert_eq!(f.field, "map_migrated"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(w.gov.set_map_tag(&lead, &search, tag("migSEARCH1", " ")).await, Err(GovernanceError::Invalid(_))));
    assert_eq!(w.gov.set_map_tag(&lead, &search, tag("migSEARCH1", "MAP engagement signed")).await.expect("tag").map_migrated.as_deref(), Some("migSEARCH1"));
    let trail = w.gov.audit_trail(&lead, "workload", "search").await.expect("trail");
    assert!(trail.iter().any(|r| r.action == "map_tag" && r.to_state.as_deref() == Some("migSEARCH1") && r.rationale.as_deref() == Some("MAP engagement signed")), "{trail:?}");
    let tagged = ask_tool(&w, &finance, "map_credits_at_risk", json!({"period": "2026-02"})).await.expect("map, finance, tagged");
    assert!(matches!(&tagged.figures, Figures::MapCreditsAtRisk { rows, .. } if rows.len() == 1 && rows[0].workload == search && rows[0].spend == by_workload["search"]));

    // A bad argument is named; an unknown workload is not found.
    match ask_tool(&w, &lead, "spend_by", json!({"dimension": "colour"})).await {
        Err(GovernanceError::Invalid(f)) => assert_eq!(f.field, "dimension"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(ask_tool(&w, &lead, "cache_hit_rate", json!({"workload": "ghost"})).await, Err(GovernanceError::NotFound { .. })));
}

pub async fn sentences_map_to_questions_and_answers_follow_new_facts(w: World) {
    populated(&w, 32).await;
    let lead = finops_lead();
    let asked = w.gov.ask(&lead, AskInput { question: "What is unattributed in February 2026, and why?".into(), confirm: false }).await.expect("ask");
    assert!(asked.understood);
    assert!(asked.explanation.as_deref().is_some_and(|e| e.contains("2026-02")), "{asked:?}");
    let before = asked.answer.expect("answer");
    let report = w.gov.attribution_report(&lead, period()).await.expect("report");
    assert!(matches!(&before.figures, Figures::Unattributed { total, .. } if *total == report.unattributed));
    // The same question by tool gives the same answer.
    assert_eq!(ask_tool(&w, &lead, "unattributed", json!({"period": "2026-02"})).await.expect("tool"), before);

    let unknown = w.gov.ask(&lead, AskInput { question: "what's the weather in Seattle?".into(), confirm: false }).await.expect("ask");
    assert!(!unknown.understood && unknown.answer.is_none());
    assert_eq!(unknown.can_answer.len(), domain::agent::CAN_ANSWER.len());

    // A second source arrives: the cached answer is not served stale.
    let dir = tempfile::tempdir().expect("dir");
    let more = generated(dir.path(), 33, 3000, 0.5);
    w.gov
        .store_source_facts(SourceFacts { period: period(), source: "s3://cur/data/BILLING_PERIOD=2026-02/b.parquet", facts: &more, rows: more.ai_rows(), principal_column: true, version: None, delivery: None })
        .await
        .expect("store more");
    let after = ask_tool(&w, &lead, "unattributed", json!({"period": "2026-02"})).await.expect("after");
    let report = w.gov.attribution_report(&lead, period()).await.expect("report");
    assert!(matches!(&after.figures, Figures::Unattributed { total, .. } if *total == report.unattributed));
    assert_ne!(after.figures, before.figures);
}

pub async fn a_suspension_needs_its_confirmation(w: World) {
    let name = crate::kill_switch_suite::role_name();
    let (id, _) = crate::kill_switch_suite::claimed(&w, &name).await;
    let lead = finops_lead();
    match ask_tool(&w, &lead, "suspend", json!({"workload": id.as_str(), "confirm": false})).await {
        Err(GovernanceError::Invalid(f)) => assert_eq!(f.field, "confirm"),
        other => panic!("{other:?}"),
    }
    let asked = w.gov.ask(&lead, AskInput { question: format!("suspend {id}"), confirm: false }).await;
    assert!(matches!(asked, Err(GovernanceError::Invalid(ref f)) if f.field == "confirm"), "{asked:?}");
    assert!(w.gov.enforcement_status(&lead).await.expect("status").is_empty(), "nothing was changed");
    // Another team's Product Owner may not, even confirmed (the kill switch decides, audited).
    let other = actor("olly@example.com", Persona::ProductOwner, &["payments"]);
    assert!(matches!(ask_tool(&w, &other, "suspend", json!({"workload": id.as_str(), "confirm": true})).await, Err(GovernanceError::Forbidden(_))));
    let done = ask_tool(&w, &lead, "suspend", json!({"workload": id.as_str(), "confirm": true})).await.expect("suspend");
    let outcome = done.action.expect("the kill switch's outcome");
    assert_eq!(outcome.enforcement.state, EnforcementState::Suspended);
    assert_eq!(outcome.calls.len(), 2);
    assert!(done.text.contains("suspended"), "{}", done.text);
}

#[macro_export]
macro_rules! agent_tests {
    ($make:path) => {
        $crate::agent_tests!(@cases $make;
            each_persona_gets_its_own_scope_with_the_reports_numbers,
            sentences_map_to_questions_and_answers_follow_new_facts,
            a_suspension_needs_its_confirmation
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::agent_suite::$case($make(false).await).await;
            }
        )*
    };
}
