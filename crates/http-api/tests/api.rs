//! The HTTP API over the embedded world: statuses, error bodies naming fields,
//! nothing stored on bad input, and separation of duties as 403s.

use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::http::{Method, Request, StatusCode};
use contract_tests::governed_suite::{approval, draft};
use contract_tests::governed_world::{actor, cloud_engineer, embedded, finops_lead, product_owner, World};
use domain::{Actor, Persona};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(w: &World, who: Option<&Actor>, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let app = http_api::router(w.gov.clone());
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let mut req = req.body(body.map(|b| HttpBody::from(b.to_string())).unwrap_or_else(HttpBody::empty)).unwrap();
    if let Some(a) = who {
        req.extensions_mut().insert(a.clone());
    }
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
}

async fn raw(w: &World, who: &Actor, uri: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
    let mut req = Request::builder().method(Method::POST).uri(uri).header("content-type", content_type).body(HttpBody::from(body.to_owned())).unwrap();
    req.extensions_mut().insert(who.clone());
    let res = http_api::router(w.gov.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn body(v: impl serde::Serialize) -> Option<Value> {
    Some(serde_json::to_value(v).unwrap())
}

#[tokio::test]
async fn no_caller_is_401_and_unknown_routes_404() {
    let w = embedded(false).await;
    let (s, b) = call(&w, None, Method::GET, "/requests", None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let (s, _) = call(&w, Some(&product_owner()), Method::GET, "/nowhere", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&w, None, Method::GET, "/health", None).await;
    assert_eq!(s, StatusCode::OK);
    // The document is open and is the generated one (served from the
    // committed file, which `tests/openapi.rs` keeps equal to it).
    let (s, doc) = call(&w, None, Method::GET, "/openapi.json", None).await;
    assert_eq!((s, doc), (StatusCode::OK, serde_json::from_str::<Value>(&http_api::openapi_json()).unwrap()));
}

#[tokio::test]
async fn the_governed_path_over_http() {
    let w = embedded(false).await;
    let (po, fl, ce) = (product_owner(), finops_lead(), cloud_engineer());
    let (s, r) = call(&w, Some(&po), Method::POST, "/requests", body(draft("Chat"))).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(call(&w, Some(&po), Method::POST, &format!("/requests/{id}/submit"), None).await.0, StatusCode::OK);
    let (s, a) = call(&w, Some(&fl), Method::POST, &format!("/requests/{id}/approve"), body(approval())).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let (_, tasks) = call(&w, Some(&ce), Method::GET, "/tasks", None).await;
    let task = tasks[0]["id"].as_str().unwrap().to_owned();
    for n in 1..=4 {
        let (s, t) = call(&w, Some(&ce), Method::POST, &format!("/tasks/{task}/steps/{n}/complete"), None).await;
        assert_eq!(s, StatusCode::OK, "{t}");
    }
    let (_, inbox) = call(&w, Some(&po), Method::GET, "/inbox", None).await;
    let arn = inbox[0]["body"]["handoff"]["role_arns"][0].as_str().unwrap().to_owned();
    let wl = a["workload"].as_str().unwrap();
    let (s, c) = call(&w, Some(&po), Method::POST, "/claims", Some(json!({"workload": wl, "kind": "iam_role", "arn": arn}))).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (_, workload) = call(&w, Some(&po), Method::GET, &format!("/workloads/{wl}"), None).await;
    assert_eq!(workload["status"], "Live");
    let (s, c) = call(&w, Some(&po), Method::POST, "/claims", Some(json!({"workload": wl, "kind": "iam_role", "arn": arn}))).await;
    assert_eq!((s, c["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let (_, trail) = call(&w, Some(&fl), Method::GET, &format!("/audit/business_request/{id}"), None).await;
    assert_eq!(trail.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field_and_stores_nothing() {
    let w = embedded(false).await;
    let (po, fl) = (product_owner(), finops_lead());
    let mut d = serde_json::to_value(draft("Chat")).unwrap();
    d["estimate"]["amount"] = json!(12.5);
    // Internally tagged enums (`"kind": …`) are buffered by serde, so the path
    // stops at the enum's field; the message carries the inner rule.
    let cases = vec![
        (d.clone(), "estimate"),
        (json!({"target": {"kind": "new_workload", "name": "x", "portfolio": "assist"}}), "use_case"),
        ({ let mut x = serde_json::to_value(draft("Chat")).unwrap(); x["runtime"] = json!("mainframe"); x }, "runtime"),
        ({ let mut x = serde_json::to_value(draft("Chat")).unwrap(); x["target"]["portfolio"] = json!("bad id!"); x }, "target"),
        ({ let mut x = serde_json::to_value(draft("Chat")).unwrap(); x["description"] = json!(""); x }, "description"),
    ];
    for (b, field) in cases {
        let (s, e) = call(&w, Some(&po), Method::POST, "/requests", Some(b)).await;
        assert_eq!((s, e["error"].as_str(), e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid"), Some(field)), "{e}");
        assert!(!e["message"].as_str().unwrap_or_default().is_empty());
    }
    let (s, e) = raw(&w, &po, "/requests", "application/json", "{not json").await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("body")));
    let (s, _) = raw(&w, &po, "/requests", "text/plain", "{}").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, listed) = call(&w, Some(&fl), Method::GET, "/requests", None).await;
    assert_eq!(listed, json!([]), "nothing stored");

    let (_, r) = call(&w, Some(&po), Method::POST, "/requests", body(draft("Chat"))).await;
    let id = r["id"].as_str().unwrap();
    call(&w, Some(&po), Method::POST, &format!("/requests/{id}/submit"), None).await;
    let mut a = serde_json::to_value(approval()).unwrap();
    a["accounts"] = json!(["12345"]);
    let (s, e) = call(&w, Some(&fl), Method::POST, &format!("/requests/{id}/approve"), Some(a)).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("accounts[0]")), "{e}");
    let (_, still) = call(&w, Some(&fl), Method::GET, &format!("/requests/{id}"), None).await;
    assert_eq!(still["status"], "Submitted");
    let (s, e) = call(&w, Some(&fl), Method::GET, "/requests/not%20an%20id", None).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("id")));
    let (s, _) = call(&w, Some(&fl), Method::GET, "/requests/br-missing", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = call(&w, Some(&fl), Method::GET, "/requests?status=Pending", None).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("status")));
    let (s, e) = call(&w, Some(&cloud_engineer()), Method::POST, "/tasks/br-x-t1/steps/zero/complete", None).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("step")));
}

