//! Routes for allocation gaps, maturity, the attribution reports, spend cards
//! and rollups.

use axum::extract::{Path, State};
use domain::{BillingPeriod, IsoWeek, NodeId};
use serde::Deserialize;
use services::governance::usage::{step_of, InvestigationStepInput};
use services::governance::{DisputeInput, GapActionInput, ResolveInput, RollupInput};

use domain::cur::bases::CostBasis;

use super::{ok, ApiError, ApiResult, Body, Caller, ErrorBody, Gov, Params};

#[derive(Deserialize)]
pub(crate) struct PeriodQuery {
    period: Option<String>,
}

/// A report's query: its period and, optionally, its cost basis.
#[derive(Deserialize)]
pub(crate) struct ReportQuery {
    period: Option<String>,
    cost_basis: Option<String>,
}

impl ReportQuery {
    fn period(&self) -> Result<BillingPeriod, ApiError> {
        required_period(self.period.as_deref())
    }

    fn basis(&self) -> Result<CostBasis, ApiError> {
        self.cost_basis.as_deref().map_or(Ok(CostBasis::Unblended), |b| CostBasis::parse(b).map_err(|e| ApiError::invalid("cost_basis", e.to_string())))
    }
}

#[derive(Deserialize)]
pub(crate) struct WeekQuery {
    week: Option<String>,
}

fn period(q: &PeriodQuery) -> Result<BillingPeriod, ApiError> {
    required_period(q.period.as_deref())
}

fn required_period(raw: Option<&str>) -> Result<BillingPeriod, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::invalid("period", "is required: YYYY-MM"))?;
    BillingPeriod::parse(raw).map_err(|e| ApiError::invalid("period", e.to_string()))
}

fn week(raw: Option<&str>) -> Result<IsoWeek, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::invalid("week", "is required: YYYY-Www"))?;
    IsoWeek::parse(raw).map_err(|e| ApiError::invalid("week", e.to_string()))
}

fn portfolio(raw: &str) -> Result<NodeId, ApiError> {
    NodeId::parse(raw).map_err(|e| ApiError::invalid("portfolio", e.to_string()))
}

#[utoipa::path(get, path = "/gaps", tag = "analytics", params(("period" = String, Query, description = "YYYY-MM")), responses((status = 200, body = services::governance::GapsReport), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn list_gaps(State(gov): Gov, Caller(actor): Caller, Params(q): Params<PeriodQuery>) -> ApiResult {
    ok(gov.gaps_report(&actor, period(&q)?).await?)
}

#[utoipa::path(get, path = "/gaps/{id}", tag = "analytics", params(("id" = String, Path)), responses((status = 200, body = domain::analytics::gaps::Gap), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn get_gap(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.get_gap(&actor, &id).await?)
}

#[utoipa::path(post, path = "/gaps/{id}/actions", tag = "analytics", params(("id" = String, Path)), request_body = services::governance::GapActionInput, responses((status = 200, body = services::governance::GapActionOutcome), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The gap's state does not allow the action, or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn gap_action(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<GapActionInput>) -> ApiResult {
    ok(gov.gap_action(&actor, &id, input).await?)
}

#[derive(Deserialize)]
pub(crate) struct HoursQuery {
    hours: Option<String>,
}

#[utoipa::path(get, path = "/investigations", tag = "analytics", responses((status = 200, body = Vec<domain::analytics::investigations::Investigation>), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn list_investigations(State(gov): Gov, Caller(actor): Caller) -> ApiResult {
    ok(gov.investigations(&actor).await?)
}

async fn step(gov: &services::governance::Governance, actor: &domain::Actor, id: &str, action: &str, input: InvestigationStepInput) -> ApiResult {
    let step = step_of(action, input.assignee.as_deref(), input.gap.as_deref())?;
    ok(gov.investigation_step(actor, id, step, input.rationale.as_deref().unwrap_or_default()).await?)
}

