//! Every IAM document the task generator can emit passes parliament with no
//! findings (`scripts/check-iam-policies.py`, run with the test venv's Python).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Utc;
use domain::governance::approval::{ModelApprovalScope, Platform, INVOKE_ACTIONS};
use domain::governance::iam::{permission_policy, trust_policy};
use domain::governance::request::Runtime;
use domain::{AccountId, ModelId, Partition, Region, RequestId, WorkloadId};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let p = std::env::var_os("FINOPS_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(p.exists(), "{} not found: run scripts/setup.sh (it installs parliament)", p.display());
    p
}

fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(python())
        .arg(root().join("scripts/check-iam-policies.py"))
        .arg(dir)
        .output()
        .expect("run check-iam-policies.py");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn scope(model: &str, regions: &[&str], geo: Option<&str>, agentic: bool) -> ModelApprovalScope {
    ModelApprovalScope {
        request: RequestId::parse("br-1").unwrap(),
        workload: WorkloadId::parse("chat").unwrap(),
        platform: Platform::Bedrock,
        model: ModelId::parse(model).unwrap(),
        accounts: vec![AccountId::parse("111122223333").unwrap()],
        regions: regions.iter().map(|r| Region::parse(r).unwrap()).collect(),
        allowed_actions: INVOKE_ACTIONS.iter().map(|s| s.to_string()).collect(),
        agentic_access: agentic,
        cross_region_geo: geo.map(String::from),
        approved_at: Utc::now(),
    }
}

#[test]
fn every_generated_policy_passes_parliament() {
    let dir = tempfile::tempdir().unwrap();
    let acct = AccountId::parse("111122223333").unwrap();
    let mut n = 0;
    for runtime in [Runtime::Lambda, Runtime::Ecs, Runtime::Ec2, Runtime::Eks, Runtime::Agentcore, Runtime::AppRunner] {
        let path = dir.path().join(format!("trust-{runtime:?}.json"));
        std::fs::write(path, serde_json::to_string_pretty(&trust_policy(runtime, &acct)).unwrap()).unwrap();
        n += 1;
    }
    for model in ["anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-sonnet-4-6", "amazon.nova-lite-v1:0"] {
        for (regions, geo) in [(&["us-east-1"][..], None), (&["us-east-1", "us-west-2"][..], Some("us")), (&["eu-west-1"][..], Some("global"))] {
            for agentic in [false, true] {
                for partition in [Partition::Aws, Partition::AwsUsGov] {
                    for map in [false, true] {
                        let doc = permission_policy(&scope(model, regions, geo, agentic), &acct, partition, map);
                        let path = dir.path().join(format!("permission-{n}.json"));
                        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
                        n += 1;
                    }
                }
            }
        }
    }
    // The kill switch's denies (whole role and session-scoped) and its SCP.
    for partition in [Partition::Aws, Partition::AwsUsGov] {
        use domain::governance::enforcement::{kill_switch_deny, model_block_deny, model_block_scp, suspended_scp, RoleRef};
        let role = RoleRef::role(acct.clone(), "finops-chat-ab12", partition);
        let session = RoleRef { session: Some("dev001@example.com".into()), ..role.clone() };
        let blocks = model_block_deny(partition, &["anthropic.claude-3-haiku-20240307-v1:0".into(), "amazon.nova-lite-v1:0".into()]).expect("a block");
        let other = domain::AccountId::parse("444455556666").expect("account");
        let scp_blocks = model_block_scp(partition, &[("amazon.nova-lite-v1:0".to_owned(), [acct.clone(), other].into())].into()).expect("a block SCP");
        for doc in [kill_switch_deny(&role, ""), kill_switch_deny(&session, "AROAEXAMPLEID12345678"), blocks, scp_blocks, suspended_scp(partition)] {
            std::fs::write(dir.path().join(format!("kill-switch-{n}.json")), serde_json::to_string_pretty(&doc).unwrap()).unwrap();
            n += 1;
        }
    }
    let (ok, out) = check(dir.path());
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{n} policies, 0 findings")), "{out}");
}

#[test]
fn the_check_fails_on_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    let bad = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "bedrock:InvokeModle", "Resource": "*"},
            {"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "arn:aws:s3:::not-a-model"}
        ]
    });
    std::fs::write(dir.path().join("bad.json"), bad.to_string()).unwrap();
    let (ok, out) = check(dir.path());
    assert!(!ok, "{out}");
    assert!(out.contains("UNKNOWN_ACTION") && out.contains("RESOURCE_MISMATCH"), "{out}");
}
