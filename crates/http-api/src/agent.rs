//! Agent Bill's routes: `POST /ask` (a sentence), one GET route per typed
//! question (its query is the tool's arguments, as `domain::agent::tools`
//! lists them), `POST /agent/suspend` (the one action, confirmed), and
//! `/mcp`, the same tools over MCP's Streamable HTTP (see [`crate::mcp`]).

use std::collections::BTreeMap;

use axum::extract::State;
use serde_json::{Map, Value};
use services::governance::agent::AskInput;

use super::{ok, ApiError, ApiResult, Body, Caller, ErrorBody, Gov, Params};

/// A GET route's query as tool arguments (every value a string).
async fn answer(gov: &services::governance::Governance, actor: &domain::Actor, tool: &str, query: BTreeMap<String, String>) -> ApiResult {
    let args: Map<String, Value> = query.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    ok(gov.answer_tool(actor, tool, &args).await?)
}

#[utoipa::path(post, path = "/ask", tag = "agent bill", description = "A question in words, mapped to one typed question by a deterministic parser (keywords, a workload's id or name, periods such as last week, October, this month). The answer says how it was understood; a sentence that maps to nothing gets `understood: false` and the list of what can be asked, never a guess. Scope as the typed routes.", request_body = AskInput, responses((status = 200, body = services::governance::agent::Asked), (status = 400, description = "Invalid input; `field` names it (a suspension without confirm)", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Outside the caller's scope or persona (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Nothing to suspend", body = ErrorBody), (status = 503, description = "Store or ledger unavailable; retry", body = ErrorBody)))]
pub(crate) async fn ask(State(gov): Gov, Caller(actor): Caller, Body(input): Body<AskInput>) -> ApiResult {
    ok(gov.ask(&actor, input).await?)
}

/// `POST /agent/suspend`'s body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct SuspendAsk {
    /// The workload id.
    workload: String,
    /// Must be true: suspending stops the workload's model calls.
    confirm: bool,
}

#[utoipa::path(post, path = "/agent/suspend", tag = "agent bill", description = "Suspend a workload through the kill switch, as Agent Bill's one action: refused (400, `confirm`) unless `confirm` is true. Its owner or the FinOps Lead; audited.", request_body = SuspendAsk, responses((status = 200, body = services::governance::agent::Answer), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Not the owner or the FinOps Lead (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Nothing to deny", body = ErrorBody), (status = 503, description = "Store or IAM unavailable; retry", body = ErrorBody)))]
pub(crate) async fn suspend(State(gov): Gov, Caller(actor): Caller, Body(body): Body<Value>) -> ApiResult {
    let Value::Object(args) = body else { return Err(ApiError::invalid("body", "must be an object: {\"workload\": …, \"confirm\": true}")) };
    ok(gov.answer_tool(&actor, "suspend", &args).await?)
}

/// The GET routes, one per question: the same handler body, the tool's name.
macro_rules! question_route {
    ($fn:ident, $tool:literal, $path:literal, $desc:literal, [$($param:literal : $pdesc:literal),*]) => {
        #[utoipa::path(get, path = $path, tag = "agent bill", description = $desc, params($(($param = Option<String>, Query, description = $pdesc)),*), responses((status = 200, body = services::governance::agent::Answer), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Outside the caller's scope or persona (audited)", body = ErrorBody), (status = 404, description = "No such workload", body = ErrorBody), (status = 500, description = "Stored facts could not be read", body = ErrorBody), (status = 503, description = "Store or ledger unavailable; retry", body = ErrorBody)))]
        pub(crate) async fn $fn(State(gov): Gov, Caller(actor): Caller, Params(q): Params<BTreeMap<String, String>>) -> ApiResult {
            answer(&gov, &actor, $tool, q).await
        }
    };
}

question_route!(estimate_status, "estimate_status", "/agent/estimate-status", "Over or under estimate, for a workload or the caller's workloads.", ["workload": "A workload id (default: yours)", "period": "YYYY-MM (default: this month)", "week": "YYYY-Www"]);
question_route!(spend_by, "spend_by", "/agent/spend-by", "Spend by model, region, token type or workload.", ["dimension": "model, region, token_type or workload", "workload": "A workload id (default: yours)", "period": "YYYY-MM (default: this month)", "week": "YYYY-Www"]);
question_route!(cache_hit_rate, "cache_hit_rate", "/agent/cache-hit-rate", "Cache hit rate per model, and what ten more points of caching would save at catalogue prices.", ["workload": "A workload id (default: yours)", "period": "YYYY-MM (default: this month)", "week": "YYYY-Www"]);
question_route!(top_workloads, "top_workloads", "/agent/top-workloads", "The ten workloads that spend, or grew, the most.", ["by": "spend (default) or growth", "period": "YYYY-MM (default: this month)", "week": "YYYY-Www"]);
question_route!(unapproved_models, "unapproved_models", "/agent/unapproved-models", "Models in use outside every approval (open gaps). The FinOps Lead and Finance.", ["period": "YYYY-MM (default: this month)", "week": "YYYY-Www"]);
question_route!(map_credits_at_risk, "map_credits_at_risk", "/agent/map-credits-at-risk", "Spend of MAP-tagged workloads outside their application inference profiles.", ["period": "YYYY-MM (default: this month)", "week": "YYYY-Www"]);
question_route!(month_to_date, "month_to_date", "/agent/month-to-date", "Spend so far this month against estimate, projected to month end.", ["workload": "A workload id (default: yours)"]);
question_route!(unattributed, "unattributed", "/agent/unattributed", "Spend nobody owns, by reason. The FinOps Lead and Finance.", ["period": "YYYY-MM (default: this month)", "week": "YYYY-Www"]);