#[utoipa::path(post, path = "/investigations/{id}/assign", tag = "analytics", params(("id" = String, Path)), request_body = InvestigationStepInput, responses((status = 200, body = domain::analytics::investigations::Investigation), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The investigation is Linked or Closed, or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn assign_investigation(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<InvestigationStepInput>) -> ApiResult {
    step(&gov, &actor, &id, "assign", input).await
}

#[utoipa::path(post, path = "/investigations/{id}/link", tag = "analytics", params(("id" = String, Path)), request_body = InvestigationStepInput, responses((status = 200, body = domain::analytics::investigations::Investigation), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 404, description = "No such investigation or gap", body = ErrorBody), (status = 409, description = "The investigation is Linked or Closed, or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn link_investigation(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<InvestigationStepInput>) -> ApiResult {
    step(&gov, &actor, &id, "link", input).await
}

#[utoipa::path(post, path = "/investigations/{id}/close", tag = "analytics", params(("id" = String, Path)), request_body = InvestigationStepInput, responses((status = 200, body = domain::analytics::investigations::Investigation), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The investigation is Linked or Closed, or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn close_investigation(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<InvestigationStepInput>) -> ApiResult {
    step(&gov, &actor, &id, "close", input).await
}

#[utoipa::path(get, path = "/live", tag = "analytics", params(("hours" = Option<u32>, Query, description = "The window, 1 to 744 hours back from now; default 24")), responses((status = 200, body = services::governance::usage::LiveReport), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn live(State(gov): Gov, Caller(actor): Caller, Params(q): Params<HoursQuery>) -> ApiResult {
    let hours = match q.hours.as_deref() {
        None => 24,
        Some(h) => h.parse().map_err(|_| ApiError::invalid("hours", format!("{h:?} is not a whole number of hours")))?,
    };
    ok(gov.live(&actor, hours).await?)
}

#[utoipa::path(get, path = "/maturity", tag = "analytics", params(("period" = String, Query, description = "YYYY-MM")), responses((status = 200, body = services::governance::MaturityReport), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn maturity(State(gov): Gov, Caller(actor): Caller, Params(q): Params<PeriodQuery>) -> ApiResult {
    ok(gov.maturity(&actor, period(&q)?).await?)
}

#[utoipa::path(get, path = "/cards", tag = "analytics", params(("week" = String, Query, description = "YYYY-Www")), responses((status = 200, body = Vec<domain::analytics::cards::SpendCard>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn list_cards(State(gov): Gov, Caller(actor): Caller, Params(q): Params<WeekQuery>) -> ApiResult {
    ok(gov.cards(&actor, week(q.week.as_deref())?).await?)
}

#[utoipa::path(get, path = "/cards/{id}", tag = "analytics", params(("id" = String, Path, description = "{week}.{workload}")), responses((status = 200, body = domain::analytics::cards::SpendCard), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn get_card(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.get_card(&actor, &id).await?)
}

#[utoipa::path(post, path = "/cards/{id}/accept", tag = "analytics", params(("id" = String, Path)), responses((status = 200, body = domain::analytics::cards::SpendCard), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The card is not Open, or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn accept_card(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult {
    ok(gov.accept_card(&actor, &id).await?)
}

#[utoipa::path(post, path = "/cards/{id}/dispute", tag = "analytics", params(("id" = String, Path)), request_body = services::governance::DisputeInput, responses((status = 200, body = domain::analytics::cards::SpendCard), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The card is not Open, or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn dispute_card(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<DisputeInput>) -> ApiResult {
    ok(gov.dispute_card(&actor, &id, input).await?)
}

#[utoipa::path(post, path = "/cards/{id}/resolve", tag = "analytics", params(("id" = String, Path)), request_body = services::governance::ResolveInput, responses((status = 200, body = domain::analytics::cards::SpendCard), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The card is not Disputed, or a concurrent writer won", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn resolve_dispute(State(gov): Gov, Caller(actor): Caller, Path(id): Path<String>, Body(input): Body<ResolveInput>) -> ApiResult {
    ok(gov.resolve_dispute(&actor, &id, input).await?)
}

