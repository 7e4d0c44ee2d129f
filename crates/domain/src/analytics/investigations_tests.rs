use chrono::TimeZone;

use super::*;

fn usd(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn acct() -> AccountId {
    AccountId::parse("111122223333").unwrap()
}

fn hour(day: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, day, h, 0, 0).unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, d).unwrap()
}

/// Hour `h` of days 1..=15 at `flat`, with overrides.
fn series(flat: &str, overrides: &[(u32, u32, &str)]) -> ScopeSeries {
    let mut hourly = BTreeMap::new();
    for d in 1..=15 {
        for h in 0..24 {
            hourly.insert(hour(d, h), usd(flat));
        }
    }
    for &(d, h, v) in overrides {
        hourly.insert(hour(d, h), usd(v));
    }
    ScopeSeries { scope: "workload:chat".into(), account: acct(), workload: Some(WorkloadId::parse("chat").unwrap()), hourly }
}

fn only(d: u32) -> BTreeSet<NaiveDate> {
    [day(d)].into()
}

#[test]
fn baseline_is_the_median_and_the_median_absolute_deviation() {
    let b = baseline(&["1", "2", "3", "4", "100"].map(usd));
    assert_eq!((b.median, b.mad), (usd("3"), usd("1")), "one outlier moves neither");
    let even = baseline(&["1", "2", "3", "4"].map(usd));
    assert_eq!((even.median, even.mad), (usd("2.5"), usd("1")));
    assert_eq!(baseline(&[]), Baseline { median: Money::ZERO, mad: Money::ZERO });
}

#[test]
fn a_flat_series_with_one_spike_raises_that_hour_only() {
    let s = series("2.00", &[(15, 9, "80.00")]);
    let found = hourly_spikes(&s, &only(15), &DetectorConfig::default());
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.kind, InvestigationKind::HourlySpike);
    assert_eq!(f.key, "workload:chat@2026-10-15");
    assert_eq!(f.evidence.hours, vec![hour(15, 9)]);
    assert_eq!((f.evidence.spend, f.evidence.baseline), (usd("80.00"), usd("2.00")));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence.workload.as_ref().map(WorkloadId::as_str), Some("chat"));
}

#[test]
fn a_flat_series_raises_nothing() {
    assert!(hourly_spikes(&series("2.00", &[]), &only(15), &DetectorConfig::default()).is_empty());
}

#[test]
fn with_mad_zero_the_dollar_floor_decides() {
    // Flat at $2: MAD is 0, so any rise is "above median + k·MAD"; only a
    // rise of at least the floor ($10) is a spike.
    let cfg = DetectorConfig::default();
    assert!(hourly_spikes(&series("2.00", &[(15, 9, "11.99")]), &only(15), &cfg).is_empty(), "$9.99 over: below the floor");
    assert_eq!(hourly_spikes(&series("2.00", &[(15, 9, "12.00")]), &only(15), &cfg).len(), 1, "$10 over: at the floor");
}

#[test]
fn a_noisy_hour_needs_k_mads_not_just_the_floor() {
    // Hour 9 alternates $10 / $30 over the trailing days: median 20, MAD 10,
    // so with k = 6 the threshold is $80.
    let mut over: Vec<(u32, u32, &str)> = (1..=14).map(|d| (d, 9, if d % 2 == 0 { "10.00" } else { "30.00" })).collect();
    over.push((15, 9, "75.00"));
    let cfg = DetectorConfig::default();
    assert!(hourly_spikes(&series("1.00", &over), &only(15), &cfg).is_empty(), "$75 is within 6 MADs");
    *over.last_mut().unwrap() = (15, 9, "81.00");
    let f = hourly_spikes(&series("1.00", &over), &only(15), &cfg);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].evidence.threshold, usd("80.00"));
}

