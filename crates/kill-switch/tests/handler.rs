//! kill-switch on DynamoDB Local + IAM on moto, fed the JSON Lambda receives
//! (samples in events/kill-switch/): a Product Owner suspends their workload
//! through the API route, someone removes the deny by hand, and the nightly
//! reconciler puts it back.

use contract_tests::governed_suite::approved;
use contract_tests::governed_world::{aws, finops_lead, product_owner};
use contract_tests::lambda_events::{response, sample};
use domain::governance::claims::ClaimKind;
use domain::governance::enforcement::{EnforcementState, IamCall};
use http_api::RouteGroup;
use lambda_http::lambda_runtime::Context;
use services::governance::ClaimInput;

#[tokio::test]
async fn suspend_through_the_route_and_the_nightly_reconciler_repairs_drift() {
    let w = aws(true).await;
    let (_, a) = approved(&w, "Chat").await;
    let role = contract_tests::emulators::unique_name("ks-handler").chars().take(60).collect::<String>();
    w.ensure_role(&role).await;
    let arn = format!("arn:aws:iam::111122223333:role/{role}");
    w.gov.claim(&product_owner(), ClaimInput { workload: a.workload.clone(), kind: ClaimKind::IamRole, arn, claimed_at: None, rationale: None }).await.expect("claim");

    let routes = runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::KillSwitch]);
    let mut suspend = sample("kill-switch", "suspend-workload.json");
    let path = format!("/workloads/{}/suspend", a.workload);
    suspend["rawPath"] = path.clone().into();
    suspend["requestContext"]["http"]["path"] = path.into();
    suspend["pathParameters"]["id"] = a.workload.as_str().into();
    let (status, body) = response(&runtime_wiring::handle_http(routes.clone(), suspend, Context::default()).await.expect("invoke"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enforcement"]["state"], "Suspended");
    assert_eq!(body["calls"].as_array().map(Vec::len), Some(2), "{body}");

    // The deny is removed by hand; the nightly run puts it back, once.
    let deny = serde_json::from_value::<Vec<IamCall>>(body["calls"].clone()).expect("calls");
    let put = deny.iter().find_map(|c| match c {
        IamCall::PutRolePolicy { role, policy_name, .. } => Some(IamCall::DeleteRolePolicy { role: role.clone(), policy_name: policy_name.clone() }),
        _ => None,
    });
    w.enforce_by_hand(put.expect("a deny")).await;
    let out = kill_switch::handle(&w.gov, &sample("kill-switch", "scheduled-nightly.json")).await.expect("nightly");
    assert_eq!(out["repaired"].as_array().map(Vec::len), Some(1), "{out}");
    let again = kill_switch::handle(&w.gov, &sample("kill-switch", "scheduled-nightly.json")).await.expect("nightly again");
    assert_eq!(again["repaired"], serde_json::json!([]));
    let status = w.gov.enforcement_status(&finops_lead()).await.expect("status");
    assert_eq!(status[0].state, EnforcementState::Suspended);
}

#[tokio::test]
async fn model_blocked_denies_the_model_once_however_often_delivered() {
    let w = aws(true).await;
    let (_, role) = contract_tests::kill_switch_suite::blocked(&w).await;
    for _ in 0..2 {
        let out = kill_switch::handle(&w.gov, &sample("kill-switch", "model-blocked.json")).await.expect("ModelBlocked");
        assert!(out["handled"].is_string(), "{out}");
    }
    let held = w.enforcer.observe(&role).await.expect("observe");
    let deny = domain::governance::enforcement::model_block_deny(domain::Partition::Aws, &["amazon.nova-lite-v1:0".into()]);
    assert_eq!(held.policies.get(domain::governance::enforcement::MODEL_BLOCK_POLICY), deny.as_ref());
    assert!(w.gov.apply_model_blocks().await.expect("apply").is_empty(), "nothing left to do after a duplicate delivery");
}

#[tokio::test]
async fn other_events_are_refused_with_a_reason() {
    let w = aws(true).await;
    let mut foreign = sample("kill-switch", "scheduled-nightly.json");
    foreign["source"] = "com.example".into();
    let e = kill_switch::handle(&w.gov, &foreign).await.unwrap_err();
    assert!(!e.0.is_empty());
    let e = kill_switch::handle(&w.gov, &serde_json::json!({"detail-type": "WorkloadSuspended", "source": "finops.center", "detail": {}})).await.unwrap_err();
    assert!(e.0.contains("kill-switch"), "{e}");
}

#[test]
fn the_enforcer_is_configured_from_the_environment() {
    let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
    let bad = kill_switch::governance_with_iam(&sdk, |k| (k == "FINOPS_HOME_ACCOUNT").then(|| "12".to_owned())).err().expect("a bad account id");
    assert!(bad.contains("FINOPS_HOME_ACCOUNT"), "{bad}");
    let bad = kill_switch::governance_with_iam(&sdk, |k| (k == "FINOPS_SCP_TARGETS").then(|| "ou-ab12-cd34ef56, not-a-target".to_owned())).err().expect("a bad SCP target");
    assert!(bad.contains("FINOPS_SCP_TARGETS") && bad.contains("not-a-target"), "{bad}");
    assert_eq!(kill_switch::scp_targets(" r-ab12 ,,111122223333").expect("targets").len(), 2);
}
