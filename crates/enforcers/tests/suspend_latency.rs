//! The kill switch's latency benchmark (run by `scripts/bench-kill-switch.sh`,
//! ignored by the test suite: speed targets live in benchmarks): the time from
//! a suspend call to the deny being in place, through the whole service (the
//! desired state written to DynamoDB Local, the IAM calls made on moto, the
//! deny read back), over `FINOPS_BENCH_SUSPENDS` workloads (default 20).
//! PRODUCT.md's goal: under 2 s.

use std::time::{Duration, Instant};

use contract_tests::governed_suite::approved;
use contract_tests::governed_world::{aws, product_owner};
use domain::governance::claims::ClaimKind;
use domain::governance::enforcement::{RoleRef, KILL_SWITCH_POLICY};
use services::governance::{ClaimInput, SuspendInput};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-kill-switch.sh runs it"]
async fn suspend_to_deny_in_place() {
    let n: usize = std::env::var("FINOPS_BENCH_SUSPENDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut times: Vec<Duration> = Vec::new();
    for i in 0..n {
        let w = aws(true).await;
        let (_, a) = approved(&w, &format!("Bench {i}")).await;
        let name: String = contract_tests::emulators::unique_name("bench").chars().take(60).collect();
        w.ensure_role(&name).await;
        w.gov
            .claim(&product_owner(), ClaimInput { workload: a.workload.clone(), kind: ClaimKind::IamRole, arn: format!("arn:aws:iam::111122223333:role/{name}"), claimed_at: None, rationale: None })
            .await
            .expect("claim");
        let role = RoleRef::role(domain::AccountId::parse("111122223333").expect("account"), name, domain::Partition::Aws);
        let start = Instant::now();
        w.gov.suspend_workload(&product_owner(), &a.workload, SuspendInput { rationale: "bench".into(), ..Default::default() }).await.expect("suspend");
        let held = w.enforcer.observe(&role).await.expect("observe");
        times.push(start.elapsed());
        assert!(held.policies.contains_key(domain::governance::enforcement::KILL_SWITCH_POLICY) && held.suspended_tag, "the deny is in place");
        assert_eq!(KILL_SWITCH_POLICY, "finops-kill-switch");
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "kill switch: suspend → deny in place over {n} workloads (DynamoDB Local + IAM on moto): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (goal < 2000 ms)",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3)
    );
}
