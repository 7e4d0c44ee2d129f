//! The FOCUS 1.2 allocation export: a period's AI spend at the ledger's grain
//! (one row per fact: day, account, product, usage type, operation, line item
//! type, resource, principal, workspace) in the FinOps Foundation's open
//! billing format, with the attribution FinOps Center adds as `x_` columns.
//!
//! FOCUS columns are filled from CUR 2.0 as AWS's own FOCUS export maps them:
//! BilledCost is unblended, EffectiveCost amortized, ContractedCost net (the
//! negotiated rate, before commitments), ListCost the public on-demand cost;
//! the quantities are CUR's usage amount in the unit the usage type prices
//! in. A fact carries every basis, so the rows' BilledCost adds up to the
//! attribution report's AI total to the last digit, and each `x_Workload`'s
//! to its line. Where the CUR lacked a basis's columns, that basis reads as
//! unblended (FOCUS requires the column; the reports refuse such a basis).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::attribution::{Anchor, Attributor, Outcome};
use super::facts::{outcomes, FactRef, FactValue, Facts, AI_PRODUCT_CODES};
use super::usage_type::{decode, Location, Usage};
use crate::exports::{ColumnType, Table, Value};
use crate::governance::catalog::PriceCatalog;
use crate::hierarchy::Hierarchy;
use crate::ids::{AccountId, NodeId};
use crate::period::BillingPeriod;

/// FOCUS 1.2's columns (every one, mandatory or not, so a consumer finds the
/// whole schema), then FinOps Center's `x_` columns.
pub const COLUMNS: [(&str, ColumnType); 66] = [
    ("AvailabilityZone", ColumnType::Text),
    ("BilledCost", ColumnType::Decimal),
    ("BillingAccountId", ColumnType::Text),
    ("BillingAccountName", ColumnType::Text),
    ("BillingAccountType", ColumnType::Text),
    ("BillingCurrency", ColumnType::Text),
    ("BillingPeriodEnd", ColumnType::Time),
    ("BillingPeriodStart", ColumnType::Time),
    ("CapacityReservationId", ColumnType::Text),
    ("CapacityReservationStatus", ColumnType::Text),
    ("ChargeCategory", ColumnType::Text),
    ("ChargeClass", ColumnType::Text),
    ("ChargeDescription", ColumnType::Text),
    ("ChargeFrequency", ColumnType::Text),
    ("ChargePeriodEnd", ColumnType::Time),
    ("ChargePeriodStart", ColumnType::Time),
    ("CommitmentDiscountCategory", ColumnType::Text),
    ("CommitmentDiscountId", ColumnType::Text),
    ("CommitmentDiscountName", ColumnType::Text),
    ("CommitmentDiscountQuantity", ColumnType::Decimal),
    ("CommitmentDiscountStatus", ColumnType::Text),
    ("CommitmentDiscountType", ColumnType::Text),
    ("CommitmentDiscountUnit", ColumnType::Text),
    ("ConsumedQuantity", ColumnType::Decimal),
    ("ConsumedUnit", ColumnType::Text),
    ("ContractedCost", ColumnType::Decimal),
    ("ContractedUnitPrice", ColumnType::Decimal),
    ("EffectiveCost", ColumnType::Decimal),
    ("InvoiceId", ColumnType::Text),
    ("InvoiceIssuerName", ColumnType::Text),
    ("ListCost", ColumnType::Decimal),
    ("ListUnitPrice", ColumnType::Decimal),
    ("PricingCategory", ColumnType::Text),
    ("PricingCurrency", ColumnType::Text),
    ("PricingCurrencyContractedUnitPrice", ColumnType::Decimal),
    ("PricingCurrencyEffectiveCost", ColumnType::Decimal),
    ("PricingCurrencyListUnitPrice", ColumnType::Decimal),
    ("PricingQuantity", ColumnType::Decimal),
    ("PricingUnit", ColumnType::Text),
    ("ProviderName", ColumnType::Text),
    ("PublisherName", ColumnType::Text),
    ("RegionId", ColumnType::Text),
    ("RegionName", ColumnType::Text),
    ("ResourceId", ColumnType::Text),
    ("ResourceName", ColumnType::Text),
    ("ResourceType", ColumnType::Text),
    ("ServiceCategory", ColumnType::Text),
    ("ServiceName", ColumnType::Text),
    ("ServiceSubcategory", ColumnType::Text),
    ("SkuId", ColumnType::Text),
    ("SkuMeter", ColumnType::Text),
    ("SkuPriceDetails", ColumnType::Text),
    ("SkuPriceId", ColumnType::Text),
    ("SubAccountId", ColumnType::Text),
    ("SubAccountName", ColumnType::Text),
    ("SubAccountType", ColumnType::Text),
    ("Tags", ColumnType::Text),
    ("x_Workload", ColumnType::Text),
    ("x_WorkloadName", ColumnType::Text),
    ("x_HierarchyPath", ColumnType::Text),
    ("x_AttributionReason", ColumnType::Text),
    ("x_Model", ColumnType::Text),
    ("x_TokenType", ColumnType::Text),
    ("x_InferenceTier", ColumnType::Text),
    ("x_Principal", ColumnType::Text),
    ("x_ClaimKind", ColumnType::Text),
];

