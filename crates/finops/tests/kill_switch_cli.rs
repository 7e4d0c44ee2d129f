//! `finops suspend`, `resume` and `enforcement status|reconcile` on the
//! embedded home: a dry run prints the exact calls and changes nothing, the
//! real run makes them once, and a bad workload id is refused by name.

mod common;
use common::{finops, ok};

#[test]
fn suspend_dry_run_then_real_then_resume() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let cur = h.join("cur.parquet");
    let import = h.join("import.json");
    ok(finops(h, &["gen-cur", "--rows", "2000", "--period", "2026-03", "--out", cur.to_str().unwrap(), "--import-out", import.to_str().unwrap()]));
    ok(finops(h, &["import", import.to_str().unwrap()]));

    let dry = ok(finops(h, &["suspend", "chat", "--rationale", "runaway loop", "--dry-run"]));
    assert!(dry.contains("would make 2 IAM call(s)"), "{dry}");
    assert!(dry.contains("aws iam put-role-policy --role-name finops-chat-ab12 --policy-name finops-kill-switch --policy-document '{"), "{dry}");
    assert!(dry.contains("aws iam tag-role --role-name finops-chat-ab12 --tags Key=finops:suspended,Value=true"), "{dry}");
    assert!(ok(finops(h, &["--format", "json", "enforcement", "status"])).trim() == "[]", "a dry run stores nothing");

    let real = ok(finops(h, &["suspend", "chat", "--rationale", "runaway loop"]));
    assert!(real.contains("chat: Suspended (made 2 IAM call(s))"), "{real}");
    assert!(ok(finops(h, &["suspend", "chat", "--rationale", "again"])).contains("made 0 IAM call(s)"), "idempotent");
    let status = ok(finops(h, &["enforcement", "status"]));
    assert!(status.contains("chat") && status.contains("Suspended"), "{status}");
    assert!(ok(finops(h, &["enforcement", "reconcile"])).starts_with("0 call(s)"));
    assert!(ok(finops(h, &["resume", "chat", "--rationale", "fixed"])).contains("chat: Resumed (made 2 IAM call(s))"));

    let bad = finops(h, &["suspend", "not a workload", "--rationale", "x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("WORKLOAD"));
    let missing = finops(h, &["suspend", "chat", "--rationale", " "]);
    assert_eq!(missing.status.code(), Some(2), "{}", String::from_utf8_lossy(&missing.stderr));
}
