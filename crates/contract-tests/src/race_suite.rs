//! Races, each with [`RACERS`] concurrent writers on one piece of state, in
//! every world: the store's conditional writes must make exactly one of them
//! count, and a duplicate must be harmless, whatever the interleaving.

use std::sync::Arc;

use domain::analytics::cards::CardStatus;
use domain::analytics::gaps::{GapAction, GapStatus, Scenario};
use services::governance::{GapActionInput, GovernanceError, SourceFacts, Stored};
use services::ports::bus::DomainEvent;

use crate::analytics_suite::{owner_of, store_generated, week};
use crate::attribution_suite::{generated, period};
use crate::governed_suite::approved;
use crate::governed_world::{cloud_engineer, finops_lead, World};

/// How many writers race in each case.
pub const RACERS: usize = 16;

async fn audit_count(w: &World, kind: &str, id: &str, action: &str) -> usize {
    w.gov.audit_trail(&finops_lead(), kind, id).await.expect("audit").iter().filter(|r| r.action == action).count()
}

/// The approval event, delivered again: what EventBridge does at least once.
fn approval_event(w: &World, request: &domain::RequestId, a: &services::governance::ApprovalRecord, n: usize) -> DomainEvent {
    DomainEvent {
        id: format!("redelivery-{n}"),
        detail_type: "BusinessRequestApproved".into(),
        time: w.gov_time(),
        correlation_id: a.correlation_id.clone(),
        detail: serde_json::json!({"request": request, "workload": a.workload}),
    }
}

/// (Needs a world whose approval event was lost, so every racer is a first delivery.)
pub async fn sixteen_deliveries_of_one_approval_make_one_task_set(w: World) {
    let (id, a) = approved(&w, "Chat").await;
    let handles: Vec<_> = (0..RACERS)
        .map(|n| {
            let (handler, event) = (w.task_generator.clone(), approval_event(&w, &id, &a, n));
            tokio::spawn(async move { handler.handle(&event).await })
        })
        .collect();
    for h in handles {
        h.await.expect("join").expect("every delivery succeeds: duplicates are harmless");
    }
    assert_eq!(w.gov.list_tasks(&cloud_engineer(), false).await.expect("tasks").len(), 1, "one task set");
    assert_eq!(audit_count(&w, "business_request", id.as_str(), "generate_tasks").await, 1);
}

/// (Needs a world whose approval event was lost.)
pub async fn the_reconciler_racing_the_consumer_makes_one_task_set(w: World) {
    let (id, a) = approved(&w, "Chat").await;
    let handles: Vec<_> = (0..RACERS)
        .map(|n| {
            let gov = w.gov.clone();
            let (handler, event) = (w.task_generator.clone(), approval_event(&w, &id, &a, n));
            tokio::spawn(async move {
                if n % 2 == 0 {
                    gov.reconcile_task_sets().await.map(|_| ())
                } else {
                    handler.handle(&event).await.map_err(|e| GovernanceError::Internal(e.to_string()))
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("join").expect("reconciler and consumer both succeed");
    }
    assert_eq!(w.gov.list_tasks(&cloud_engineer(), false).await.expect("tasks").len(), 1, "one task set");
    assert_eq!(audit_count(&w, "business_request", id.as_str(), "generate_tasks").await, 1);
    assert!(w.gov.reconcile_task_sets().await.expect("reconcile").is_empty());
}

pub async fn sixteen_ingests_of_one_source_store_it_once(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = Arc::new(generated(dir.path(), 5, 3000, 0.5));
    let source = "s3://cur/feb.parquet";
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let (gov, facts) = (w.gov.clone(), facts.clone());
            tokio::spawn(async move {
                gov.store_source_facts(SourceFacts { period: period(), source, facts: &facts, rows: facts.ai_rows(), principal_column: true, version: None, delivery: None }).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await.expect("join").expect("a duplicate ingest is not an error"));
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Stored::New).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Stored::New | Stored::Unchanged)), "{outcomes:?}");
    assert_eq!(w.gov.period_sources(period()).await.expect("sources").len(), 1);
    let report = w.gov.attribution_report(&finops_lead(), period()).await.expect("report");
    let once = domain::cur::facts::report(period(), &facts, &domain::cur::attribution::Attributor { claims: Default::default(), broad_roles: domain::RolePattern::defaults() });
    assert_eq!(report.total, once.total, "the facts count once");
    // Only the manifest's object is left in the ledger.
    let objects = w.ledger.list(&format!("facts/period={}/", period())).await.expect("list");
    assert_eq!(objects.len(), 1, "{objects:?}");
}

pub async fn sixteen_reviews_of_one_card_settle_it_once(w: World) {
    store_generated(&w, 41).await;
    w.gov.build_cards(week()).await.expect("build");
    let id = format!("{}.chat", week());
    let card = w.gov.get_card(&finops_lead(), &id).await.expect("card");
    let owner = owner_of(&card);
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let (gov, owner, id) = (w.gov.clone(), owner.clone(), id.clone());
            tokio::spawn(async move { gov.accept_card(&owner, &id).await })
        })
        .collect();
    let mut oks = 0;
    for h in handles {
        match h.await.expect("join") {
            Ok(_) => oks += 1,
            Err(GovernanceError::Conflict(_)) => {}
            Err(e) => panic!("a losing review is a conflict, not {e:?}"),
        }
    }
    assert_eq!(oks, 1);
    assert_eq!(w.gov.get_card(&finops_lead(), &id).await.expect("card").status, CardStatus::Accepted);
    assert_eq!(audit_count(&w, "spend_card", &id, "accept").await, 1);
}

