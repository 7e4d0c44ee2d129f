//! approval-fanout on DynamoDB Local + EventBridge on moto: an approval through
//! the Lambda publishes BusinessRequestApproved, whose delivery generates the
//! tasks; a Cloud Engineer's step through the task-generator's HTTP route.

use contract_tests::governed_suite::draft;
use contract_tests::governed_world::{aws, cloud_engineer, product_owner};
use contract_tests::lambda_events::{response, sample};
use http_api::RouteGroup;
use lambda_http::lambda_runtime::Context;

#[tokio::test]
async fn approval_through_the_lambda_fans_out_tasks() {
    let w = aws(false).await;
    let po = product_owner();
    let r = w.gov.create_request(&po, draft("Chat")).await.unwrap();
    w.gov.submit_request(&po, &r.id).await.unwrap();

    let mut approve = sample("approval-fanout", "approve-request.json");
    let path = format!("/requests/{}/approve", r.id);
    approve["rawPath"] = path.clone().into();
    approve["requestContext"]["http"]["path"] = path.into();
    let routes = runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::FinOpsLead]);
    let (status, body) = response(&runtime_wiring::handle_http(routes.clone(), approve.clone(), Context::default()).await.unwrap());
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.pump().await, 1, "one BusinessRequestApproved reached the task generator");
    let tasks = w.gov.list_tasks(&cloud_engineer(), true).await.unwrap();
    assert_eq!(tasks.len(), 1);

    // The same approval again: 409, and no second task set.
    let (status, _) = response(&runtime_wiring::handle_http(routes, approve, Context::default()).await.unwrap());
    assert_eq!(status, 409);
    assert_eq!(w.pump().await, 0);

    let mut step = sample("task-generator", "complete-step.json");
    let path = format!("/tasks/{}/steps/1/complete", tasks[0].id);
    step["rawPath"] = path.clone().into();
    step["requestContext"]["http"]["path"] = path.into();
    assert!(runtime_wiring::is_http_event(&step));
    let ce_routes = runtime_wiring::lambda_router(w.gov.clone(), &[RouteGroup::CloudEngineer]);
    let (status, body) = response(&runtime_wiring::handle_http(ce_routes, step, Context::default()).await.unwrap());
    assert_eq!((status, body["status"].as_str()), (200, Some("InProgress")), "{body}");
}
