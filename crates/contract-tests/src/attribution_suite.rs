//! CUR ingest and attribution, asserted the same way in every world (embedded
//! store, DynamoDB Local): facts stored per source, idempotent and
//! order-independent, re-deliveries replacing their own facts, the import
//! all-or-nothing, claims applying from their claim date, and every account
//! reconciling to the cent.

use std::path::Path;

use chrono::NaiveDate;
use cur_files::generate::{import_fixture, write_parquet, Spec};
use domain::cur::attribution::Reason;
use domain::cur::facts::{report, Facts};
use domain::governance::claims::ClaimKind;
use domain::governance::import::ImportDoc;
use domain::{BillingPeriod, Money, WorkloadId};
use services::governance::{ClaimInput, GovernanceError, SourceFacts, Stored};

use crate::governed_world::{actor, cloud_engineer, finops_lead, product_owner, World};
use domain::Persona;

pub fn period() -> BillingPeriod {
    BillingPeriod::parse("2026-02").expect("period")
}

/// Facts of a generated CUR file (the world's clock is 2026-03-02, so February
/// is a closed month whose claims are all in the past).
pub fn generated(dir: &Path, seed: u64, rows: u64, ai_share: f64) -> Facts {
    let path = dir.join(format!("cur-{seed}-{rows}.parquet"));
    write_parquet(&Spec { rows, ai_share, seed, period: period(), rows_per_group: 4096, estate: None }, &path).expect("generate");
    cur_files::read_path(&path, 2).expect("read").0
}

/// The generator's fixture, moved under the test world's hierarchy.
pub fn fixture() -> ImportDoc {
    let mut v = import_fixture(period());
    v["hierarchy"] = serde_json::json!([]);
    for w in v["workloads"].as_array_mut().expect("workloads") {
        w["node"] = serde_json::json!("assist");
    }
    serde_json::from_value(v).expect("fixture")
}

async fn store(w: &World, source: &str, facts: &Facts) -> Stored {
    w.gov
        .store_source_facts(SourceFacts { period: period(), source, facts, rows: facts.ai_rows(), principal_column: true, version: None, delivery: None })
        .await
        .expect("store facts")
}

async fn ledger_objects(w: &World) -> Vec<String> {
    w.ledger.list(&services::governance::ledger::period_prefix(period())).await.expect("list")
}

pub async fn ingest_is_idempotent_and_order_independent(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (generated(dir.path(), 1, 3000, 0.4), generated(dir.path(), 2, 3000, 0.4));
    assert_eq!(store(&w, "s3://cur/data/BILLING_PERIOD=2026-02/b.parquet", &b).await, Stored::New);
    assert_eq!(store(&w, "s3://cur/data/BILLING_PERIOD=2026-02/a.parquet", &a).await, Stored::New);
    let lead = finops_lead();
    let first = w.gov.attribution_report(&lead, period()).await.expect("report");
    // The stored result is the order-free merge of the sources.
    let mut ab = a.clone();
    ab.merge(&b);
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), ab);
    assert_eq!(first, report(period(), &ab, &w.gov.attributor().await.expect("attributor")));
    // A duplicate delivery writes nothing and changes nothing.
    assert_eq!(store(&w, "s3://cur/data/BILLING_PERIOD=2026-02/a.parquet", &a).await, Stored::Unchanged);
    assert_eq!(w.gov.attribution_report(&lead, period()).await.expect("report"), first);
    assert_eq!(w.gov.period_sources(period()).await.expect("sources").len(), 2);
}

pub async fn a_redelivered_source_replaces_only_its_own_facts(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b, a2) = (generated(dir.path(), 1, 20_000, 1.0), generated(dir.path(), 2, 2000, 0.3), generated(dir.path(), 3, 2500, 0.5));
    store(&w, "s3://cur/a.parquet", &a).await;
    store(&w, "s3://cur/b.parquet", &b).await;
    let first_objects = ledger_objects(&w).await;
    assert_eq!(first_objects.len(), 2);
    assert_eq!(store(&w, "s3://cur/a.parquet", &a2).await, Stored::Replaced);
    let mut expected = a2.clone();
    expected.merge(&b);
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), expected);
    // The superseded generation is gone from the ledger: storage does not grow
    // with re-deliveries, and every object left is one a manifest names.
    let objects = ledger_objects(&w).await;
    let named: Vec<String> = w.gov.period_sources(period()).await.expect("sources").into_iter().map(|m| m.object).collect();
    assert_eq!(objects.len(), 2);
    assert!(objects.iter().all(|o| named.contains(o)), "{objects:?} vs {named:?}");
    assert_eq!(objects.iter().filter(|o| first_objects.contains(o)).count(), 1, "only b's object is unchanged");
    // A duplicate writes nothing that stays.
    assert_eq!(store(&w, "s3://cur/a.parquet", &a2).await, Stored::Unchanged);
    assert_eq!(ledger_objects(&w).await, objects);
    // And back: nothing of the replaced delivery lingers.
    store(&w, "s3://cur/a.parquet", &a).await;
    let mut original = a.clone();
    original.merge(&b);
    assert_eq!(w.gov.period_facts(period()).await.expect("facts"), original);
}

