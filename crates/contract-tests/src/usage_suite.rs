//! The live signal in both worlds (embedded store and a folder; DynamoDB
//! Local and moto's S3): invocation-log objects into hourly usage, a
//! duplicate delivery and an unreadable record, the detectors raising
//! investigations (a critical one moving its workload to Alerting), the
//! FinOps Lead's lifecycle on them, and the live view by scope.

use chrono::{NaiveDate, TimeZone, Utc};
use domain::analytics::investigations::{DetectorConfig, InvestigationKind, InvestigationStatus, Step};
use domain::governance::claims::ClaimKind;
use domain::governance::enforcement::EnforcementState;
use domain::{BillingPeriod, Money, UserId};
use services::governance::{ClaimInput, GovernanceError};

use crate::emulators::unique_name;
use crate::governed_suite::approved;
use crate::governed_world::{finops_lead, product_owner, World};

const ACCOUNT: &str = "111122223333";
/// Haiku 3 input: $0.00025 per 1K tokens, so 40M tokens are $10.
const HAIKU: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";

fn line(at: &str, principal: &str, input_tokens: u64) -> String {
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"{at}","accountId":"{ACCOUNT}","identity":{{"arn":"{principal}"}},"region":"us-east-1","requestId":"r","operation":"Converse","modelId":"{HAIKU}","input":{{"inputTokenCount":{input_tokens}}},"output":{{"outputTokenCount":0}}}}"#
    )
}

fn usd(s: &str) -> Money {
    Money::parse(s).expect("money")
}

pub async fn logs_raise_investigations_the_lead_works_through(w: World) {
    // A workload whose role has been claimed since February 1.
    w.clock.set(Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).single().expect("time"));
    let (_, a) = approved(&w, "Chat").await;
    let role: String = unique_name("live").replace('_', "-").chars().take(60).collect();
    let fl = finops_lead();
    w.gov
        .claim(&fl, ClaimInput { workload: a.workload.clone(), kind: ClaimKind::IamRole, arn: format!("arn:aws:iam::{ACCOUNT}:role/{role}"), claimed_at: NaiveDate::from_ymd_opt(2026, 2, 1), rationale: Some("the role served Chat since February".into()) })
        .await
        .expect("claim");
    let app = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/app");
    let shadow = format!("arn:aws:sts::{ACCOUNT}:assumed-role/shadow-{role}/dev");

    // February 15–28: $10 at 09:00 every day, and one line that is not a record.
    let mut history: Vec<String> = (15..=28).map(|d| line(&format!("2026-02-{d:02}T09:12:00Z"), &app, 40_000_000)).collect();
    history.insert(2, "{this is not a record".into());
    let history = history.join("\n");
    let src_a = "s3://logs/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/02/a.json.gz";
    let first = w.gov.ingest_usage(src_a, w.gov.read_log_text(&history).await.expect("read")).await.expect("ingest");
    assert_eq!((first.records, first.unreadable, first.duplicate), (15, 1, false));
    assert!(first.errors[0].starts_with("record 3: not JSON"), "{:?}", first.errors);
    assert_eq!(first.stored, [BillingPeriod::parse("2026-02").expect("period")]);
    // The same object again: nothing stored, nothing changed.
    let again = w.gov.ingest_usage(src_a, w.gov.read_log_text(&history).await.expect("read")).await.expect("again");
    assert!(again.duplicate && again.stored.is_empty(), "{again:?}");
    let feb = w.gov.usage_sources(BillingPeriod::parse("2026-02").expect("period")).await.expect("sources");
    assert_eq!(feb.len(), 1);
    assert_eq!((feb[0].records, feb[0].unreadable, feb[0].cost), (15, 1, usd("140")));

    // March 1, 09:00: the workload spends $610 (critical), and an unclaimed
    // role appears in the account.
    let today = [line("2026-03-01T09:05:00Z", &app, 2_440_000_000), line("2026-03-01T10:00:00Z", &shadow, 4_000_000)].join("\n");
    let src_b = "s3://logs/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/03/01/b.json.gz";
    let b = w.gov.ingest_usage(src_b, w.gov.read_log_text(&today).await.expect("read")).await.expect("ingest");
    let day = NaiveDate::from_ymd_opt(2026, 3, 1).expect("day");
    assert_eq!(b.days, [day].into());

    let cfg = DetectorConfig::default();
    let run = w.gov.detect_investigations(&b.days, &cfg).await.expect("detect");
    assert_eq!(run.opened.len(), 3, "{run:?}");
    assert_eq!(run.alerted, std::slice::from_ref(&a.workload));
    let status = w.gov.enforcement_status(&fl).await.expect("status");
    assert_eq!(status.iter().find(|e| e.workload == a.workload).map(|e| e.state), Some(EnforcementState::Alerting));
    // Re-detection writes nothing.
    let rerun = w.gov.detect_investigations(&b.days, &cfg).await.expect("detect again");
    assert!(rerun.opened.is_empty() && rerun.updated.is_empty() && rerun.alerted.is_empty(), "{rerun:?}");

    let list = w.gov.investigations(&fl).await.expect("list");
    let of = |k: InvestigationKind| list.iter().find(|i| i.kind == k).unwrap_or_else(|| panic!("no {k:?} in {list:?}")).clone();
    let spike = of(InvestigationKind::HourlySpike);
    assert_eq!(spike.evidence.workload.as_ref(), Some(&a.workload));
    assert_eq!((spike.evidence.spend, spike.evidence.baseline), (usd("610"), usd("10")));
    let newcomer = of(InvestigationKind::NewPrincipal);
    assert_eq!(newcomer.evidence.principal.as_deref(), Some(shadow.as_str()));
    assert_eq!(of(InvestigationKind::ModelSurge).evidence.model.as_deref(), Some("anthropic.claude-3-haiku-20240307-v1:0"));

    // The lifecycle: the Lead only, a rationale to close, every step audited.
    let po = product_owner();
    assert!(matches!(w.gov.investigation_step(&po, &spike.id, Step::Close, "mine").await, Err(GovernanceError::Forbidden(_))));
    assert!(matches!(w.gov.investigations(&po).await, Err(GovernanceError::Forbidden(_))));
    let assigned = w.gov.investigation_step(&fl, &spike.id, Step::Assign(UserId::parse("cloud-eng").expect("user")), "").await.expect("assign");
    assert_eq!(assigned.status, InvestigationStatus::Assigned);
    assert!(matches!(w.gov.investigation_step(&fl, &spike.id, Step::Close, " ").await, Err(GovernanceError::Invalid(_))));
    let closed = w.gov.investigation_step(&fl, &spike.id, Step::Close, "a load test the team forgot to announce").await.expect("close");
    assert_eq!(closed.status, InvestigationStatus::Closed);
    assert!(matches!(w.gov.investigation_step(&fl, &spike.id, Step::Close, "again").await, Err(GovernanceError::Conflict(_))));
    assert!(matches!(w.gov.investigation_step(&fl, &newcomer.id, Step::Link { gap: "gap-202603-0000000000000000".into() }, "the shadow gap").await, Err(GovernanceError::NotFound { .. })));
    let trail: Vec<String> = w.gov.audit_trail(&fl, "investigation", &spike.id).await.expect("audit").into_iter().map(|r| r.action).collect();
    assert_eq!(trail, ["detected", "forbidden:ActionInvestigation", "assign", "close"], "the Product Owner's refusal is audited too");

    // The live view over the last 24 hours, by scope.
    let live = w.gov.live(&fl, 24).await.expect("live");
    let cost_of = |owner: &str| live.lines.iter().find(|l| l.owner == owner).map(|l| l.cost);
    assert_eq!(cost_of(a.workload.as_str()), Some(usd("610")));
    assert_eq!(cost_of("unattributed:no_budget_allocation"), Some(usd("1")));
    assert_eq!(live.total, usd("611"));
    let mine = w.gov.live(&po, 24).await.expect("live for the owner");
    assert_eq!(mine.lines.iter().map(|l| l.owner.as_str()).collect::<Vec<_>>(), [a.workload.as_str()], "a Product Owner sees its own workload, not unowned spend");
    assert!(matches!(w.gov.live(&fl, 0).await, Err(GovernanceError::Invalid(_))));
}

