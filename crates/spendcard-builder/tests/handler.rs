//! spendcard-builder on DynamoDB Local + EventBridge on moto, fed the JSON Lambda
//! receives (samples in events/spendcard-builder/).

use contract_tests::analytics_suite::store_generated;
use contract_tests::governed_world::{aws, finops_lead};
use contract_tests::lambda_events::{response, sample};
use http_api::RouteGroup;
use lambda_http::lambda_runtime::Context;

#[tokio::test]
async fn the_weekly_schedule_builds_last_weeks_cards_once() {
    let w = aws(true).await;
    store_generated(&w, 31).await;
    let out = spendcard_builder::handle(&w.gov, &sample("spendcard-builder", "scheduled-weekly.json")).await.expect("weekly");
    // Monday 2 March: W08 (rebuilt for late data) then W09 (the week to build).
    let weeks: Vec<&str> = out["built"].as_array().unwrap().iter().map(|s| s["week"].as_str().unwrap()).collect();
    assert_eq!(weeks, ["2026-W08", "2026-W09"]);
    assert_eq!(out["built"][1]["built"], 4);
    let again = spendcard_builder::handle(&w.gov, &sample("spendcard-builder", "scheduled-weekly.json")).await.expect("retry");
    assert_eq!((again["built"][1]["built"].as_u64(), again["built"][1]["unchanged"].as_u64()), (Some(0), Some(4)), "{again}");
    let by_hand = spendcard_builder::handle(&w.gov, &sample("spendcard-builder", "build-week.json")).await.expect("by hand");
    assert_eq!(by_hand["built"][0]["unchanged"], 4);
    let week = domain::IsoWeek::parse("2026-W09").unwrap();
    assert_eq!(w.gov.cards(&finops_lead(), week).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_card_is_accepted_through_the_lambda() {
    let w = aws(true).await;
    store_generated(&w, 32).await;
    spendcard_builder::handle(&w.gov, &sample("spendcard-builder", "build-week.json")).await.unwrap();
    let routes = runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::Cards]);
    let mut accept = sample("spendcard-builder", "accept-card.json");
    accept["rawPath"] = "/cards/2026-W09.chat/accept".into();
    accept["requestContext"]["http"]["path"] = "/cards/2026-W09.chat/accept".into();
    // Another Product Owner in scope may not settle the chat workload's card.
    let mut other = accept.clone();
    other["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = "pat@example.com".into();
    let (status, body) = response(&runtime_wiring::handle_http(routes.clone(), other, Context::default()).await.unwrap());
    assert_eq!(status, 403, "{body}");
    let (status, body) = response(&runtime_wiring::handle_http(routes.clone(), accept.clone(), Context::default()).await.unwrap());
    assert_eq!((status, body["status"].as_str()), (200, Some("Accepted")), "{body}");
    let (status, body) = response(&runtime_wiring::handle_http(routes, accept, Context::default()).await.unwrap());
    assert_eq!(status, 409, "a settled card cannot be accepted again: {body}");
}

#[tokio::test]
async fn malformed_events_are_rejected_with_a_reason() {
    let w = aws(true).await;
    let e = spendcard_builder::handle(&w.gov, &serde_json::json!({"week": "2026-13"})).await.unwrap_err();
    assert!(e.0.contains("YYYY-Www"), "{e}");
    let mut foreign = sample("spendcard-builder", "scheduled-weekly.json");
    foreign["source"] = "com.example".into();
    assert!(spendcard_builder::handle(&w.gov, &foreign).await.unwrap_err().0.contains("does not handle"));
}