#[test]
fn a_days_spiking_hours_are_one_finding_and_a_large_excess_is_critical() {
    let s = series("2.00", &[(15, 9, "300.00"), (15, 10, "400.00"), (14, 3, "90.00")]);
    let cfg = DetectorConfig::default();
    let found = hourly_spikes(&s, &[day(14), day(15)].into(), &cfg);
    assert_eq!(found.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["workload:chat@2026-10-14", "workload:chat@2026-10-15"]);
    let big = &found[1];
    assert_eq!(big.evidence.hours, vec![hour(15, 9), hour(15, 10)]);
    assert_eq!(big.evidence.spend, usd("700.00"));
    assert_eq!(big.severity, Severity::Critical, "excess $696 ≥ $500");
    assert_eq!(found[0].severity, Severity::Warning);
}

#[test]
fn a_scope_whose_logs_just_started_has_no_baseline_to_spike_over() {
    // Spend only on days 10..=15: five trailing days of history, fewer than seven.
    let mut s = series("2.00", &[(15, 9, "80.00")]);
    s.hourly.retain(|h, _| h.date_naive() >= day(10));
    assert!(hourly_spikes(&s, &only(15), &DetectorConfig::default()).is_empty());
    let lenient = DetectorConfig { min_baseline_days: 5, ..DetectorConfig::default() };
    assert_eq!(hourly_spikes(&s, &only(15), &lenient).len(), 1);
}

#[test]
fn an_earlier_spike_does_not_raise_the_next_ones_bar() {
    // A spike on day 8 at hour 9 is one of 14 trailing values: the median
    // and MAD ignore it, so day 15's spike is still found.
    let s = series("2.00", &[(8, 9, "500.00"), (15, 9, "60.00")]);
    assert_eq!(hourly_spikes(&s, &only(15), &DetectorConfig::default()).len(), 1);
}

fn model_series(trailing: &str, today: &str) -> ModelSeries {
    let mut daily: BTreeMap<NaiveDate, Money> = (1..=14).map(|d| (day(d), usd(trailing))).collect();
    daily.insert(day(15), usd(today));
    ModelSeries { account: acct(), model: "anthropic.claude-sonnet-4-6".into(), daily }
}

#[test]
fn a_model_at_ten_times_its_median_is_a_surge() {
    let cfg = DetectorConfig::default();
    assert!(model_surges(&model_series("30.00", "300.00"), &only(15), &cfg).is_empty(), "exactly 10× is not above");
    let f = model_surges(&model_series("30.00", "300.01"), &only(15), &cfg);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].key, "111122223333/anthropic.claude-sonnet-4-6@2026-10-15");
    assert_eq!((f[0].evidence.baseline, f[0].evidence.threshold), (usd("30.00"), usd("300.00")));
    assert_eq!(f[0].evidence.model.as_deref(), Some("anthropic.claude-sonnet-4-6"));
}

#[test]
fn a_new_model_needs_the_floor_and_missing_days_count_as_zero() {
    let cfg = DetectorConfig::default();
    let fresh = |today: &str| ModelSeries { account: acct(), model: "amazon.nova-pro-v1:0".into(), daily: [(day(15), usd(today))].into() };
    assert!(model_surges(&fresh("24.99"), &only(15), &cfg).is_empty(), "median 0, but under the $25 floor");
    assert_eq!(model_surges(&fresh("25.00"), &only(15), &cfg).len(), 1);
}

fn seen(principal: &str, covered: bool) -> PrincipalSeen {
    PrincipalSeen {
        account: acct(),
        principal: principal.into(),
        covered,
        hours: vec![hour(15, 9)],
        spend: usd("3.20"),
        models: ["anthropic.claude-sonnet-4-6".to_owned()].into(),
    }
}

#[test]
fn a_principal_nothing_covers_is_raised_and_a_claimed_one_is_not() {
    let found = new_principals(&[seen("arn:aws:sts::111122223333:assumed-role/shadow/dev", false), seen("arn:aws:sts::111122223333:assumed-role/chat/x", true)], &DetectorConfig::default());
    assert_eq!(found.len(), 1, "the claimed principal is not raised");
    assert_eq!(found[0].key, "111122223333/arn:aws:sts::111122223333:assumed-role/shadow/dev");
    assert_eq!(found[0].evidence.principal.as_deref(), Some("arn:aws:sts::111122223333:assumed-role/shadow/dev"));
    assert_eq!(found[0].evidence.model.as_deref(), Some("anthropic.claude-sonnet-4-6"));
}