/// A generated February and the logs replayed from it (one account's left
/// out: its logging is off): the estimate matches the bill within 1 % where
/// both are there, the silent account is named, scopes hold, a duplicate
/// delivery changes nothing, and the week's spend card carries the check.
pub async fn replayed_logs_reconcile_with_the_bill(w: World) {
    use domain::analytics::live_vs_billed::LineStatus;
    let dir = tempfile::tempdir().expect("dir");
    let facts = crate::attribution_suite::generated(dir.path(), 11, 3000, 0.4);
    crate::analytics_suite::store(&w, "s3://cur/feb.parquet", &facts).await;
    let fl = finops_lead();
    w.gov.import(&fl, crate::attribution_suite::fixture()).await.expect("import");
    let objects = cur_files::replay::invocation_logs(&facts, &domain::governance::catalog::PriceCatalog::bundled().expect("catalogue"));
    // One source per logging account (an object may hold many hours).
    let mut by_account: std::collections::BTreeMap<String, Vec<&str>> = std::collections::BTreeMap::new();
    for (key, lines) in &objects {
        let account = key.split('/').nth(1).expect("account").to_owned();
        by_account.entry(account).or_default().extend(lines.iter().map(String::as_str));
    }
    let silent = "444455556666";
    assert!(by_account.remove(silent).is_some(), "the generator logs {silent}: the test needs it to go silent");
    for (account, lines) in &by_account {
        let read = w.gov.read_log_text(&lines.join("\n")).await.expect("read");
        assert_eq!(read.unreadable, 0);
        w.gov.ingest_usage(&format!("s3://logs/AWSLogs/{account}/replay.json.gz"), read).await.expect("ingest");
    }
    let r = w.gov.live_vs_billed(&fl, crate::attribution_suite::period()).await.expect("report");
    assert!(r.compared_billed > usd("1000"), "a real comparison: {r:#?}");
    let err = r.error_pct.expect("an error over the compared days");
    assert!(err.abs() < rust_decimal::Decimal::ONE, "{err}% off");
    for l in r.lines.iter().filter(|l| l.status == LineStatus::Compared) {
        assert!(l.error_pct.is_some_and(|e| e.abs() < rust_decimal::Decimal::ONE), "{l:?}");
    }
    let missing: Vec<&str> = r.accounts_without_logs().map(|a| a.account.as_str()).collect();
    assert!(missing.contains(&silent), "{missing:?}");
    assert!(r.lines.iter().any(|l| l.owner == "search" && l.status == LineStatus::NoLogs), "search runs in the silent account");
    assert!(r.not_comparable > Money::ZERO, "Marketplace, guardrail and CCU spend is kept aside, not dropped");

    // A Product Owner of chat sees chat's lines only, with no account coverage.
    let po = crate::governed_world::actor("po-chat@example.com", domain::Persona::ProductOwner, &["assist"]);
    let mine = w.gov.live_vs_billed(&po, crate::attribution_suite::period()).await.expect("scoped");
    assert!(mine.lines.iter().all(|l| !l.owner.starts_with("unattributed:")), "no unowned spend for an owner");
    assert!(mine.accounts.is_empty());
    assert!(mine.billed < r.billed);

    // A duplicate delivery changes nothing.
    for (account, lines) in &by_account {
        let again = w.gov.ingest_usage(&format!("s3://logs/AWSLogs/{account}/replay.json.gz"), w.gov.read_log_text(&lines.join("\n")).await.expect("read")).await.expect("again");
        assert!(again.duplicate, "{again:?}");
    }
    assert_eq!(w.gov.live_vs_billed(&fl, crate::attribution_suite::period()).await.expect("report"), r);

    // The week's card carries chat's check.
    let week = domain::IsoWeek::parse("2026-W08").expect("week");
    w.gov.build_cards(week).await.expect("cards");
    let card = w.gov.cards(&fl, week).await.expect("cards").into_iter().find(|c| c.workload.as_str() == "chat").expect("chat's card");
    let check = card.live.expect("a live check on the card");
    assert!(check.days_compared > 0 && check.error_pct.is_some_and(|e| e.abs() < rust_decimal::Decimal::ONE), "{check:?}");
}