#[tokio::test]
async fn every_persona_is_refused_what_it_may_not_do_with_403_and_an_audit_record() {
    let w = embedded(false).await;
    let (_, r) = call(&w, Some(&product_owner()), Method::POST, "/requests", body(draft("Chat"))).await;
    let id = r["id"].as_str().unwrap().to_owned();
    call(&w, Some(&product_owner()), Method::POST, &format!("/requests/{id}/submit"), None).await;
    let routes: Vec<(&str, String, Option<Value>, &[Persona])> = vec![
        ("create request", "/requests".into(), body(draft("Chat")), &[Persona::ProductOwner]),
        ("approve", format!("/requests/{id}/approve"), body(approval()), &[Persona::FinOpsLead]),
        ("reject", format!("/requests/{id}/reject"), Some(json!({"rationale": "no"})), &[Persona::FinOpsLead]),
    ];
    for (what, uri, b, allowed) in routes {
        for (i, persona) in [Persona::ProductOwner, Persona::FinOpsLead, Persona::CloudEngineer, Persona::PortfolioOwner, Persona::Finance].into_iter().enumerate() {
            if allowed.contains(&persona) {
                continue;
            }
            let who = actor(&format!("u{i}@example.com"), persona, &["retail"]);
            let (s, e) = call(&w, Some(&who), Method::POST, &uri, b.clone()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{persona} {what}: {e}");
            assert!(e["message"].as_str().unwrap().contains("separation of duties"), "{e}");
        }
    }
    let (_, trail) = call(&w, Some(&finops_lead()), Method::GET, &format!("/audit/business_request/{id}"), None).await;
    let refusals = trail.as_array().unwrap().iter().filter(|r| r["action"].as_str().unwrap().starts_with("forbidden:")).count();
    assert_eq!(refusals, 8, "four personas refused approve and reject each: {trail}");
}

#[tokio::test]
async fn local_tokens_guard_every_route_but_health() {
    let w = embedded(false).await;
    let tokens = http_api::auth::LocalTokens::new(vec![3; 32]).unwrap();
    let app = http_api::with_local_tokens(http_api::router(w.gov.clone()), tokens.clone());
    let token = tokens.mint(&product_owner(), chrono::Utc::now() + chrono::Duration::hours(1)).unwrap();
    let get = |auth: Option<String>, uri: &'static str| {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(HttpBody::empty()).unwrap()
    };
    assert_eq!(app.clone().oneshot(get(None, "/health")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.clone().oneshot(get(None, "/inbox")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.clone().oneshot(get(Some("Bearer forged.token".into()), "/inbox")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.clone().oneshot(get(Some(format!("Bearer {token}")), "/inbox")).await.unwrap().status(), StatusCode::OK);
    // The persona header, when sent, must name the token's persona.
    let with_persona = |persona: &str| Request::builder().uri("/inbox").header("authorization", format!("Bearer {token}")).header("x-finops-persona", persona).body(HttpBody::empty()).unwrap();
    assert_eq!(app.clone().oneshot(with_persona("ProductOwner")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.clone().oneshot(with_persona("product-owner")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.clone().oneshot(with_persona("FinOpsLead")).await.unwrap().status(), StatusCode::UNAUTHORIZED, "not the token's persona");
    assert_eq!(app.clone().oneshot(with_persona("{}")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let _ = Arc::clone(&w.gov);
}

/// A browser's preflight from an allowed origin is answered before the token
/// check, naming the headers a client sends; an origin not allowed gets no
/// CORS headers; a real request from the allowed origin carries them too.
#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_and_others_are_not() {
    let w = embedded(false).await;
    let tokens = http_api::auth::LocalTokens::new(vec![4; 32]).unwrap();
    let origin = "http://localhost:5173";
    let app = http_api::with_cors(http_api::with_local_tokens(http_api::router(w.gov.clone()), tokens.clone()), &[origin.to_owned()]).unwrap();
    let preflight = |from: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/requests")
            .header("origin", from)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type,x-finops-persona")
            .body(HttpBody::empty())
            .unwrap()
    };
    let ok = app.clone().oneshot(preflight(origin)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK, "a preflight carries no token and is still answered");
    let h = ok.headers();
    assert_eq!(h.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some(origin));
    let allowed = h.get("access-control-allow-headers").and_then(|v| v.to_str().ok()).unwrap_or_default().to_lowercase();
    for header in http_api::CORS_HEADERS {
        assert!(allowed.contains(header), "{header} in {allowed}");
    }
    assert!(h.get("access-control-allow-methods").and_then(|v| v.to_str().ok()).is_some_and(|m| m.contains("POST")));
    let other = app.clone().oneshot(preflight("https://evil.example.com")).await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none(), "an origin not allowed is not told it is");
    let token = tokens.mint(&product_owner(), chrono::Utc::now() + chrono::Duration::hours(1)).unwrap();
    let real = Request::builder().uri("/inbox").header("origin", origin).header("authorization", format!("Bearer {token}")).body(HttpBody::empty()).unwrap();
    let res = app.clone().oneshot(real).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some(origin));
    for bad in ["localhost:5173", "https://", "https://a.example.com/path", "ftp://x"] {
        let e = http_api::with_cors(http_api::router(w.gov.clone()), &[bad.to_owned()]).unwrap_err();
        assert!(e.contains(bad), "{e}");
    }
}

/// The route table is the router: each group's routes answer (not 404/405) in
/// that group's router, and no other group's router serves them.
#[tokio::test]
async fn the_route_table_is_what_each_group_serves() {
    use http_api::{RouteGroup, ROUTE_TABLE};
    let w = embedded(false).await;
    for group in RouteGroup::ALL {
        let app = http_api::router_for(w.gov.clone(), &[group]);
        for (method, path, owner) in ROUTE_TABLE {
            let uri = path.replace("{id}", "x").replace("{kind}", "k").replace("{step}", "1");
            let mut req = Request::builder().method(*method).uri(&uri).header("content-type", "application/json").body(HttpBody::from("{}")).unwrap();
            req.extensions_mut().insert(finops_lead());
            let res = app.clone().oneshot(req).await.unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
            // A missing entity is also a 404; only the router's fallback says "no such route".
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED || String::from_utf8_lossy(&body).contains("no such route");
            assert_eq!(!unrouted, *owner == group, "{method} {path} in {group:?}: {status}");
        }
    }
}

/// Issue 12, item 3: amounts and counts are bounded at the edge, so the
/// inputs that once panicked a handler (and then every caller of the gaps and
/// maturity views) are 400s naming the field, and nothing is stored.
#[tokio::test]
async fn amounts_and_counts_beyond_their_bounds_are_400s_not_panics() {
    let w = embedded(false).await;
    let (po, fl) = (product_owner(), finops_lead());
    let max = "79228162514264337593543950335";
    let mut ha = serde_json::to_value(draft("Chat")).unwrap();
    ha["availability"] = json!("high_availability");
    ha["estimate"] = json!({"kind": "monthly_dollars", "amount": max});
    let (s, e) = call(&w, Some(&po), Method::POST, "/estimates", Some(ha.clone())).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("estimate")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("10^15"), "{e}");
    let mut baseline = serde_json::to_value(draft("Chat")).unwrap();
    baseline["business_case"] = json!({"value_type": "cost_saving", "annual_baseline": max, "target_pct": "10"});
    let (s, e) = call(&w, Some(&po), Method::POST, "/requests", Some(baseline)).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("business_case.annual_baseline")), "{e}");
    let mut tokens = serde_json::to_value(draft("Chat")).unwrap();
    tokens["estimate"] = json!({"kind": "monthly_tokens", "input": u64::MAX, "output": 1, "cache_read": 0});
    let (s, e) = call(&w, Some(&po), Method::POST, "/estimates", Some(tokens)).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("estimate.input")), "{e}");
    let (_, listed) = call(&w, Some(&fl), Method::GET, "/requests", None).await;
    assert_eq!(listed, json!([]), "nothing stored");
    // The largest amount allowed still estimates, with the HA premium.
    ha["estimate"]["amount"] = json!("1000000000000000");
    let (s, r) = call(&w, Some(&po), Method::POST, "/estimates", Some(ha)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["high"], "1100000000000000");
}

