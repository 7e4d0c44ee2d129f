//! The governance HTTP API: one router for every host.
//!
//! Errors are `{"error": code, "message": text, "field"?: name}`, mapped once from
//! `GovernanceError` ([`ApiError`]). Request bodies are read with the JSON path of
//! any error, so a bad field is named (`coding.developers`), and nothing is stored
//! for a request that fails. The caller is an `Actor` in the request extensions
//! (see [`auth`]); without one the answer is 401.

mod agent;
mod analytics;
pub mod auth;
#[cfg(feature = "mcp")]
pub mod mcp;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::governance::approval::ApprovalInput;
use domain::governance::request::{RequestDraft, RequestStatus};
use domain::governance::authz::Action;
use domain::{Actor, HierarchyNode, RequestId, WorkloadId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use services::governance::{ClaimInput, Decision, Governance, GovernanceError, ReleaseInput};

/// An error answer. Every failure of every route goes through here.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "invalid", message: message.into(), field: Some(field.into()) }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, code: "unauthenticated", message: message.into(), field: None }
    }
}

impl From<GovernanceError> for ApiError {
    fn from(e: GovernanceError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match &e {
            GovernanceError::Invalid(f) => f.rule.clone(),
            other => other.to_string(),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        Self { status, code: e.code(), message, field: e.field().map(String::from) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let Some(f) = self.field {
            body["field"] = Value::String(f);
        }
        (self.status, Json(body)).into_response()
    }
}

/// The authenticated caller, put in the extensions by the host.
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Actor>().cloned().map(Caller).ok_or_else(|| ApiError::unauthenticated("no authenticated caller"))
    }
}

/// A JSON body whose errors name the offending field by its JSON path.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> Body<T> {
    fn parse(bytes: &Bytes) -> Result<T, ApiError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            // serde reports a missing field at its parent; name the field itself.
            let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
            let field = match (path.as_str(), missing) {
                (".", Some(m)) => m.to_owned(),
                (p, Some(m)) => format!("{p}.{m}"),
                (".", None) | ("?", None) => "body".to_owned(),
                (p, None) => p.to_owned(),
            };
            ApiError::invalid(field, message)
        })
    }
}

/// `application/json`, with parameters (`; charset=utf-8`) or without, and
/// nothing else: `application/jsonfoo` is another type.
fn is_json(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let ct = req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        if !is_json(&ct) {
            return Err(ApiError { status: StatusCode::UNSUPPORTED_MEDIA_TYPE, code: "invalid", message: "send Content-Type: application/json".into(), field: Some("body".into()) });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "invalid" };
            ApiError { status, code, message: e.body_text(), field: Some("body".into()) }
        })?;
        Self::parse(&bytes).map(Body)
    }
}

/// Query-string parameters whose errors are the JSON error body, naming the
/// query, like every other failure.
pub(crate) struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state).await.map(|Query(v)| Params(v)).map_err(|e| ApiError::invalid("query", e.body_text()))
    }
}

/// What a route that takes a body may do: the actions (any one suffices) and
/// the entity its refusal is audited on, as the operation itself would audit
/// it (`{id}` is the route's first path parameter).
struct RouteGuard {
    actions: &'static [Action],
    kind: &'static str,
    id: Option<&'static str>,
}

fn route_guard(method: &axum::http::Method, path: &str) -> Option<RouteGuard> {
    use Action::*;
    if method == axum::http::Method::GET {
        return None;
    }
    let g = |actions: &'static [Action], kind: &'static str, id: Option<&'static str>| Some(RouteGuard { actions, kind, id });
    match path {
        "/requests" => g(&[SubmitRequest], "business_request", Some("new")),
        "/requests/{id}/submit" => g(&[SubmitRequest], "business_request", None),
        "/requests/{id}" => g(&[ReviseRequest], "business_request", None),
        "/requests/{id}/approve" => g(&[ApproveRequest], "business_request", None),
        "/requests/{id}/reject" => g(&[RejectRequest], "business_request", None),
        "/claims" => g(&[ClaimRole, ClaimInferenceProfile, AssignGuardrail, AssignWorkspace, BackdateClaim], "claim", Some("new")),
        "/claims/release" => g(&[ReleaseClaim], "claim", Some("release")),
        "/hierarchy" => g(&[ManageHierarchy], "hierarchy", Some("nodes")),
        "/tasks/{id}/steps/{step}/complete" => g(&[WorkTask], "task", None),
        "/gaps/{id}/actions" => g(&[ActionGap], "gap", None),
        "/cards/{id}/accept" | "/cards/{id}/dispute" => g(&[ReviewCard], "spend_card", None),
        "/cards/{id}/resolve" => g(&[ResolveDispute], "spend_card", None),
        "/rollups/{portfolio}/{week}/approve" => g(&[ApproveRollup], "rollup", None),
        "/workloads/{id}/suspend" | "/workloads/{id}/resume" => g(&[SuspendWorkload], "workload", None),
        "/workloads/{id}/investigate" => g(&[ActionGap], "workload", None),
        "/workloads/{id}/map-tag" => g(&[ImportState], "workload", None),
        "/blocks/{id}/lift" => g(&[ActionGap], "block", None),
        "/investigations/{id}/assign" | "/investigations/{id}/link" | "/investigations/{id}/close" => g(&[ActionInvestigation], "investigation", None),
        _ => None,
    }
}