fn lead() -> Actor {
    Actor::new(UserId::parse("fiona").unwrap(), Persona::FinOpsLead, vec![])
}

#[test]
fn re_detection_writes_nothing_when_nothing_changed_and_refreshes_otherwise() {
    let at = hour(15, 10);
    let f = || hourly_spikes(&series("2.00", &[(15, 9, "80.00")]), &only(15), &DetectorConfig::default());
    let first = reconcile(&[], f(), at);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, investigation_id(InvestigationKind::HourlySpike, "workload:chat@2026-10-15"));
    assert!(reconcile(&first, f(), at).is_empty(), "the same finding again changes nothing");

    // A later hour spikes too, and big: evidence refreshed, escalated to critical.
    let more = hourly_spikes(&series("2.00", &[(15, 9, "80.00"), (15, 11, "900.00")]), &only(15), &DetectorConfig::default());
    let second = reconcile(&first, more, hour(15, 12));
    assert_eq!(second.len(), 1);
    let i = &second[0];
    assert_eq!((i.id.as_str(), i.severity, i.evidence.hours.len()), (first[0].id.as_str(), Severity::Critical, 2));
    assert_eq!(i.history.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["detected", "evidence_updated", "escalated"]);

    // Severity never falls back on a smaller re-detection.
    let smaller = reconcile(&second, f(), hour(15, 13));
    assert_eq!(smaller[0].severity, Severity::Critical);
}

#[test]
fn the_lifecycle_is_open_assigned_then_linked_or_closed_with_a_rationale() {
    let at = hour(15, 10);
    let mut i = reconcile(&[], new_principals(&[seen("arn:aws:iam::111122223333:user/ci", false)], &DetectorConfig::default()), at).remove(0);
    assert_eq!(i.status, InvestigationStatus::Open);
    i.apply(Step::Assign(UserId::parse("cloud-eng").unwrap()), &lead(), "", at).unwrap();
    assert_eq!((i.status, i.assignee.as_ref().map(UserId::as_str)), (InvestigationStatus::Assigned, Some("cloud-eng")));
    assert_eq!(i.apply(Step::Close, &lead(), "  ", at), Err(InvestigationError::RationaleRequired));
    assert_eq!(i.apply(Step::Link { gap: "gap-202610-x".into() }, &lead(), "", at), Err(InvestigationError::RationaleRequired));
    let mut closed = i.clone();
    i.apply(Step::Link { gap: "gap-202610-0011223344556677".into() }, &lead(), "the shadow role's gap", at).unwrap();
    assert_eq!((i.status, i.gap.as_deref()), (InvestigationStatus::Linked, Some("gap-202610-0011223344556677")));
    closed.apply(Step::Close, &lead(), "a load test, approved in chat", at).unwrap();
    assert_eq!(closed.status, InvestigationStatus::Closed);
    for mut done in [i, closed] {
        let e = done.apply(Step::Assign(UserId::parse("x").unwrap()), &lead(), "r", at).unwrap_err();
        assert!(matches!(e, InvestigationError::Final { .. }), "{e}");
        let last = done.history.last().unwrap();
        assert_eq!((last.persona, last.actor.as_str()), (Persona::FinOpsLead, "fiona"), "every step is in the history");
    }
}

mod gathered {
    use super::*;
    use crate::arn::RolePattern;
    use crate::cur::attribution::{Attributor, ClaimBook};
    use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
    use crate::ids::{Region, UserId};
    use crate::invocations::{TokenCounts, UsageFacts, UsageKey, UsageTable, UsageValue};

    const CHAT: &str = "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/dev-1";
    const STRAY: &str = "arn:aws:sts::111122223333:assumed-role/scratch/dev-9";
    const HAIKU: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";
    const SONNET: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