/// A store that panics once told to: the stand-in for any bug in a handler.
struct PanicSwitch {
    inner: Arc<dyn services::ports::Store>,
    on: Arc<std::sync::atomic::AtomicBool>,
}

impl PanicSwitch {
    fn check(&self) {
        assert!(!self.on.load(std::sync::atomic::Ordering::SeqCst), "the store exploded");
    }
}

#[async_trait::async_trait]
impl services::ports::Store for PanicSwitch {
    async fn get(&self, key: &services::ports::ItemKey) -> Result<Option<services::ports::Item>, services::ports::StoreError> {
        self.check();
        self.inner.get(key).await
    }
    async fn put(&self, item: services::ports::ItemData, condition: services::ports::Condition) -> Result<u64, services::ports::StoreError> {
        self.check();
        self.inner.put(item, condition).await
    }
    async fn query(&self, pk: &str, range: &services::ports::SkRange, page: services::ports::PageRequest) -> Result<services::ports::Page, services::ports::StoreError> {
        self.check();
        self.inner.query(pk, range, page).await
    }
    async fn query_index(&self, pk: &str, range: &services::ports::SkRange, page: services::ports::PageRequest) -> Result<services::ports::Page, services::ports::StoreError> {
        self.check();
        self.inner.query_index(pk, range, page).await
    }
    async fn transact(&self, ops: Vec<services::ports::WriteOp>) -> Result<(), services::ports::StoreError> {
        self.check();
        self.inner.transact(ops).await
    }
}