/// Authorize first: a caller whose persona may not act on a route gets the
/// audited 403 before its body is parsed, so a wrong persona is told 403,
/// never 400 about a body it was not allowed to send.
async fn authorize_route(State(gov): Gov, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let matched = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned());
    let actor = req.extensions().get::<Actor>().cloned();
    if let (Some(path), Some(actor)) = (matched, actor) {
        if let Some(guard) = route_guard(req.method(), &path) {
            // The first path parameter is the entity's id: /requests/{id}/…,
            // /cards/{id}/…; a rollup is audited as week.portfolio.
            let segments: Vec<&str> = req.uri().path().trim_start_matches('/').split('/').collect();
            let id = match (guard.id, guard.kind) {
                (Some(id), _) => id.to_owned(),
                (None, "rollup") => format!("{}.{}", segments.get(2).copied().unwrap_or_default(), segments.get(1).copied().unwrap_or_default()),
                (None, _) => segments.get(1).copied().unwrap_or_default().to_owned(),
            };
            if let Err(e) = gov.authorize_any(&actor, guard.actions, &domain::EntityRef::new(guard.kind, id)).await {
                return ApiError::from(e).into_response();
            }
        }
    }
    next.run(req).await
}

/// A handler's panic becomes a 500 with the JSON error body, never a dropped
/// connection. Panics are bugs (inputs are bounded, sums checked): this is the
/// last line, and it logs what it caught.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> axum::http::Response<String> {
    let what = err.downcast_ref::<String>().map(String::as_str).or_else(|| err.downcast_ref::<&str>().copied()).unwrap_or("a panic");
    tracing::error!(panic = what, "a handler panicked");
    let body = json!({"error": "internal", "message": "the server failed on this request; it has been logged"}).to_string();
    let mut resp = axum::http::Response::new(body);
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    resp
}

fn request_id(raw: &str) -> Result<RequestId, ApiError> {
    RequestId::parse(raw).map_err(|e| ApiError::invalid("id", e.to_string()))
}

fn workload_id(raw: &str) -> Result<WorkloadId, ApiError> {
    WorkloadId::parse(raw).map_err(|e| ApiError::invalid("id", e.to_string()))
}

pub(crate) type Gov = State<Arc<Governance>>;
pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn ok<T: serde::Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}

fn created<T: serde::Serialize>(v: T) -> ApiResult {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(Deserialize)]
struct StatusFilter {
    status: Option<String>,
}

#[derive(Deserialize)]
struct OpenFilter {
    open: Option<bool>,
}

/// Which function serves a route in a deployed stack. Locally one server serves
/// them all; in AWS, API Gateway sends each group to its Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteGroup {
    /// Reads for every persona, in scope (request-intake serves them).
    Read,
    /// Requests and claims (request-intake).
    ProductOwner,
    /// Decisions and the hierarchy (approval-fanout).
    FinOpsLead,
    /// Task progress (task-generator).
    CloudEngineer,
    /// Allocation gaps, their actions, maturity and the attribution reports
    /// (gap-detector, which already reads the fact ledger).
    Gaps,
    /// Spend cards, disputes and rollups (spendcard-builder).
    Cards,
    /// Suspend, resume and the enforcement state (kill-switch).
    KillSwitch,
    /// Agent Bill: `/ask`, the typed questions, MCP (kill-switch: its one
    /// action is a suspension, which needs the IAM enforcer only that
    /// function holds; its reads need only the ledger, which it may read).
    Agent,
}

impl RouteGroup {
    pub const ALL: [RouteGroup; 8] = [RouteGroup::Read, RouteGroup::ProductOwner, RouteGroup::FinOpsLead, RouteGroup::CloudEngineer, RouteGroup::Gaps, RouteGroup::Cards, RouteGroup::KillSwitch, RouteGroup::Agent];

    /// The template's logical id of the function serving this group.
    pub fn function(self) -> &'static str {
        match self {
            RouteGroup::Read | RouteGroup::ProductOwner => "RequestIntakeFunction",
            RouteGroup::FinOpsLead => "ApprovalFanoutFunction",
            RouteGroup::CloudEngineer => "TaskGeneratorFunction",
            RouteGroup::Gaps => "GapDetectorFunction",
            RouteGroup::Cards => "SpendcardBuilderFunction",
            RouteGroup::KillSwitch | RouteGroup::Agent => "KillSwitchFunction",
        }
    }
}