#[utoipa::path(get, path = "/disputes", tag = "analytics", responses((status = 200, body = Vec<domain::analytics::cards::SpendCard>), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn disputes(State(gov): Gov, Caller(actor): Caller) -> ApiResult {
    ok(gov.disputed_cards(&actor).await?)
}

/// `GET /exports/chargeback`'s query.
#[derive(Deserialize)]
pub(crate) struct ChargebackQuery {
    period: Option<String>,
    format: Option<String>,
}

#[utoipa::path(get, path = "/exports/chargeback", tag = "analytics", description = "Finance's chargeback of a month (the weeks whose Sunday falls in it): one line per workload and hierarchy node from settled spend cards and approved Portfolio rollups, with the card ids and rollup approvals. Refused (409, listing every open card and unapproved rollup) until the month is settled. The FinOps Lead and Finance. `format=csv` returns the same file `finops export chargeback` writes.", params(("period" = String, Query, description = "YYYY-MM"), ("format" = Option<String>, Query, description = "json (default: one object per line, every value a string) or csv")), responses((status = 200, description = "The chargeback lines", content((Vec<std::collections::BTreeMap<String, Option<String>>> = "application/json"), (String = "text/csv"))), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 409, description = "Not settled: the open cards and unapproved rollups are listed", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn chargeback(State(gov): Gov, Caller(actor): Caller, Params(q): Params<ChargebackQuery>) -> ApiResult {
    let period = required_period(q.period.as_deref())?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::invalid("format", format!("{other:?} is not json or csv"))),
    };
    let table = gov.chargeback_export(&actor, period).await?;
    if csv {
        let bytes = export_files::write(&table, export_files::FileFormat::Csv).map_err(|e| ApiError::from(services::governance::GovernanceError::Internal(e.to_string())))?;
        return Ok(axum::response::IntoResponse::into_response(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes)));
    }
    ok(export_files::json_rows(&table))
}

#[utoipa::path(get, path = "/rollups/{portfolio}/{week}", tag = "analytics", params(("portfolio" = String, Path), ("week" = String, Path, description = "YYYY-Www")), responses((status = 200, body = domain::analytics::cards::Rollup), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn get_rollup(State(gov): Gov, Caller(actor): Caller, Path((p, w)): Path<(String, String)>) -> ApiResult {
    ok(gov.get_rollup(&actor, &portfolio(&p)?, week(Some(&w))?).await?)
}

#[utoipa::path(post, path = "/rollups/{portfolio}/{week}/approve", tag = "analytics", params(("portfolio" = String, Path), ("week" = String, Path, description = "YYYY-Www")), request_body = services::governance::RollupInput, responses((status = 200, body = domain::analytics::cards::Rollup), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona or scope (audited)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Cards not settled, or the rollup is already approved", body = ErrorBody), (status = 503, description = "Store unavailable; retry", body = ErrorBody)))]
pub(crate) async fn approve_rollup(State(gov): Gov, Caller(actor): Caller, Path((p, w)): Path<(String, String)>, Body(input): Body<RollupInput>) -> ApiResult {
    ok(gov.approve_rollup(&actor, &portfolio(&p)?, week(Some(&w))?, input).await?)
}

#[utoipa::path(get, path = "/reports/attribution", tag = "reports", description = "Attributed and unattributed AI spend of a billing period. The FinOps Lead sees the organisation; Finance its subtree's workloads plus what nobody owns; Product and Portfolio Owners the workloads in their scope (`scope` says which).", params(("period" = String, Query, description = "YYYY-MM"), ("cost_basis" = Option<String>, Query, description = "unblended (default), net or amortized; a basis whose CUR columns the period lacks is refused, naming the column")), responses((status = 200, body = domain::cur::facts::AttributionReport), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 500, description = "Stored facts could not be read", body = ErrorBody), (status = 503, description = "Store or ledger unavailable; retry", body = ErrorBody)))]
pub(crate) async fn report_attribution(State(gov): Gov, Caller(actor): Caller, Params(q): Params<ReportQuery>) -> ApiResult {
    ok(gov.attribution_report_on(&actor, q.period()?, q.basis()?).await?)
}

