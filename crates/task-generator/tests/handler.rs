//! The task-generator handler on DynamoDB Local + EventBridge on moto, fed the
//! JSON EventBridge delivers (samples in events/task-generator/).

use contract_tests::governed_suite::{approval, draft};
use contract_tests::governed_world::{aws, cloud_engineer, finops_lead, product_owner};
use serde_json::Value;

fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/task-generator/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event")).expect("json")
}

#[tokio::test]
async fn an_approval_event_generates_tasks_once_and_the_schedule_reconciles() {
    // `lose_events`: nothing is delivered but what this test hands the handler.
    let w = aws(true).await;
    let po = product_owner();
    let r = w.gov.create_request(&po, draft("Chat")).await.unwrap();
    w.gov.submit_request(&po, &r.id).await.unwrap();
    w.gov.approve_request(&finops_lead(), &r.id, approval()).await.unwrap();

    let mut event = sample("business-request-approved.json");
    event["detail"]["data"]["request"] = Value::String(r.id.to_string());
    task_generator::handle(&w.gov, &event).await.expect("first delivery");
    task_generator::handle(&w.gov, &event).await.expect("duplicate delivery");
    assert_eq!(w.gov.list_tasks(&cloud_engineer(), false).await.unwrap().len(), 1);

    // A second approval whose event is lost is repaired by the scheduled run.
    let r2 = w.gov.create_request(&po, draft("Search")).await.unwrap();
    w.gov.submit_request(&po, &r2.id).await.unwrap();
    w.gov.approve_request(&finops_lead(), &r2.id, approval()).await.unwrap();
    let out = task_generator::handle(&w.gov, &sample("scheduled-reconcile.json")).await.expect("reconcile");
    assert_eq!(out["reconciled"], serde_json::json!([r2.id]));
    assert_eq!(w.gov.list_tasks(&cloud_engineer(), false).await.unwrap().len(), 2);
}

#[tokio::test]
async fn malformed_events_are_rejected_with_a_reason() {
    let w = aws(true).await;
    let mut no_request = sample("business-request-approved.json");
    no_request["detail"]["data"] = serde_json::json!({});
    let e = task_generator::handle(&w.gov, &no_request).await.unwrap_err();
    assert!(e.0.contains("detail.request"), "{e}");
    let mut foreign = sample("business-request-approved.json");
    foreign["source"] = Value::String("com.example".into());
    assert!(task_generator::handle(&w.gov, &foreign).await.unwrap_err().0.contains("does not handle"));
    let mut no_time = sample("business-request-approved.json");
    no_time.as_object_mut().unwrap().remove("time");
    assert!(task_generator::handle(&w.gov, &no_time).await.unwrap_err().0.contains("time"));
}