/// Every route: (method, path, group), declared once. `template.yaml`'s HttpApi
/// events must match it (crates/http-api/tests/template_api.rs checks).
pub const ROUTE_TABLE: &[(&str, &str, RouteGroup)] = &[
    ("GET", "/health", RouteGroup::Read),
    ("GET", "/openapi.json", RouteGroup::Read),
    ("GET", "/catalog/models", RouteGroup::Read),
    ("POST", "/estimates", RouteGroup::Read),
    ("GET", "/hierarchy", RouteGroup::Read),
    ("GET", "/requests", RouteGroup::Read),
    ("GET", "/requests/{id}", RouteGroup::Read),
    ("GET", "/tasks", RouteGroup::Read),
    ("GET", "/tasks/{id}", RouteGroup::Read),
    ("GET", "/workloads", RouteGroup::Read),
    ("GET", "/workloads/{id}", RouteGroup::Read),
    ("GET", "/workloads/{id}/claims", RouteGroup::Read),
    ("GET", "/inbox", RouteGroup::Read),
    ("GET", "/audit/{kind}/{id}", RouteGroup::Read),
    ("POST", "/requests", RouteGroup::ProductOwner),
    ("PUT", "/requests/{id}", RouteGroup::ProductOwner),
    ("POST", "/requests/{id}/submit", RouteGroup::ProductOwner),
    ("POST", "/claims", RouteGroup::ProductOwner),
    ("POST", "/claims/release", RouteGroup::ProductOwner),
    ("POST", "/hierarchy", RouteGroup::FinOpsLead),
    ("POST", "/requests/{id}/approve", RouteGroup::FinOpsLead),
    ("POST", "/requests/{id}/reject", RouteGroup::FinOpsLead),
    ("POST", "/workloads/{id}/map-tag", RouteGroup::FinOpsLead),
    ("POST", "/tasks/{id}/steps/{step}/complete", RouteGroup::CloudEngineer),
    ("GET", "/gaps", RouteGroup::Gaps),
    ("GET", "/gaps/{id}", RouteGroup::Gaps),
    ("POST", "/gaps/{id}/actions", RouteGroup::Gaps),
    ("GET", "/investigations", RouteGroup::Gaps),
    ("POST", "/investigations/{id}/assign", RouteGroup::Gaps),
    ("POST", "/investigations/{id}/link", RouteGroup::Gaps),
    ("POST", "/investigations/{id}/close", RouteGroup::Gaps),
    ("GET", "/live", RouteGroup::Gaps),
    ("GET", "/maturity", RouteGroup::Gaps),
    ("GET", "/reports/attribution", RouteGroup::Gaps),
    ("GET", "/reports/reconcile", RouteGroup::Gaps),
    ("GET", "/reports/hierarchy", RouteGroup::Gaps),
    ("GET", "/reports/legacy", RouteGroup::Gaps),
    ("GET", "/reports/live-vs-billed", RouteGroup::Gaps),
    ("GET", "/cards", RouteGroup::Cards),
    ("GET", "/cards/{id}", RouteGroup::Cards),
    ("POST", "/cards/{id}/accept", RouteGroup::Cards),
    ("POST", "/cards/{id}/dispute", RouteGroup::Cards),
    ("POST", "/cards/{id}/resolve", RouteGroup::Cards),
    ("GET", "/disputes", RouteGroup::Cards),
    ("GET", "/rollups/{portfolio}/{week}", RouteGroup::Cards),
    ("POST", "/rollups/{portfolio}/{week}/approve", RouteGroup::Cards),
    ("GET", "/exports/chargeback", RouteGroup::Cards),
    ("POST", "/workloads/{id}/suspend", RouteGroup::KillSwitch),
    ("POST", "/workloads/{id}/resume", RouteGroup::KillSwitch),
    ("POST", "/workloads/{id}/investigate", RouteGroup::KillSwitch),
    ("GET", "/enforcement", RouteGroup::KillSwitch),
    ("GET", "/blocks", RouteGroup::KillSwitch),
    ("POST", "/blocks/{id}/lift", RouteGroup::KillSwitch),
    ("POST", "/ask", RouteGroup::Agent),
    ("GET", "/agent/estimate-status", RouteGroup::Agent),
    ("GET", "/agent/spend-by", RouteGroup::Agent),
    ("GET", "/agent/cache-hit-rate", RouteGroup::Agent),
    ("GET", "/agent/top-workloads", RouteGroup::Agent),
    ("GET", "/agent/unapproved-models", RouteGroup::Agent),
    ("GET", "/agent/map-credits-at-risk", RouteGroup::Agent),
    ("GET", "/agent/month-to-date", RouteGroup::Agent),
    ("GET", "/agent/unattributed", RouteGroup::Agent),
    ("POST", "/agent/suspend", RouteGroup::Agent),
    // MCP's Streamable HTTP: requests are POSTs; GET (a server stream) and
    // DELETE (a session's end) answer 405 in its stateless mode.
    ("POST", "/mcp", RouteGroup::Agent),
];

/// Routes outside the OpenAPI document: MCP describes itself (`tools/list`).
pub const UNDOCUMENTED_ROUTES: &[&str] = &["/openapi.json", "/mcp"];

/// Routes that need no caller: liveness and the API's own description.
pub const OPEN_ROUTES: &[&str] = &["/health", "/openapi.json"];

/// The body of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// invalid, unauthenticated, forbidden, not_found, conflict, unavailable, internal.
    pub error: String,
    pub message: String,
    /// The offending field, as a JSON path, for `invalid`.
    pub field: Option<String>,
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").description(Some("A Cognito ID token in AWS; a `finops token` locally.")).build()),
        );
    }
}

/// What every route may answer besides its own statuses, documented once:
/// 500 (a bug, caught and logged) everywhere, and for a route with a body 413
/// (over the size limit) and 415 (not `application/json`). And the links a
/// client (and schemathesis's stateful phase) follows from a created thing to
/// what can be done with it.
struct CommonResponses;

