//! request-intake on DynamoDB Local + EventBridge on moto, fed API Gateway events.

use contract_tests::governed_world::aws;
use contract_tests::lambda_events::{http, response, sample};
use http_api::RouteGroup;
use lambda_http::lambda_runtime::Context;

#[tokio::test]
async fn a_product_owner_creates_and_submits_through_the_lambda() {
    let w = aws(false).await;
    let routes = || runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::Read, RouteGroup::ProductOwner]);
    let create = sample("request-intake", "create-request.json");
    let (status, body) = response(&runtime_wiring::handle_http(routes(), create.clone(), Context::default()).await.unwrap());
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let submit = http(&create, "POST", &format!("/requests/{id}/submit"), None);
    let (status, body) = response(&runtime_wiring::handle_http(routes(), submit, Context::default()).await.unwrap());
    assert_eq!((status, body["status"].as_str()), (200, Some("Submitted")), "{body}");

    // Bad input: 400 naming the field, nothing stored.
    let mut bad = create.clone();
    bad["body"] = serde_json::Value::String(create["body"].as_str().unwrap().replace("\"lambda\"", "\"mainframe\""));
    let (status, body) = response(&runtime_wiring::handle_http(routes(), bad, Context::default()).await.unwrap());
    assert_eq!((status, body["field"].as_str()), (400, Some("runtime")), "{body}");
    let list = http(&create, "GET", "/requests", None);
    let (_, all) = response(&runtime_wiring::handle_http(routes(), list, Context::default()).await.unwrap());
    assert_eq!(all.as_array().unwrap().len(), 1);

    // This function does not serve the FinOps Lead's routes.
    let approve = http(&create, "POST", &format!("/requests/{id}/approve"), Some(serde_json::json!({})));
    assert_eq!(response(&runtime_wiring::handle_http(routes(), approve, Context::default()).await.unwrap()).0, 404);
}

#[tokio::test]
async fn a_request_without_verified_claims_is_401() {
    let w = aws(false).await;
    let mut event = sample("request-intake", "create-request.json");
    event["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let routes = runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::Read, RouteGroup::ProductOwner]);
    let (status, body) = response(&runtime_wiring::handle_http(routes, event, Context::default()).await.unwrap());
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthenticated")), "{body}");
}