/// Where the rows' names come from besides the facts.
pub struct FocusContext<'a> {
    pub hierarchy: &'a Hierarchy,
    pub catalog: &'a PriceCatalog,
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).map_or_else(DateTime::<Utc>::default, |t| t.and_utc())
}

/// FOCUS's ChargeCategory and ChargeFrequency for a CUR line item type.
fn charge(line_item_type: &str) -> (&'static str, &'static str) {
    match line_item_type {
        "Tax" => ("Tax", "One-Time"),
        "Credit" | "Refund" => ("Credit", "One-Time"),
        t if super::bases::is_discount(t) => ("Credit", "Usage-Based"),
        "RIFee" | "SavingsPlanRecurringFee" => ("Purchase", "Recurring"),
        "SavingsPlanUpfrontFee" | "Fee" => ("Purchase", "One-Time"),
        _ => ("Usage", "Usage-Based"),
    }
}

fn service_name(product_code: &str) -> &'static str {
    match product_code {
        "AmazonBedrockAgentCore" => "Amazon Bedrock AgentCore",
        c if AI_PRODUCT_CODES.contains(&c) => "Amazon Bedrock",
        _ => "AWS Marketplace",
    }
}

/// The unit a usage type's amount is counted in, as FOCUS's PricingUnit.
fn unit(usage: &Usage) -> &'static str {
    match usage {
        Usage::Tokens { .. } | Usage::Marketplace { .. } => "Tokens",
        Usage::Guardrail { .. } => "Text Units",
        Usage::ClaudeConsumptionUnits { .. } => "Units",
        Usage::SearchUnits { .. } => "Search Units",
        Usage::Unknown { .. } => "Units",
    }
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(Some(s.into()))
}

fn money(m: crate::money::Money) -> Value {
    Value::Decimal(Some(m.amount()))
}

/// One price per unit, when there are units to price.
fn unit_price(cost: crate::money::Money, quantity: Decimal) -> Value {
    Value::Decimal(if quantity.is_zero() { None } else { cost.amount().checked_div(quantity).map(|p| p.round_dp(10).normalize()) })
}

/// The export's rows, in the facts' order (a ledger object's canonical order).
/// `facts` must be on the unblended basis (as the ledger stores them).
pub fn focus_table(period: BillingPeriod, facts: &Facts, attributor: &Attributor, ctx: &FocusContext<'_>) -> Table {
    let shared = Shared {
        period_start: midnight(period.first_day()),
        period_end: midnight(period.last_day()) + Duration::days(1),
        // One payer names the billing account; a backfilled period that did
        // not read it bills to the usage account (a standalone account is its
        // own payer).
        payer: facts.payers.iter().next(),
        ctx,
    };
    let mut names: BTreeMap<NodeId, (String, String)> = BTreeMap::new();
    let mut rows = Vec::with_capacity(facts.len());
    for (k, v, outcome) in outcomes(period, facts, attributor) {
        rows.push(row(&k, v, &outcome, &shared, &mut names));
    }
    Table { columns: COLUMNS.to_vec(), rows }
}

/// What every row of one export shares.
struct Shared<'a> {
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    payer: Option<&'a AccountId>,
    ctx: &'a FocusContext<'a>,
}