/// Thirty callers nobody claimed appear on one day: two detection runs at
/// once store each investigation once (written several to a transaction;
/// the run that loses a batch retries it one by one and stores nothing
/// twice), each with its audit record.
pub async fn concurrent_detections_store_each_investigation_once(w: World) {
    w.clock.set(Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).single().expect("time"));
    let lines: Vec<String> = (0..30).map(|n| line("2026-03-01T09:05:00Z", &format!("arn:aws:sts::{ACCOUNT}:assumed-role/stray-{n:02}/dev"), 4_000_000)).collect();
    let read = w.gov.read_log_text(&lines.join("\n")).await.expect("read");
    let done = w.gov.ingest_usage("s3://logs/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/03/01/strays.json.gz", read).await.expect("ingest");
    let cfg = DetectorConfig::default();
    let (a, b) = tokio::join!(w.gov.detect_investigations(&done.days, &cfg), w.gov.detect_investigations(&done.days, &cfg));
    let (a, b) = (a.expect("first run"), b.expect("second run"));
    let mut opened: Vec<String> = a.opened.iter().chain(&b.opened).cloned().collect();
    let total = opened.len();
    opened.sort();
    opened.dedup();
    // 30 new principals, and the account's Haiku spend far above its (empty) baseline.
    assert_eq!(a.findings, 31);
    assert_eq!((total, opened.len()), (31, 31), "each stored once: {a:?} {b:?}");
    let fl = finops_lead();
    let list = w.gov.investigations(&fl).await.expect("list");
    assert_eq!(list.iter().filter(|i| i.kind == InvestigationKind::NewPrincipal).count(), 30);
    for id in opened.iter().take(3) {
        let trail: Vec<String> = w.gov.audit_trail(&fl, "investigation", id).await.expect("audit").into_iter().map(|r| r.action).collect();
        assert_eq!(trail, ["detected"], "{id}");
    }
}

/// Expands every usage case into a test in a world built by `$make(false)`.
#[macro_export]
macro_rules! usage_tests {
    ($make:path) => {
        $crate::usage_tests!(@cases $make; logs_raise_investigations_the_lead_works_through, replayed_logs_reconcile_with_the_bill, concurrent_detections_store_each_investigation_once);
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::usage_suite::$case($make(false).await).await;
            }
        )*
    };
}