pub async fn claims_apply_from_their_claim_date_and_nothing_before_moves(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    let facts = generated(dir.path(), 5, 6000, 0.5);
    store(&w, "s3://cur/feb.parquet", &facts).await;
    let lead = finops_lead();
    w.gov.import(&lead, fixture()).await.expect("import");
    let before = w.gov.attribution_report(&lead, period()).await.expect("report");
    let reason = |r: &domain::cur::facts::AttributionReport, why: Reason| {
        r.unattributed_by_reason.iter().find(|x| x.reason == why).map(|x| x.cost).unwrap_or_default()
    };
    assert!(reason(&before, Reason::BeforeClaim) > Money::ZERO, "search's role is claimed on the 15th");
    assert!(reason(&before, Reason::UnclaimedWorkload) > Money::ZERO, "the orphan finops- role is unclaimed");
    for why in Reason::ALL {
        assert!(reason(&before, why) > Money::ZERO, "{why:?} appears in generated CUR");
    }
    // The orphan role is claimed from the 20th, a date already reported: only
    // the FinOps Lead backdates, with a rationale; only usage from the 20th moves.
    let claim_day = NaiveDate::from_ymd_opt(2026, 2, 20).expect("day");
    let backdated = |rationale: Option<&str>| ClaimInput {
        workload: WorkloadId::parse("chat").expect("id"),
        kind: ClaimKind::IamRole,
        arn: "arn:aws:iam::111122223333:role/finops-orphan-zz99".into(),
        claimed_at: Some(claim_day),
        rationale: rationale.map(String::from),
    };
    let err = w.gov.claim(&product_owner(), backdated(Some("mine since the 20th"))).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Forbidden(m) if m.contains("FinOps Lead")), "a claimant cannot move reported spend: {err:?}");
    assert_eq!(w.gov.claim(&lead, backdated(None)).await.unwrap_err().field(), Some("rationale"));
    assert_eq!(w.gov.attribution_report(&lead, period()).await.expect("report"), before, "refusals move nothing");
    w.gov.claim(&lead, backdated(Some("chat took the role over on the 20th; invoices confirm"))).await.expect("claim");
    let key = domain::governance::claims::ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/finops-orphan-zz99").expect("target").key;
    let trail = w.gov.audit_trail(&lead, "claim", &key).await.expect("audit");
    assert!(trail.iter().any(|r| r.action.starts_with("forbidden") && r.actor.user == product_owner().user), "the refusal is audited");
    assert!(trail.iter().any(|r| r.action == "claim_backdated" && r.rationale.as_deref().is_some_and(|x| x.contains("invoices"))), "{trail:?}");
    let after = w.gov.attribution_report(&lead, period()).await.expect("report");
    let orphan = |from: NaiveDate| -> Money {
        facts
            .iter()
            .filter(|(k, _)| k.principal.is_some_and(|p| p.contains("finops-orphan-zz99")) && k.line_item_type == "Usage" && k.usage_day >= from)
            .map(|(_, v)| v.cost)
            .sum()
    };
    let moved = orphan(claim_day);
    assert!(moved > Money::ZERO);
    assert!(orphan(NaiveDate::from_ymd_opt(2026, 2, 1).expect("day")) > moved, "usage before the claim date exists and stays put");
    assert_eq!(after.attributed - before.attributed, moved);
    // Usage before the claim date is now `before_claim`, no longer `unclaimed_workload`.
    assert_eq!(reason(&after, Reason::UnclaimedWorkload), Money::ZERO);
    assert_eq!(reason(&after, Reason::BeforeClaim) - reason(&before, Reason::BeforeClaim), reason(&before, Reason::UnclaimedWorkload) - moved);
    assert_eq!(after.ai_total, before.ai_total);
    assert_eq!(after.attributed + after.unattributed + after.adjustments, after.ai_total);
    let rec = w.gov.reconciliation(&lead, period()).await.expect("reconcile");
    assert!(rec.balanced, "{rec:?}");
    assert_eq!(rec.accounts.iter().map(|a| a.cur_total).sum::<Money>(), after.total);
}