/// (method, path, status) → links: (name, operation id, parameter, runtime expression).
type LinkSpec = (&'static str, &'static str, &'static str, &'static [(&'static str, &'static str, &'static str, &'static str)]);
const LINKS: &[LinkSpec] = &[
    ("post", "/requests", "201", &[
        ("GetRequest", "get_request", "id", "$response.body#/id"),
        ("ReviseRequest", "revise_request", "id", "$response.body#/id"),
        ("SubmitRequest", "submit_request", "id", "$response.body#/id"),
        ("ApproveRequest", "approve_request", "id", "$response.body#/id"),
        ("RejectRequest", "reject_request", "id", "$response.body#/id"),
    ]),
    ("post", "/requests/{id}/submit", "200", &[("ApproveRequest", "approve_request", "id", "$response.body#/id"), ("RejectRequest", "reject_request", "id", "$response.body#/id")]),
    ("post", "/requests/{id}/approve", "200", &[
        ("GetWorkload", "get_workload", "id", "$response.body#/workload"),
        ("WorkloadClaims", "workload_claims", "id", "$response.body#/workload"),
    ]),
    ("get", "/requests", "200", &[("GetRequest", "get_request", "id", "$response.body#/0/id")]),
    ("get", "/tasks", "200", &[("GetTask", "get_task", "id", "$response.body#/0/id")]),
    ("get", "/workloads", "200", &[("GetWorkload", "get_workload", "id", "$response.body#/0/id"), ("WorkloadClaims", "workload_claims", "id", "$response.body#/0/id")]),
    ("get", "/gaps", "200", &[("GetGap", "get_gap", "id", "$response.body#/gaps/0/id"), ("ActOnGap", "gap_action", "id", "$response.body#/gaps/0/id")]),
    ("get", "/investigations", "200", &[("AssignInvestigation", "assign_investigation", "id", "$response.body#/0/id"), ("CloseInvestigation", "close_investigation", "id", "$response.body#/0/id")]),
    ("get", "/cards", "200", &[
        ("GetCard", "get_card", "id", "$response.body#/0/id"),
        ("AcceptCard", "accept_card", "id", "$response.body#/0/id"),
        ("DisputeCard", "dispute_card", "id", "$response.body#/0/id"),
        ("ResolveDispute", "resolve_dispute", "id", "$response.body#/0/id"),
    ]),
];

/// The `X-FinOps-Persona` header: a user in several persona groups picks the
/// one a call acts as (with one group it is used; see `auth::actor_from_claims`).
fn persona_header() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let values: Vec<&str> = domain::Persona::ALL.iter().map(|p| p.as_str()).collect();
    ParameterBuilder::new()
        .name("X-FinOps-Persona")
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some("The persona to act as, for a user in several persona groups (Cognito groups); required then, ignored with one group. Refused (401) when the user is not in that group."))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values))))
        .build()
}

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder};
        let error = |text: &str| RefOr::T(ResponseBuilder::new().description(text).content("application/json", utoipa::openapi::ContentBuilder::new().schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody")))).build()).build());
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch] {
                let Some(op) = op.as_mut() else { continue };
                if path == "/health" || path == "/openapi.json" {
                    continue;
                }
                op.parameters.get_or_insert_with(Vec::new).push(persona_header());
                let r = &mut op.responses.responses;
                r.entry("500".into()).or_insert_with(|| error("A server failure; it is logged"));
                r.entry("405".into()).or_insert_with(|| error("The path exists but not with this method (`method_not_allowed`)"));
                if op.request_body.is_some() {
                    r.entry("413".into()).or_insert_with(|| error("The body is over the size limit"));
                    r.entry("415".into()).or_insert_with(|| error("The body is not `application/json`"));
                }
            }
        }
    }
}

/// The OpenAPI document, generated from the handlers and types above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "FinOps Center governance API", description = "The governed path: Business Requests, approvals, Cloud Engineer tasks, claims. Money is a decimal string."),
    paths(health, catalog, estimate, hierarchy, define_hierarchy, list_requests, create_request, get_request, revise_request, submit_request, approve_request, reject_request, list_tasks, get_task, complete_step, list_workloads, get_workload, workload_claims, claim, release, inbox, audit, analytics::list_gaps, analytics::get_gap, analytics::gap_action, analytics::list_investigations, analytics::assign_investigation, analytics::link_investigation, analytics::close_investigation, analytics::live, analytics::maturity, analytics::report_attribution, analytics::report_reconcile, analytics::report_hierarchy, analytics::report_legacy, analytics::report_live_vs_billed, analytics::list_cards, analytics::get_card, analytics::accept_card, analytics::dispute_card, analytics::resolve_dispute, analytics::disputes, analytics::get_rollup, analytics::approve_rollup, analytics::chargeback, map_tag, suspend_workload, resume_workload, investigate_workload, enforcement, list_blocks, lift_block, agent::ask, agent::estimate_status, agent::spend_by, agent::cache_hit_rate, agent::top_workloads, agent::unapproved_models, agent::map_credits_at_risk, agent::month_to_date, agent::unattributed, agent::suspend),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth, &CommonResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// The document as served at `/openapi.json` and committed as `openapi.json`.