pub async fn sixteen_actions_on_one_gap_apply_once(w: World) {
    store_generated(&w, 43).await;
    w.gov.detect_gaps(period()).await.expect("detect");
    let gaps = w.gov.gaps_report(&finops_lead(), period()).await.expect("gaps").gaps;
    let gap = gaps.iter().find(|g| g.scenario == Scenario::AttributionNotEnabled).expect("an ANE gap").clone();
    let handles: Vec<_> = (0..RACERS)
        .map(|n| {
            let (gov, id) = (w.gov.clone(), gap.id.clone());
            let input = GapActionInput { action: GapAction::GuidedSetup, rationale: format!("racer {n}"), owner: None, portfolio: None, name: None, workload: None, request: None, suspend: false };
            tokio::spawn(async move { gov.gap_action(&finops_lead(), &id, input).await })
        })
        .collect();
    let mut won = Vec::new();
    for (n, h) in handles.into_iter().enumerate() {
        match h.await.expect("join") {
            Ok(_) => won.push(format!("racer {n}")),
            Err(GovernanceError::Conflict(_)) => {}
            Err(e) => panic!("a losing action is a conflict, not {e:?}"),
        }
    }
    // Actions may follow one another on an Actioned gap, so several racers can
    // win in turn; what must hold is that no action is lost or doubled: the
    // history gains exactly one entry per winner, each with its rationale.
    assert!(!won.is_empty());
    let after = w.gov.get_gap(&finops_lead(), &gap.id).await.expect("gap");
    assert_eq!(after.status, GapStatus::Actioned);
    assert_eq!(after.history.len(), gap.history.len() + won.len(), "{:?}", after.history);
    for r in &won {
        assert_eq!(after.history.iter().filter(|e| e.rationale.as_deref() == Some(r.as_str())).count(), 1, "{r}");
    }
}

/// Expands every race into a test for one world; `$make` takes `lose_events`.
#[macro_export]
macro_rules! race_tests {
    ($make:path) => {
        $crate::race_tests!(@cases $make, true; sixteen_deliveries_of_one_approval_make_one_task_set, the_reconciler_racing_the_consumer_makes_one_task_set);
        $crate::race_tests!(@cases $make, false;
            sixteen_ingests_of_one_source_store_it_once,
            sixteen_reviews_of_one_card_settle_it_once,
            sixteen_actions_on_one_gap_apply_once
        );
    };
    (@cases $make:path, $lose:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::race_suite::$case($make($lose).await).await;
            }
        )*
    };
}
