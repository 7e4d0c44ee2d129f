//! Agent Bill through the kill-switch function's Lambda handler, on DynamoDB
//! Local + moto, fed the API Gateway events in events/kill-switch/: a Product
//! Owner's `POST /ask` and an MCP `tools/call` on `POST /mcp` answer with the
//! service's own numbers, in the JWT's scope.

use contract_tests::governed_world::{aws, product_owner};
use contract_tests::lambda_events::{response, sample};
use http_api::RouteGroup;
use lambda_http::lambda_runtime::Context;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_and_mcp_answer_through_the_handler_in_the_callers_scope() {
    let w = aws(false).await;
    contract_tests::agent_suite::populated(&w, 41).await;
    let expected = w.gov.answer_tool(&product_owner(), "spend_by", json!({"dimension": "workload", "period": "2026-02"}).as_object().expect("args")).await.expect("answer");
    assert!(!expected.scope.workloads.is_empty());

    let routes = runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::Agent]);
    let (status, body) = response(&runtime_wiring::handle_http(routes.clone(), sample("kill-switch", "ask.json"), Context::default()).await.expect("invoke"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["understood"], true);
    assert_eq!(body["answer"]["figures"], serde_json::to_value(&expected.figures).expect("json"));
    assert_eq!(body["answer"]["scope"]["nodes"], json!(["assist"]));

    let out = runtime_wiring::handle_http(routes.clone(), sample("kill-switch", "mcp-tools-call.json"), Context::default()).await.expect("invoke");
    let (status, rpc) = response(&out);
    assert_eq!(status, 200, "{out}");
    assert_eq!(rpc["result"]["structuredContent"]["figures"], serde_json::to_value(&expected.figures).expect("json"), "{rpc}");
    assert_eq!(rpc["result"]["content"][0]["text"], expected.text);

    // Without the authorizer's claims the route answers 401, as every other.
    let mut anonymous = sample("kill-switch", "ask.json");
    anonymous["requestContext"]["authorizer"] = serde_json::Value::Null;
    let (status, _) = response(&runtime_wiring::handle_http(routes, anonymous, Context::default()).await.expect("invoke"));
    assert_eq!(status, 401);
}