/// The links are added to the JSON here: utoipa 5.5 writes a link's
/// `operationId` as `operation_id`, which no client understands.
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(v) => v,
        Err(e) => return json!({"error": e.to_string()}).to_string(),
    };
    for (method, path, status, links) in LINKS {
        if let Some(resp) = doc.pointer_mut(&format!("/paths/{}/{method}/responses/{status}", path.replace('~', "~0").replace('/', "~1"))) {
            let map: serde_json::Map<String, Value> =
                links.iter().map(|(name, operation, param, expr)| ((*name).to_owned(), json!({"operationId": operation, "parameters": {*param: expr}}))).collect();
            resp["links"] = Value::Object(map);
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The committed document, which `tests/openapi.rs` proves is the generated
/// one: served as it stands, not rebuilt per request, and the functions do
/// not link utoipa's builders.
const OPENAPI_DOCUMENT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"));

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI_DOCUMENT.trim_end()).into_response()
}

/// Every route of the governed path (the local server).
pub fn router(gov: Arc<Governance>) -> Router {
    router_for(gov, &RouteGroup::ALL)
}

/// The routes of some groups (a Lambda's share of the API).
pub fn router_for(gov: Arc<Governance>, groups: &[RouteGroup]) -> Router {
    let mut r = Router::new();
    if groups.contains(&RouteGroup::Read) {
        r = r
            .route("/health", get(health))
            .route("/openapi.json", get(openapi))
            .route("/catalog/models", get(catalog))
            .route("/estimates", post(estimate))
            .route("/hierarchy", get(hierarchy))
            .route("/requests", get(list_requests))
            .route("/requests/{id}", get(get_request))
            .route("/tasks", get(list_tasks))
            .route("/tasks/{id}", get(get_task))
            .route("/workloads", get(list_workloads))
            .route("/workloads/{id}", get(get_workload))
            .route("/workloads/{id}/claims", get(workload_claims))
            .route("/inbox", get(inbox))
            .route("/audit/{kind}/{id}", get(audit));
    }
    if groups.contains(&RouteGroup::ProductOwner) {
        r = r
            .route("/requests", post(create_request))
            .route("/requests/{id}", axum::routing::put(revise_request))
            .route("/requests/{id}/submit", post(submit_request))
            .route("/claims", post(claim))
            .route("/claims/release", post(release));
    }
    if groups.contains(&RouteGroup::FinOpsLead) {
        r = r
            .route("/hierarchy", post(define_hierarchy))
            .route("/requests/{id}/approve", post(approve_request))
            .route("/requests/{id}/reject", post(reject_request))
            .route("/workloads/{id}/map-tag", post(map_tag));
    }
    if groups.contains(&RouteGroup::CloudEngineer) {
        r = r.route("/tasks/{id}/steps/{step}/complete", post(complete_step));
    }
    if groups.contains(&RouteGroup::Gaps) {
        r = r
            .route("/gaps", get(analytics::list_gaps))
            .route("/gaps/{id}", get(analytics::get_gap))
            .route("/gaps/{id}/actions", post(analytics::gap_action))
            .route("/investigations", get(analytics::list_investigations))
            .route("/investigations/{id}/assign", post(analytics::assign_investigation))
            .route("/investigations/{id}/link", post(analytics::link_investigation))
            .route("/investigations/{id}/close", post(analytics::close_investigation))
            .route("/live", get(analytics::live))
            .route("/maturity", get(analytics::maturity))
            .route("/reports/attribution", get(analytics::report_attribution))
            .route("/reports/reconcile", get(analytics::report_reconcile))
            .route("/reports/hierarchy", get(analytics::report_hierarchy))
            .route("/reports/legacy", get(analytics::report_legacy))
            .route("/reports/live-vs-billed", get(analytics::report_live_vs_billed));
    }
    if groups.contains(&RouteGroup::Cards) {
        r = r
            .route("/cards", get(analytics::list_cards))
            .route("/cards/{id}", get(analytics::get_card))
            .route("/cards/{id}/accept", post(analytics::accept_card))
            .route("/cards/{id}/dispute", post(analytics::dispute_card))
            .route("/cards/{id}/resolve", post(analytics::resolve_dispute))
            .route("/disputes", get(analytics::disputes))
            .route("/rollups/{portfolio}/{week}", get(analytics::get_rollup))
            .route("/rollups/{portfolio}/{week}/approve", post(analytics::approve_rollup))
            .route("/exports/chargeback", get(analytics::chargeback));
    }
    if groups.contains(&RouteGroup::KillSwitch) {
        r = r
            .route("/workloads/{id}/suspend", post(suspend_workload))
            .route("/workloads/{id}/resume", post(resume_workload))
            .route("/workloads/{id}/investigate", post(investigate_workload))
            .route("/enforcement", get(enforcement))
            .route("/blocks", get(list_blocks))
            .route("/blocks/{id}/lift", post(lift_block));
    }
    if groups.contains(&RouteGroup::Agent) {
        r = r
            .route("/ask", post(agent::ask))
            .route("/agent/estimate-status", get(agent::estimate_status))
            .route("/agent/spend-by", get(agent::spend_by))
            .route("/agent/cache-hit-rate", get(agent::cache_hit_rate))
            .route("/agent/top-workloads", get(agent::top_workloads))
            .route("/agent/unapproved-models", get(agent::unapproved_models))
            .route("/agent/map-credits-at-risk", get(agent::map_credits_at_risk))
            .route("/agent/month-to-date", get(agent::month_to_date))
            .route("/agent/unattributed", get(agent::unattributed))
            .route("/agent/suspend", post(agent::suspend));
        #[cfg(feature = "mcp")]
        {
            r = r.route_service("/mcp", mcp::http_service(gov.clone()));
        }
    }
    r.route_layer(axum::middleware::from_fn_with_state(gov.clone(), authorize_route))
        .fallback(|| async { ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message: "no such route".into(), field: None } })
        .method_not_allowed_fallback(|| async { ApiError { status: StatusCode::METHOD_NOT_ALLOWED, code: "method_not_allowed", message: "this route does not take that method".into(), field: None } })
        .with_state(gov)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
}