    fn attributor() -> Attributor {
        Attributor {
            claims: ClaimBook::new([Claim {
                target: ClaimTarget::parse(ClaimKind::IamRole, "arn:aws:iam::111122223333:role/finops-chat-ab12").unwrap(),
                workload: WorkloadId::parse("chat").unwrap(),
                claimed_at: day(1),
                claimed_by: UserId::parse("pat").unwrap(),
                released_at: None,
                released_by: None,
            }]),
            broad_roles: RolePattern::defaults(),
        }
    }

    fn add(f: &mut UsageFacts, at: DateTime<Utc>, principal: &str, model: &str, cost: &str) {
        let key = UsageKey { hour: at, account: acct(), region: Region::parse("us-east-1").unwrap(), principal: principal.into(), model_id: model.into() };
        f.facts.entry(key).or_default().add(UsageValue { requests: 1, tokens: TokenCounts::default(), cost: usd(cost), unpriced: 0 });
    }

    /// Two weeks of chat on Haiku at $2 an hour, then day 15: hour 9 at $80,
    /// Sonnet's first big day, and a role nobody claimed.
    fn month() -> UsageFacts {
        let mut f = UsageFacts::default();
        for d in 1..=15 {
            for h in 0..24 {
                add(&mut f, hour(d, h), CHAT, HAIKU, if (d, h) == (15, 9) { "80.00" } else { "2.00" });
            }
            add(&mut f, hour(d, 12), CHAT, SONNET, if d == 15 { "500.00" } else { "1.00" });
        }
        add(&mut f, hour(15, 3), STRAY, HAIKU, "0.50");
        f
    }

    fn findings(tables: &[UsageTable]) -> Vec<Finding> {
        let a = attributor();
        let days = only(15);
        let mut g = Gathered::new(&a, &days);
        tables.iter().for_each(|t| g.add(t));
        g.findings(&DetectorConfig::default())
    }

    #[test]
    fn each_detector_reads_its_series_from_the_tables() {
        let found = findings(&[UsageTable::from_facts(&month())]);
        let keys: Vec<(InvestigationKind, &str)> = found.iter().map(|f| (f.kind, f.key.as_str())).collect();
        assert!(keys.contains(&(InvestigationKind::HourlySpike, "workload:chat@2026-10-15")), "{keys:?}");
        assert!(keys.iter().any(|(k, key)| *k == InvestigationKind::ModelSurge && key.contains("claude-3-5-sonnet")), "{keys:?}");
        let new: Vec<&Finding> = found.iter().filter(|f| f.kind == InvestigationKind::NewPrincipal).collect();
        assert_eq!(new.len(), 1, "only the unclaimed role is new: {keys:?}");
        assert_eq!(new[0].evidence.principal.as_deref(), Some(STRAY));
        let spike = found.iter().find(|f| f.kind == InvestigationKind::HourlySpike).unwrap();
        assert_eq!(spike.evidence.workload.as_ref().map(WorkloadId::as_str), Some("chat"), "the spike is the claimed workload's");
    }

    #[test]
    fn findings_do_not_depend_on_how_the_usage_is_split_into_tables() {
        let whole = findings(&[UsageTable::from_facts(&month())]);
        // Split by day into two objects, handed over in reverse order.
        let (mut early, mut late) = (UsageFacts::default(), UsageFacts::default());
        for (k, v) in month().facts {
            let half = if k.hour < hour(8, 0) { &mut early } else { &mut late };
            half.facts.insert(k, v);
        }
        let split = findings(&[UsageTable::from_facts(&late), UsageTable::from_facts(&early)]);
        assert_eq!(split, whole);
        assert!(!whole.is_empty());
    }

    #[test]
    fn a_table_round_trips_to_the_same_facts() {
        let f = month();
        let t = UsageTable::from_facts(&f);
        assert_eq!(t.principals.len(), 2, "each caller once");
        assert_eq!(t.rows.len(), f.len());
        assert_eq!(t.to_facts(), f);
    }
}
