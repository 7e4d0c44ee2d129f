//! gap-detector on DynamoDB Local + EventBridge on moto, fed the JSON Lambda
//! receives (samples in events/gap-detector/).

use contract_tests::analytics_suite::store_generated;
use contract_tests::governed_world::{aws, finops_lead};
use contract_tests::lambda_events::{response, sample};
use http_api::RouteGroup;
use lambda_http::lambda_runtime::Context;
use serde_json::Value;

#[tokio::test]
async fn cur_ingested_detects_once_and_the_nightly_run_reconciles() {
    let w = aws(true).await;
    store_generated(&w, 21).await;
    let event = sample("gap-detector", "cur-period-ingested.json");
    gap_detector::handle(&w.gov, &event).await.expect("first delivery");
    let period = domain::BillingPeriod::parse("2026-02").unwrap();
    let first = w.gov.gaps_report(&finops_lead(), period).await.unwrap();
    assert!(first.open > 0);
    gap_detector::handle(&w.gov, &event).await.expect("duplicate delivery");
    assert_eq!(w.gov.gaps_report(&finops_lead(), period).await.unwrap(), first, "a duplicate changes nothing");
    // The nightly run (2 March) re-detects February and March; February is unchanged.
    let out = gap_detector::handle(&w.gov, &sample("gap-detector", "scheduled-nightly.json")).await.expect("nightly");
    let periods: Vec<&str> = out["detected"].as_array().unwrap().iter().map(|s| s["period"].as_str().unwrap()).collect();
    assert_eq!(periods, ["2026-02", "2026-03"]);
    assert_eq!(out["detected"][0]["opened"], 0);
    assert_eq!(w.gov.gaps_report(&finops_lead(), period).await.unwrap(), first);
}

#[tokio::test]
async fn gap_routes_run_through_the_lambda() {
    let w = aws(true).await;
    store_generated(&w, 22).await;
    gap_detector::handle(&w.gov, &sample("gap-detector", "cur-period-ingested.json")).await.unwrap();
    let routes = runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::Gaps]);
    let (status, body) = response(&runtime_wiring::handle_http(routes.clone(), sample("gap-detector", "list-gaps.json"), Context::default()).await.unwrap());
    assert_eq!(status, 200, "{body}");
    let gap = body["gaps"].as_array().unwrap().iter().find(|g| g["scenario"] == "attribution_not_enabled").expect("an attribution_not_enabled gap").clone();
    let mut act = sample("gap-detector", "gap-action.json");
    let path = format!("/gaps/{}/actions", gap["id"].as_str().unwrap());
    act["rawPath"] = path.clone().into();
    act["requestContext"]["http"]["path"] = path.into();
    let (status, body) = response(&runtime_wiring::handle_http(routes.clone(), act.clone(), Context::default()).await.unwrap());
    assert_eq!((status, body["gap"]["status"].as_str()), (200, Some("Actioned")), "{body}");
    assert!(body["outcome"]["command"].as_str().unwrap().contains("INCLUDE_IAM_PRINCIPAL_DATA"));
    // Bad input: no rationale → 400 naming the field; nothing changes.
    act["body"] = Value::String(r#"{"action":"guided_setup","rationale":""}"#.into());
    let (status, body) = response(&runtime_wiring::handle_http(routes, act, Context::default()).await.unwrap());
    assert_eq!((status, body["field"].as_str()), (400, Some("rationale")), "{body}");
}

#[tokio::test]
async fn malformed_events_are_rejected_with_a_reason() {
    let w = aws(true).await;
    let mut no_period = sample("gap-detector", "cur-period-ingested.json");
    no_period["detail"]["data"] = serde_json::json!({});
    assert!(gap_detector::handle(&w.gov, &no_period).await.unwrap_err().0.contains("detail.period"));
    let mut other = sample("gap-detector", "cur-period-ingested.json");
    other["detail-type"] = "BusinessRequestApproved".into();
    assert!(gap_detector::handle(&w.gov, &other).await.unwrap_err().0.contains("does not handle"));
    let mut foreign = sample("gap-detector", "scheduled-nightly.json");
    foreign["source"] = "com.example".into();
    assert!(gap_detector::handle(&w.gov, &foreign).await.unwrap_err().0.contains("does not handle"));
}

#[test]
fn the_nightly_run_covers_this_month_and_the_last() {
    let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_eq!(gap_detector::nightly_periods(d).map(|p| p.to_string()), ["2025-12", "2026-01"]);
}

/// A poison event (a `CurPeriodIngested` without its period) fails every try
/// and ends in the function's failure queue with its payload and the reason,
/// as the template's `EventInvokeConfig` has Lambda do; a good event runs once
/// and sends nothing there.
#[tokio::test]
async fn a_failing_event_ends_in_the_failure_queue_with_its_reason() {
    let w = aws(true).await;
    let sdk = contract_tests::emulators::moto_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs.create_queue().queue_name(contract_tests::emulators::unique_name("gap-failures")).send().await.expect("queue");
    let url = queue.queue_url().expect("url").to_owned();
    let mut poison = sample("gap-detector", "cur-period-ingested.json");
    poison["detail"]["data"].as_object_mut().expect("data").remove("period");
    let gov = w.gov.clone();
    let run = |e: Value| {
        let gov = gov.clone();
        async move { gap_detector::handle(&gov, &e).await }
    };
    let tries = contract_tests::async_invoke::invoke("GapDetectorFunction", &poison, run, &sqs, &url).await;
    assert_eq!(tries, 3, "the first try and the template's two retries");
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    let messages = got.messages();
    assert_eq!(messages.len(), 1);
    let record: Value = serde_json::from_str(messages[0].body().expect("body")).expect("json");
    assert_eq!(record["requestPayload"], poison, "the event itself, to redrive");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert!(record["responsePayload"]["errorMessage"].as_str().is_some_and(|m| m.contains("period")), "{record}");

    store_generated(&w, 23).await;
    let good = sample("gap-detector", "cur-period-ingested.json");
    let gov = w.gov.clone();
    let run = |e: Value| {
        let gov = gov.clone();
        async move { gap_detector::handle(&gov, &e).await }
    };
    assert_eq!(contract_tests::async_invoke::invoke("GapDetectorFunction", &good, run, &sqs, &url).await, 1);
    let after = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    assert!(after.messages().is_empty(), "a handled event sends nothing to the failure queue");
}