#[utoipa::path(get, path = "/health", tag = "governance", responses((status = 200, description = "The API is up")), security(()))]
async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/catalog/models", tag = "governance", responses((status = 200, body = domain::governance::catalog::PriceCatalog), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn catalog(State(gov): Gov, _: Caller) -> ApiResult {
    ok(gov.catalog())
}

#[utoipa::path(post, path = "/estimates", tag = "governance", request_body = domain::governance::request::RequestDraft, responses((status = 200, body = domain::governance::estimate::EstimateRange), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn estimate(State(gov): Gov, _: Caller, Body(draft): Body<RequestDraft>) -> ApiResult {
    ok(gov.estimate(&draft)?)
}

#[utoipa::path(get, path = "/hierarchy", tag = "governance", responses((status = 200, body = Vec<domain::HierarchyNode>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn hierarchy(State(gov): Gov, Caller(actor): Caller) -> ApiResult {
    let h = gov.hierarchy().await?;
    let visible: Vec<&HierarchyNode> = h.nodes().filter(|n| actor.can_see(&h, &n.id)).collect();
    ok(visible)
}

#[utoipa::path(post, path = "/hierarchy", tag = "governance", request_body = Vec<domain::HierarchyNode>, responses((status = 204, description = "Nodes added"), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn define_hierarchy(State(gov): Gov, Caller(actor): Caller, Body(nodes): Body<Vec<HierarchyNode>>) -> ApiResult {
    gov.define_hierarchy(&actor, nodes).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/requests", tag = "governance", params(("status" = Option<String>, Query, description = "Draft, Submitted, Approved or Rejected")), responses((status = 200, body = Vec<domain::governance::request::BusinessRequest>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn list_requests(State(gov): Gov, Caller(actor): Caller, Params(f): Params<StatusFilter>) -> ApiResult {
    let status = match f.status.as_deref() {
        None => None,
        Some(s) => Some(
            [RequestStatus::Draft, RequestStatus::Submitted, RequestStatus::Approved, RequestStatus::Rejected]
                .into_iter()
                .find(|x| x.as_str().eq_ignore_ascii_case(s))
                .ok_or_else(|| ApiError::invalid("status", "must be Draft, Submitted, Approved or Rejected"))?,
        ),
    };
    ok(gov.list_requests(&actor, status).await?)
}

#[utoipa::path(post, path = "/requests", tag = "governance", request_body = domain::governance::request::RequestDraft, responses((status = 201, body = domain::governance::request::BusinessRequest), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn create_request(State(gov): Gov, Caller(actor): Caller, Body(draft): Body<RequestDraft>) -> ApiResult {
    created(gov.create_request(&actor, draft).await?)
}

#[utoipa::path(get, path = "/requests/{id}", tag = "governance", params(("id" = String, Path)), responses((status = 200, body = domain::governance::request::BusinessRequest), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn get_request(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.get_request(&actor, &request_id(&id)?).await?)
}

#[utoipa::path(put, path = "/requests/{id}", tag = "governance", params(("id" = String, Path)), request_body = domain::governance::request::RequestDraft, responses((status = 200, body = domain::governance::request::BusinessRequest), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn revise_request(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(draft): Body<RequestDraft>) -> ApiResult {
    ok(gov.revise_request(&actor, &request_id(&id)?, draft).await?)
}

#[utoipa::path(post, path = "/requests/{id}/submit", tag = "governance", params(("id" = String, Path)), responses((status = 200, body = domain::governance::request::BusinessRequest), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn submit_request(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.submit_request(&actor, &request_id(&id)?).await?)
}

#[utoipa::path(post, path = "/requests/{id}/approve", tag = "governance", params(("id" = String, Path)), request_body = domain::governance::approval::ApprovalInput, responses((status = 200, body = services::governance::ApprovalRecord), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn approve_request(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<ApprovalInput>) -> ApiResult {
    ok(gov.approve_request(&actor, &request_id(&id)?, input).await?)
}

#[utoipa::path(post, path = "/requests/{id}/reject", tag = "governance", params(("id" = String, Path)), request_body = services::governance::Decision, responses((status = 200, body = domain::governance::request::BusinessRequest), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn reject_request(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(d): Body<Decision>) -> ApiResult {
    ok(gov.reject_request(&actor, &request_id(&id)?, d).await?)
}

