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

/// A gap's Block reaches the kill switch through the local bus's route
/// (`ModelBlocked` → KillSwitchFunction): the deny is on the account's roles
/// in the local record at once; `enforcement lift` takes it off, and a bad
/// block id or an empty rationale is refused by name.
#[test]
fn a_block_from_a_gap_is_in_force_until_lifted() {
    let dir = tempfile::tempdir().expect("dir");
    let home = common::february_home(dir.path());
    let gaps: serde_json::Value = serde_json::from_str(&ok(finops(&home, &["--format", "json", "report", "gaps", "--period", "2026-02"]))).expect("json");
    let gap = gaps.as_array().expect("gaps").iter().find(|g| g["scenario"] == "no_budget_allocation" && g["key"].as_str().is_some_and(|k| k.contains(":role/") && k.ends_with("|amazon.nova-lite-v1:0"))).expect("a role's Nova gap");
    let out: serde_json::Value =
        serde_json::from_str(&ok(finops(&home, &["--format", "json", "gap", "action", gap["id"].as_str().expect("id"), "--action", "block", "--rationale", "not approved here"]))).expect("json");
    let block = out["outcome"]["blocked"]["id"].as_str().expect("block id").to_owned();

    let blocks = ok(finops(&home, &["enforcement", "blocks"]));
    assert!(blocks.contains(&block), "{blocks}");
    // Applied already by the event: nothing left for the reconciler.
    assert!(ok(finops(&home, &["enforcement", "reconcile"])).starts_with("0 call(s)"), "the ModelBlocked route applied the block");
    let missing = finops(&home, &["enforcement", "lift", &block, "--rationale", " "]);
    assert_eq!(missing.status.code(), Some(2), "{}", String::from_utf8_lossy(&missing.stderr));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("rationale"));
    let unknown = finops(&home, &["enforcement", "lift", "gap-202602-0000000000000000.b0", "--rationale", "x"]);
    assert_ne!(unknown.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("gap-202602-0000000000000000.b0"), "{}", String::from_utf8_lossy(&unknown.stderr));
    let dry = ok(finops(&home, &["enforcement", "lift", &block, "--rationale", "approved after review", "--dry-run"]));
    assert!(dry.contains("would be lifted") && dry.contains("aws iam delete-role-policy"), "{dry}");
    assert!(ok(finops(&home, &["enforcement", "reconcile", "--dry-run"])).starts_with("0 call(s)"), "the dry run stored nothing");
    let lifted = ok(finops(&home, &["enforcement", "lift", &block, "--rationale", "approved after review"]));
    assert!(lifted.contains("lifted (made") && lifted.contains("aws iam delete-role-policy") && lifted.contains("finops-model-blocks"), "{lifted}");
    assert!(ok(finops(&home, &["enforcement", "lift", &block, "--rationale", "again"])).contains("(made 0 call(s))"), "lifting twice changes nothing");
}