/// One fact's row; `names` caches each workload's name and hierarchy path.
fn row(k: &FactRef<'_>, v: &FactValue, outcome: &Outcome, shared: &Shared<'_>, names: &mut BTreeMap<NodeId, (String, String)>) -> Vec<Value> {
    let (ctx, payer, period_start, period_end) = (shared.ctx, shared.payer, shared.period_start, shared.period_end);
    let ut = decode(k.usage_type);
    let (category, frequency) = charge(k.line_item_type);
    let usage = category == "Usage";
    let (model, token, _) = crate::analytics::cards::line_of(k.usage_type, ctx.catalog);
    let region = match &ut.location {
        Location::Region(r) => Some(r.to_string()),
        _ => None,
    };
    let tier = match &ut.usage {
        Usage::Tokens { tier, cross_region_global, .. } => {
            let t = serde_json::to_value(tier).ok().and_then(|t| t.as_str().map(str::to_owned)).unwrap_or_default();
            Some(if *cross_region_global { format!("{t}:global") } else { t })
        }
        _ => None,
    };
    let (workload, reason, claim_kind) = match outcome {
        Outcome::Attributed { workload, anchor } => (Some(workload.clone()), None, Some(anchor_kind(*anchor))),
        Outcome::Unattributed { reason } => (None, Some(reason.as_str()), None),
        Outcome::Adjustment => (None, None, None),
    };
    let (workload_name, path) = match &workload {
        Some(w) => {
            let node = NodeId::from(w);
            let (name, path) = names
                .entry(node.clone())
                .or_insert_with(|| {
                    let mut chain: Vec<&str> = ctx.hierarchy.ancestors(&node).map(|n| n.id.as_str()).collect();
                    chain.reverse();
                    (ctx.hierarchy.node(&node).map_or_else(|| w.to_string(), |n| n.name.clone()), chain.join("/"))
                })
                .clone();
            (Some(name), Some(path))
        }
        None => (None, None),
    };
    let quantity = if usage { Some(v.usage_amount) } else { None };
    let sub_account = k.account.to_string();
    let billing_account = payer.map_or_else(|| sub_account.clone(), |p| p.to_string());
    let day = midnight(k.usage_day);
    let opt = Value::Text;
    let description = format!("{} {} ({})", service_name(k.product_code), if k.usage_type.is_empty() { k.line_item_type } else { k.usage_type }, k.line_item_type);
    let price_unit = usage.then(|| unit(&ut.usage).to_owned());
    let q = quantity.unwrap_or_default();
    let per_unit = |cost| if usage { unit_price(cost, q) } else { Value::Decimal(None) };
    let (contracted_price, list_price) = (per_unit(v.net), per_unit(v.list));
    vec![
        Value::Text(None),
        money(v.cost),
        text(billing_account),
        Value::Text(None),
        Value::Text(None),
        text("USD"),
        Value::Time(Some(period_end)),
        Value::Time(Some(period_start)),
        Value::Text(None),
        Value::Text(None),
        text(category),
        Value::Text(None),
        text(description),
        text(frequency),
        Value::Time(Some(day + Duration::days(1))),
        Value::Time(Some(day)),
        Value::Text(None),
        Value::Text(None),
        Value::Text(None),
        Value::Decimal(None),
        Value::Text(None),
        Value::Text(None),
        Value::Text(None),
        Value::Decimal(quantity),
        opt(price_unit.clone()),
        money(v.net),
        contracted_price.clone(),
        money(v.amortized),
        Value::Text(None),
        text("AWS"),
        money(v.list),
        list_price.clone(),
        opt(usage.then(|| if k.line_item_type == "Usage" { "Standard" } else { "Committed" }.to_owned())),
        text("USD"),
        contracted_price,
        money(v.amortized),
        list_price,
        Value::Decimal(quantity),
        opt(price_unit),
        text("AWS"),
        text(if service_name(k.product_code) == "AWS Marketplace" { "AWS Marketplace" } else { "AWS" }),
        opt(region.clone()),
        opt(region),
        opt(k.resource_id.map(str::to_owned)),
        Value::Text(None),
        Value::Text(None),
        text("AI and Machine Learning"),
        text(service_name(k.product_code)),
        text("Generative AI"),
        opt(usage.then(|| k.usage_type.to_owned()).filter(|s| !s.is_empty())),
        opt(usage.then(|| k.operation.to_owned()).filter(|s| !s.is_empty())),
        Value::Text(None),
        Value::Text(None),
        text(sub_account),
        Value::Text(None),
        Value::Text(None),
        Value::Text(None),
        opt(workload.map(|w| w.to_string())),
        opt(workload_name),
        opt(path),
        opt(reason.map(str::to_owned)),
        opt(Some(model).filter(|m| !m.is_empty() && usage)),
        opt(token.map(|t| serde_json::to_value(t).ok().and_then(|t| t.as_str().map(str::to_owned)).unwrap_or_default())),
        opt(tier),
        opt(k.principal.filter(|p| !p.is_empty()).map(str::to_owned)),
        opt(claim_kind.map(str::to_owned)),
    ]
}

fn anchor_kind(a: Anchor) -> &'static str {
    match a {
        Anchor::InferenceProfile => "inference_profile",
        Anchor::Session => "role_session",
        Anchor::Role => "iam_role",
        Anchor::Guardrail => "guardrail",
        Anchor::Workspace => "workspace",
    }
}