#[utoipa::path(get, path = "/tasks", tag = "governance", params(("open" = Option<bool>, Query, description = "Only tasks not yet Implemented (default true)")), responses((status = 200, body = Vec<domain::governance::tasks::Task>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn list_tasks(State(gov): Gov, Caller(actor): Caller, Params(f): Params<OpenFilter>) -> ApiResult {
    ok(gov.list_tasks(&actor, f.open.unwrap_or(true)).await?)
}

#[utoipa::path(get, path = "/tasks/{id}", tag = "governance", params(("id" = String, Path)), responses((status = 200, body = domain::governance::tasks::Task), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn get_task(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.get_task(&actor, &id).await?)
}

#[utoipa::path(post, path = "/tasks/{id}/steps/{step}/complete", tag = "governance", params(("id" = String, Path), ("step" = u32, Path, description = "The step number, from 1")), responses((status = 200, body = domain::governance::tasks::Task), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn complete_step(State(gov): Gov, Caller(actor): Caller, Path((id, step)): Path<(String, String)>) -> ApiResult {
    let step: usize = step.parse().map_err(|_| ApiError::invalid("step", "must be a step number from 1"))?;
    ok(gov.complete_step(&actor, &id, step).await?)
}

#[utoipa::path(get, path = "/workloads", tag = "governance", responses((status = 200, body = Vec<domain::governance::workload::Workload>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn list_workloads(State(gov): Gov, Caller(actor): Caller) -> ApiResult {
    ok(gov.list_workloads(&actor).await?)
}

#[utoipa::path(get, path = "/workloads/{id}", tag = "governance", params(("id" = String, Path)), responses((status = 200, body = domain::governance::workload::Workload), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn get_workload(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.get_workload(&actor, &workload_id(&id)?).await?)
}

#[utoipa::path(post, path = "/workloads/{id}/map-tag", tag = "governance", description = "Set or clear a workload's `map-migrated` tag value (its AWS MAP engagement), with a rationale; FinOps Lead only, audited. Agent Bill's MAP credit at risk reads it.", params(("id" = String, Path)), request_body = services::governance::MapTagInput, responses((status = 200, body = domain::governance::workload::Workload), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Not the FinOps Lead (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "A concurrent writer won; retry", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn map_tag(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<services::governance::MapTagInput>) -> ApiResult {
    ok(gov.set_map_tag(&actor, &workload_id(&id)?, input).await?)
}

#[utoipa::path(post, path = "/workloads/{id}/suspend", tag = "kill switch", description = "Suspend a workload: the kill-switch deny and the suspended tag on its claimed roles. Its owner or the FinOps Lead, with a rationale; `dry_run` returns the exact IAM calls and changes nothing; `whole_role` (FinOps Lead) denies a shared role as a whole.", params(("id" = String, Path)), request_body = services::governance::SuspendInput, responses((status = 200, body = services::governance::EnforcementOutcome), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Not the owner or the FinOps Lead (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Nothing to deny, or a shared role without whole_role", body = ErrorBody), (status = 503, description = "Store or IAM unavailable; the desired state stands, retry", body = ErrorBody)))]
async fn suspend_workload(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<services::governance::SuspendInput>) -> ApiResult {
    ok(gov.suspend_workload(&actor, &workload_id(&id)?, input).await?)
}

#[utoipa::path(post, path = "/workloads/{id}/resume", tag = "kill switch", description = "Resume a suspended workload: the deny and the tag come off.", params(("id" = String, Path)), request_body = services::governance::SuspendInput, responses((status = 200, body = services::governance::EnforcementOutcome), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Not the owner or the FinOps Lead (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Nothing to resume", body = ErrorBody), (status = 503, description = "Store or IAM unavailable; the desired state stands, retry", body = ErrorBody)))]
async fn resume_workload(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<services::governance::SuspendInput>) -> ApiResult {
    ok(gov.resume_workload(&actor, &workload_id(&id)?, input).await?)
}

/// The FinOps Lead's note when taking an alert.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvestigateInput {
    pub rationale: String,
}

#[utoipa::path(post, path = "/workloads/{id}/investigate", tag = "kill switch", description = "The FinOps Lead takes a workload's alert (raised by a critical spend card): Alerting → Investigating, audited with the rationale.", params(("id" = String, Path)), request_body = InvestigateInput, responses((status = 200, body = domain::governance::enforcement::Enforcement), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Not the FinOps Lead (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "No alert to take", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn investigate_workload(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<InvestigateInput>) -> ApiResult {
    ok(gov.investigate_workload(&actor, &workload_id(&id)?, &input.rationale).await?)
}

#[utoipa::path(get, path = "/enforcement", tag = "kill switch", description = "Each workload's enforcement state and its last action, in the caller's scope.", responses((status = 200, body = Vec<domain::governance::enforcement::Enforcement>), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden (audited)", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn enforcement(State(gov): Gov, Caller(actor): Caller) -> ApiResult {
    ok(gov.enforcement_status(&actor).await?)
}