pub async fn a_bad_import_stores_nothing(w: World) {
    let lead = finops_lead();
    let nodes_before = w.gov.hierarchy().await.expect("hierarchy").nodes().count();
    let mut doc = fixture();
    doc.claims.last_mut().expect("claims").workload = WorkloadId::parse("ghost").expect("id");
    match w.gov.import(&lead, doc).await {
        Err(GovernanceError::Invalid(f)) => assert_eq!(f.field, "claims[4].workload"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.gov.hierarchy().await.expect("hierarchy").nodes().count(), nodes_before);
    assert!(w.gov.all_claims().await.expect("claims").is_empty());
    // Only a FinOps Lead imports.
    assert!(matches!(w.gov.import(&product_owner(), fixture()).await, Err(GovernanceError::Forbidden(_))));
    // The good document then imports whole, once.
    let s = w.gov.import(&lead, fixture()).await.expect("import");
    assert_eq!((s.workloads, s.approvals, s.claims), (4, 2, 5));
    assert_eq!(w.gov.all_claims().await.expect("claims").len(), 5);
    assert!(matches!(w.gov.import(&lead, fixture()).await, Err(GovernanceError::Invalid(_))), "workloads exist already");
    assert!(matches!(w.gov.reconciliation(&product_owner(), period()).await, Err(GovernanceError::Forbidden(_))));
}

/// The reports follow the hierarchy: the FinOps Lead sees the organisation,
/// Finance its subtree plus what nobody owns, an owner only its workloads,
/// and a persona with no spend to see is refused and audited. Every scoped
/// view still adds up.
pub async fn reports_are_scoped_by_hierarchy(w: World) {
    let dir = tempfile::tempdir().expect("dir");
    store(&w, "s3://cur/feb.parquet", &generated(dir.path(), 6, 6000, 0.5)).await;
    let lead = finops_lead();
    w.gov.import(&lead, fixture()).await.expect("import");
    let full = w.gov.attribution_report(&lead, period()).await.expect("report");
    assert!(full.scope.is_none() && full.unattributed > Money::ZERO && full.by_workload.len() == 4);
    let adds_up = |r: &domain::cur::facts::AttributionReport| {
        assert_eq!(r.attributed + r.unattributed + r.adjustments, r.ai_total);
        assert_eq!(r.by_workload.iter().map(|x| x.cost).sum::<Money>(), r.attributed);
        assert_eq!(r.unattributed_by_reason.iter().map(|x| x.cost).sum::<Money>(), r.unattributed);
    };
    // Every fixture workload sits under `assist`.
    let owner = w.gov.attribution_report(&product_owner(), period()).await.expect("owner's view");
    assert_eq!((owner.by_workload.len(), owner.attributed, owner.unattributed), (4, full.attributed, Money::ZERO));
    assert!(owner.unattributed_by_reason.is_empty() && owner.by_account.is_empty());
    adds_up(&owner);
    let elsewhere = actor("olly@example.com", Persona::ProductOwner, &["payments"]);
    let none = w.gov.attribution_report(&elsewhere, period()).await.expect("another portfolio's view");
    assert!(none.by_workload.is_empty() && none.attributed == Money::ZERO && none.unattributed == Money::ZERO);
    assert!(w.gov.legacy_view(&elsewhere, period()).await.expect("legacy").by_workload.is_empty());
    assert!(w.gov.attribution_rollup(&elsewhere, period()).await.expect("rollup").iter().all(|n| n.node.as_str() == "payments"));
    let finance = actor("fran@example.com", Persona::Finance, &["payments"]);
    let f = w.gov.attribution_report(&finance, period()).await.expect("finance's view");
    assert!(f.by_workload.is_empty());
    assert_eq!((f.unattributed, f.scope.clone()), (full.unattributed, Some(vec![domain::NodeId::parse("payments").expect("node")])));
    adds_up(&f);
    assert!(w.gov.reconciliation(&finance, period()).await.expect("reconcile").balanced);
    let org_finance = actor("fred@example.com", Persona::Finance, &["retail"]);
    assert_eq!(w.gov.attribution_report(&org_finance, period()).await.expect("org view"), full);
    let engineer = cloud_engineer();
    assert!(matches!(w.gov.attribution_report(&engineer, period()).await, Err(GovernanceError::Forbidden(_))));
    let trail = w.gov.audit_trail(&lead, "attribution", &period().to_string()).await.expect("audit");
    assert!(trail.iter().any(|r| r.actor.user == engineer.user && r.action.starts_with("forbidden")), "{trail:?}");
}

#[macro_export]
macro_rules! attribution_tests {
    ($make:path) => {
        $crate::attribution_tests!(@cases $make;
            ingest_is_idempotent_and_order_independent,
            a_redelivered_source_replaces_only_its_own_facts,
            claims_apply_from_their_claim_date_and_nothing_before_moves,
            a_bad_import_stores_nothing,
            reports_are_scoped_by_hierarchy
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::attribution_suite::$case($make(false).await).await;
            }
        )*
    };
}