#[tokio::test]
async fn a_panic_in_a_handler_is_a_500_with_the_json_error_body() {
    let on = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = on.clone();
    let w = contract_tests::governed_world::embedded_wrapped(false, move |inner| Arc::new(PanicSwitch { inner, on: switch })).await;
    assert_eq!(call(&w, Some(&finops_lead()), Method::GET, "/requests", None).await.0, StatusCode::OK);
    on.store(true, std::sync::atomic::Ordering::SeqCst);
    let (s, e) = call(&w, Some(&finops_lead()), Method::GET, "/requests", None).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")), "{e}");
    assert!(!e["message"].as_str().unwrap().contains("exploded"), "the panic's text is logged, not shown: {e}");
}

/// Issue 12, item 7: unknown fields refused, 413 for a body over the limit,
/// query errors as the JSON body, authorization before parsing, and the exact
/// JSON media type.
#[tokio::test]
async fn bodies_queries_and_media_types_are_checked_strictly_and_after_authorization() {
    let w = embedded(false).await;
    let (po, fl, ce) = (product_owner(), finops_lead(), cloud_engineer());
    let mut extra = serde_json::to_value(draft("Chat")).unwrap();
    extra["colour"] = json!("blue");
    let (s, e) = call(&w, Some(&po), Method::POST, "/requests", Some(extra)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("colour"), "{e}");
    let (_, r) = call(&w, Some(&po), Method::POST, "/requests", body(draft("Chat"))).await;
    let id = r["id"].as_str().unwrap().to_owned();
    call(&w, Some(&po), Method::POST, &format!("/requests/{id}/submit"), None).await;
    let mut a = serde_json::to_value(approval()).unwrap();
    a["budget_override"] = json!("1");
    let (s, e) = call(&w, Some(&fl), Method::POST, &format!("/requests/{id}/approve"), Some(a)).await;
    assert!(s == StatusCode::BAD_REQUEST && e["message"].as_str().unwrap().contains("budget_override"), "{s} {e}");
    let (s, e) = call(&w, Some(&po), Method::POST, "/claims", Some(json!({"workload": "w", "kind": "iam_role", "arn": "arn:aws:iam::111122223333:role/x", "owner": "me"}))).await;
    assert!(s == StatusCode::BAD_REQUEST && e["message"].as_str().unwrap().contains("owner"), "{s} {e}");

    let big = format!("{{\"description\": \"{}\"}}", "x".repeat(3 << 20));
    let (s, e) = raw(&w, &po, "/requests", "application/json", &big).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")), "{e}");

    let (s, e) = call(&w, Some(&ce), Method::GET, "/tasks?open=perhaps", None).await;
    assert_eq!((s, e["error"].as_str(), e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid"), Some("query")), "{e}");
    let (s, e) = call(&w, Some(&fl), Method::GET, "/gaps?period=2026-03&period=2026-04", None).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("query")), "{e}");

    // A Cloud Engineer sending garbage to a Product Owner's route is refused
    // for who they are (audited), not for the garbage.
    let (s, e) = raw(&w, &ce, "/requests", "application/json", "{not json").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, _) = raw(&w, &ce, &format!("/requests/{id}/approve"), "application/json", "[]").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, trail) = call(&w, Some(&fl), Method::GET, &format!("/audit/business_request/{id}"), None).await;
    assert!(trail.as_array().unwrap().iter().any(|r| r["action"] == "forbidden:ApproveRequest" && r["actor"]["persona"] == "CloudEngineer"), "{trail}");

    for ct in ["application/jsonfoo", "text/json", "application/json-patch+json"] {
        let (s, _) = raw(&w, &po, "/requests", ct, &serde_json::to_string(&draft("Chat")).unwrap()).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
    }
    let (s, _) = raw(&w, &po, "/requests", "Application/JSON; charset=utf-8", &serde_json::to_string(&draft("Chat")).unwrap()).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn live_vs_billed_is_served_with_the_services_numbers_and_refuses_bad_input() {
    let w = embedded(false).await;
    contract_tests::analytics_suite::store_generated(&w, 3).await;
    let fl = finops_lead();
    let period = domain::BillingPeriod::parse("2026-02").unwrap();
    let (s, r) = call(&w, Some(&fl), Method::GET, "/reports/live-vs-billed?period=2026-02", None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r, serde_json::to_value(w.gov.live_vs_billed(&fl, period).await.unwrap()).unwrap());
    assert!(r["accounts"].as_array().unwrap().iter().any(|a| a["logs"] == false), "no logs ingested: every billing account is named");
    let (s, e) = call(&w, Some(&fl), Method::GET, "/reports/live-vs-billed?period=Feb", None).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("period")));
    let (s, _) = call(&w, Some(&cloud_engineer()), Method::GET, "/reports/live-vs-billed?period=2026-02", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn reports_take_a_cost_basis_and_the_chargeback_waits_for_settled_cards() {
    use contract_tests::analytics_suite::{owner_of, store_generated, week};
    let w = embedded(false).await;
    store_generated(&w, 5).await;
    let fl = finops_lead();
    // A report on another basis, or a refusal naming the parameter.
    let (s, r) = call(&w, Some(&fl), Method::GET, "/reports/attribution?period=2026-02&cost_basis=net", None).await;
    assert_eq!((s, r["cost_basis"].as_str()), (StatusCode::OK, Some("net")), "{r}");
    let (s, e) = call(&w, Some(&fl), Method::GET, "/reports/reconcile?period=2026-02&cost_basis=blended", None).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("cost_basis")), "{e}");

    // The chargeback of the month of the cards' Sunday: refused until settled.
    let month = domain::BillingPeriod::of(week().sunday()).to_string();
    let uri = format!("/exports/chargeback?period={month}");
    let (s, e) = call(&w, Some(&fl), Method::GET, &uri, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().contains("no spend cards were built"), "{e}");
    w.gov.build_cards(week()).await.unwrap();
    let (s, e) = call(&w, Some(&fl), Method::GET, &uri, None).await;
    assert!(s == StatusCode::CONFLICT && e["message"].as_str().unwrap().contains("is Open"), "{s} {e}");
    let cards = w.gov.cards(&fl, week()).await.unwrap();
    for c in &cards {
        w.gov.accept_card(&owner_of(c), &c.id).await.unwrap();
    }
    let mut portfolios: Vec<_> = cards.iter().map(|c| c.portfolio.clone()).collect();
    portfolios.sort();
    portfolios.dedup();
    for p in &portfolios {
        let owner = actor("olga@example.com", Persona::PortfolioOwner, &[p.as_str()]);
        w.gov.approve_rollup(&owner, p, week(), services::governance::RollupInput::default()).await.unwrap();
    }
    let (s, rows) = call(&w, Some(&fl), Method::GET, &uri, None).await;
    assert_eq!(s, StatusCode::OK, "{rows}");
    let table = w.gov.chargeback_export(&fl, month.parse().unwrap()).await.unwrap();
    assert_eq!(rows, export_files::json_rows(&table));
    assert!(rows.as_array().unwrap().iter().any(|r| r["Level"] == "E4" && r["Cards"].as_str().unwrap().contains(&cards[0].id)));
    // The CSV is the file `finops export chargeback` writes.
    let mut req = Request::builder().uri(format!("{uri}&format=csv")).body(HttpBody::empty()).unwrap();
    req.extensions_mut().insert(fl.clone());
    let res = http_api::router(w.gov.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    assert_eq!(bytes.to_vec(), export_files::write(&table, export_files::FileFormat::Csv).unwrap());
    let (s, e) = call(&w, Some(&fl), Method::GET, &format!("{uri}&format=xml"), None).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("format")));
    let (s, _) = call(&w, Some(&product_owner()), Method::GET, &uri, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