#[utoipa::path(get, path = "/blocks", tag = "kill switch", description = "Every model block raised from an allocation gap, lifted or not: the model, the accounts it is denied in, who blocked it and why. The FinOps Lead and Finance.", responses((status = 200, body = Vec<services::governance::ModelBlock>), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden (audited)", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn list_blocks(State(gov): Gov, Caller(actor): Caller) -> ApiResult {
    ok(gov.list_blocks(&actor).await?)
}

/// A lifted block and the IAM or Organizations calls that took its deny away.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiftOutcome {
    pub block: services::governance::ModelBlock,
    pub calls: services::governance::BlockCalls,
}

#[utoipa::path(post, path = "/blocks/{id}/lift", tag = "kill switch", description = "Lift a model block: the FinOps Lead, with a rationale. The model's deny comes off the account's roles (another block on the same account stays), `ModelUnblocked` is published, and the block stays in the record, stamped. Lifting a lifted block changes nothing.", params(("id" = String, Path)), request_body = services::governance::LiftInput, responses((status = 200, body = LiftOutcome), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Not the FinOps Lead (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "A concurrent writer won; look again", body = ErrorBody), (status = 503, description = "Store or IAM unavailable; the lift stands, retry", body = ErrorBody)))]
async fn lift_block(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<services::governance::LiftInput>) -> ApiResult {
    let (block, calls) = gov.lift_block(&actor, &id, input).await?;
    ok(LiftOutcome { block, calls })
}

#[utoipa::path(get, path = "/workloads/{id}/claims", tag = "governance", params(("id" = String, Path)), responses((status = 200, body = Vec<domain::governance::claims::Claim>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn workload_claims(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.claims_of(&actor, &workload_id(&id)?).await?)
}

#[utoipa::path(post, path = "/claims", tag = "governance", request_body = services::governance::ClaimInput, responses((status = 201, body = domain::governance::claims::Claim), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn claim(State(gov): Gov, Caller(actor): Caller, Body(input): Body<ClaimInput>) -> ApiResult {
    created(gov.claim(&actor, input).await?)
}

#[utoipa::path(post, path = "/claims/release", tag = "governance", request_body = services::governance::ReleaseInput, responses((status = 200, body = domain::governance::claims::Claim), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn release(State(gov): Gov, Caller(actor): Caller, Body(input): Body<ReleaseInput>) -> ApiResult {
    ok(gov.release_claim(&actor, input).await?)
}

#[utoipa::path(get, path = "/inbox", tag = "governance", responses((status = 200, body = Vec<services::governance::InboxItem>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn inbox(State(gov): Gov, Caller(actor): Caller) -> ApiResult {
    ok(gov.inbox(&actor).await?)
}

#[utoipa::path(get, path = "/audit/{kind}/{id}", tag = "governance", params(("kind" = String, Path, description = "Entity kind: business_request, workload, task, claim, node"), ("id" = String, Path)), responses((status = 200, body = Vec<domain::AuditRecord>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "State conflict or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
async fn audit(State(gov): Gov, Caller(actor): Caller, Path((kind, id)): Path<(String, String)>) -> ApiResult {
    ok(gov.audit_trail(&actor, &kind, &id).await?)
}

/// The local server's authentication: verifies the bearer token on every request
/// and hands the router its `Actor`. `/health` needs none.
/// The header a user in several persona groups picks one with.
pub const PERSONA_HEADER: &str = "x-finops-persona";

/// The headers a browser client of the API sends (the same list as the
/// template's `CorsConfiguration`).
pub const CORS_HEADERS: [&str; 4] = ["authorization", "content-type", "x-finops-persona", "mcp-protocol-version"];

/// CORS for `origins` (exact `scheme://host[:port]` values), as API Gateway's
/// `CorsConfiguration` does in AWS. It goes outermost, around the token
/// check, so a preflight (which carries no token) is answered, not refused.
/// A bad origin is refused by name.
pub fn with_cors(router: Router, origins: &[String]) -> Result<Router, String> {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return Ok(router);
    }
    let mut allowed = Vec::new();
    for o in origins {
        let host = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
        if !host.is_some_and(|h| !h.is_empty() && !h.contains(['/', ' ', ','])) {
            return Err(format!("--cors-origin {o:?}: an origin is scheme://host[:port], e.g. https://finops.example.com"));
        }
        allowed.push(HeaderValue::from_str(o).map_err(|e| format!("--cors-origin {o:?}: {e}"))?);
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(CORS_HEADERS.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(600));
    Ok(router.layer(layer))
}

pub fn with_local_tokens(router: Router, tokens: auth::LocalTokens) -> Router {
    router.layer(axum::middleware::from_fn(move |mut req: axum::extract::Request, next: axum::middleware::Next| {
        let tokens = tokens.clone();
        async move {
            if !OPEN_ROUTES.contains(&req.uri().path()) {
                let header = req.headers().get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
                // As in AWS: a persona asked for must be one the token holds.
                let persona = req.headers().get(PERSONA_HEADER).map(|p| p.to_str().unwrap_or_default().to_owned());
                match tokens.from_header(header, chrono::Utc::now(), persona.as_deref()) {
                    Ok(actor) => {
                        req.extensions_mut().insert(actor);
                    }
                    Err(e) => return ApiError::unauthenticated(e.0).into_response(),
                }
            }
            next.run(req).await
        }
    }))
}