#[utoipa::path(get, path = "/reports/reconcile", tag = "reports", description = "Per account: the bill as read = attributed + unattributed + adjustments + non-AI + rows outside the period. The FinOps Lead and Finance only.", params(("period" = String, Query, description = "YYYY-MM"), ("cost_basis" = Option<String>, Query, description = "unblended (default), net or amortized; a basis whose CUR columns the period lacks is refused, naming the column")), responses((status = 200, body = domain::cur::views::Reconciliation), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 500, description = "Stored facts could not be read", body = ErrorBody), (status = 503, description = "Store or ledger unavailable; retry", body = ErrorBody)))]
pub(crate) async fn report_reconcile(State(gov): Gov, Caller(actor): Caller, Params(q): Params<ReportQuery>) -> ApiResult {
    ok(gov.reconciliation_on(&actor, q.period()?, q.basis()?).await?)
}

#[utoipa::path(get, path = "/reports/live-vs-billed", tag = "reports", description = "The invocation logs' estimate against CUR's bill, per owner and day, on the days CUR covers: the error of the live signal, the spend logs cannot be priced against, and the accounts that log nothing. The FinOps Lead sees the organisation; other viewers their workloads' lines, totals recomputed.", params(("period" = String, Query, description = "YYYY-MM")), responses((status = 200, body = domain::analytics::live_vs_billed::LiveVsBilled), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 500, description = "Stored facts could not be read", body = ErrorBody), (status = 503, description = "Store or ledger unavailable; retry", body = ErrorBody)))]
pub(crate) async fn report_live_vs_billed(State(gov): Gov, Caller(actor): Caller, Params(q): Params<PeriodQuery>) -> ApiResult {
    ok(gov.live_vs_billed(&actor, period(&q)?).await?)
}

#[utoipa::path(get, path = "/reports/hierarchy", tag = "reports", description = "Attributed spend rolled up E1–E4, over the nodes in the caller's scope.", params(("period" = String, Query, description = "YYYY-MM"), ("cost_basis" = Option<String>, Query, description = "unblended (default), net or amortized; a basis whose CUR columns the period lacks is refused, naming the column")), responses((status = 200, body = Vec<domain::cur::views::NodeCost>), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 500, description = "Stored facts could not be read", body = ErrorBody), (status = 503, description = "Store or ledger unavailable; retry", body = ErrorBody)))]
pub(crate) async fn report_hierarchy(State(gov): Gov, Caller(actor): Caller, Params(q): Params<ReportQuery>) -> ApiResult {
    ok(gov.attribution_rollup_on(&actor, q.period()?, q.basis()?).await?)
}

#[utoipa::path(get, path = "/reports/legacy", tag = "reports", description = "The legacy shared-account split beside attribution, scoped like the attribution report.", params(("period" = String, Query, description = "YYYY-MM"), ("cost_basis" = Option<String>, Query, description = "unblended (default), net or amortized; a basis whose CUR columns the period lacks is refused, naming the column")), responses((status = 200, body = domain::cur::views::LegacyView), (status = 400, description = "Invalid input; `field` names it", body = ErrorBody), (status = 401, description = "No valid caller", body = ErrorBody), (status = 403, description = "Forbidden for this persona (audited)", body = ErrorBody), (status = 500, description = "Stored facts could not be read", body = ErrorBody), (status = 503, description = "Store or ledger unavailable; retry", body = ErrorBody)))]
pub(crate) async fn report_legacy(State(gov): Gov, Caller(actor): Caller, Params(q): Params<ReportQuery>) -> ApiResult {
    ok(gov.legacy_view_on(&actor, q.period()?, q.basis()?).await?)
}
