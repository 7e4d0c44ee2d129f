//! A deterministic generator of realistic CUR 2.0 Parquet (all 127 columns of
//! `cur2_columns.csv`, CID's CUR 2.0 table) and the governance state that goes
//! with it, for demos, differential tests and the ingest benchmark.
//!
//! The same seed always gives the same bytes. Every attribution path appears:
//! claimed roles (one claimed mid-month, so `before_claim` shows), an unclaimed
//! `finops-` role, SSO administrator sessions, an IAM user API key, rows with no
//! principal, a claimed application inference profile used by a broad role, a
//! claimed and an unclaimed guardrail, a Marketplace model, Claude Platform CCU
//! with a workspace tag, Bedrock tax and credits, and non-AI services in several
//! accounts and regions.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{MapBuilder, MapFieldNames, StringBuilder};
use arrow_array::{new_null_array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{Datelike, NaiveDate};
use domain::governance::catalog::PriceCatalog;
use domain::BillingPeriod;
use rust_decimal::prelude::ToPrimitive;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};

use crate::ReadError;

/// CID's CUR 2.0 column list (provenance: `../shared/data/real/SOURCES.md`).
const COLUMNS_CSV: &str = include_str!("cur2_columns.csv");

/// Columns the list gives no Glue type for, typed as AWS's CUR 2.0 data
/// dictionary does (rates and counts of reservations are strings in CUR 2.0).
const DOUBLE_WITHOUT_TYPE: &[&str] = &[
    "line_item_blended_cost",
    "line_item_normalization_factor",
    "line_item_normalized_usage_amount",
    "reservation_amortized_upfront_cost_for_usage",
    "reservation_recurring_fee_for_usage",
    "reservation_unused_normalized_unit_quantity",
    "reservation_unused_quantity",
    "reservation_upfront_value",
    "savings_plan_recurring_commitment_for_billing_period",
    "savings_plan_savings_plan_rate",
];

/// The CUR 2.0 schema: 127 columns in the list's order.
pub fn cur2_schema() -> Schema {
    let mut fields = Vec::new();
    for line in COLUMNS_CSV.lines().skip(1) {
        let name = line.split(',').next().unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        let glue = line[name.len() + 1..].split(",Y").next().unwrap_or_default().trim_matches('"');
        let t = match glue {
            "double" => DataType::Float64,
            "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, None),
            g if g.starts_with("map<") => map_type(),
            "" if DOUBLE_WITHOUT_TYPE.contains(&name) => DataType::Float64,
            _ => DataType::Utf8,
        };
        fields.push(Field::new(name, t, true));
    }
    Schema::new(fields)
}

fn map_names() -> MapFieldNames {
    MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() }
}

fn map_type() -> DataType {
    let entries = Field::new(
        "key_value",
        DataType::Struct(vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Utf8, true)].into()),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// SplitMix64: tiny, fast, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A decimal amount with at most 7 places, below `max_units` whole units.
    fn amount(&mut self, max_units: u64) -> f64 {
        let ten_millionths = self.next() % (max_units * 10_000_000);
        // Exact in decimal: the reader recovers the same 7-place decimal.
        format!("{}.{:07}", ten_millionths / 10_000_000, ten_millionths % 10_000_000).parse().unwrap_or(0.0)
    }
}

const PAYER: &str = "999988887777";
const ACCOUNTS: [&str; 4] = ["111122223333", "444455556666", "777788889999", "123456789012"];

/// One kind of AI line the generator writes.
struct AiKind {
    weight: usize,
    product_code: &'static str,
    billing_entity: &'static str,
    product_name: &'static str,
    usage_types: &'static [&'static str],
    operation: &'static str,
    principals: &'static [&'static str],
    resource: &'static str,
    workspace: Option<&'static str>,
}

const ROLE_CHAT: &str = "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app-session";
const ROLE_SEARCH: &str = "arn:aws:sts::444455556666:assumed-role/finops-search-cd34/indexer";
const ROLE_ORPHAN: &str = "arn:aws:sts::111122223333:assumed-role/finops-orphan-zz99/cron";
const ROLE_SSO: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6a7b/alice@example.com";
const USER_KEY: &str = "arn:aws:iam::777788889999:user/BedrockAPIKey-8f2k";
const ROLE_SANDBOX: &str = "arn:aws:sts::777788889999:assumed-role/data-science-sandbox/bob";
const PROFILE: &str = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/supportbot01";
const GUARDRAIL_CLAIMED: &str = "arn:aws:bedrock:us-east-1:111122223333:guardrail/gr0claimed01";
const GUARDRAIL_FREE: &str = "arn:aws:bedrock:us-east-1:444455556666:guardrail/gr0unclaimed";
const WORKSPACE: &str = "wrkspc_01HX9analytics";

const AI_KINDS: &[AiKind] = &[
    AiKind {
        weight: 30,
        product_code: "AmazonBedrock",
        billing_entity: "AWS",
        product_name: "Amazon Bedrock",
        usage_types: &[
            "USE1-Claude3Haiku-input-tokens",
            "USE1-Claude4Sonnet-input-tokens-cross-region-global",
            "USE1-Claude4Sonnet-cache-read-input-token-count-cross-region-global",
            "USE1-Claude4Sonnet-cache-write-input-token-count-1-hour",
            "USE1-NovaLite-input-tokens",
            "USE1-NovaLite-output-tokens",
        ],
        operation: "InvokeModel",
        principals: &[ROLE_CHAT, ROLE_SEARCH, ROLE_ORPHAN, ROLE_SSO, USER_KEY, ROLE_SANDBOX, ""],
        resource: "",
        workspace: None,
    },
    AiKind {
        weight: 20,
        product_code: "AmazonBedrockService",
        billing_entity: "AWS",
        product_name: "Amazon Bedrock Service",
        usage_types: &["USW2-MP:USW2_InputTokenCount-Units", "USE1-Nova2.0Lite-output-tokens-cross-region-global", "EUW2-NovaPro-input-tokens"],
        operation: "Converse",
        principals: &[ROLE_CHAT, ROLE_SEARCH, ROLE_SSO, ROLE_SANDBOX],
        resource: "",
        workspace: None,
    },
    AiKind {
        weight: 10,
        product_code: "AmazonBedrock",
        billing_entity: "AWS",
        product_name: "Amazon Bedrock",
        usage_types: &["USE1-Claude3-5Haiku-input-tokens-latency-optimized", "USE1-NovaPro-input-tokens-latency-optimized"],
        operation: "InvokeModel",
        principals: &[ROLE_SSO],
        resource: PROFILE,
        workspace: None,
    },
    AiKind {
        weight: 8,
        product_code: "AmazonBedrock",
        billing_entity: "AWS",
        product_name: "Amazon Bedrock",
        usage_types: &["USE1-Guardrail-ContentPolicyUnitsConsumed"],
        operation: "ApplyGuardrail",
        principals: &[""],
        resource: GUARDRAIL_CLAIMED,
        workspace: None,
    },
    AiKind {
        weight: 4,
        product_code: "AmazonBedrock",
        billing_entity: "AWS",
        product_name: "Amazon Bedrock",
        usage_types: &["USE1-Guardrail-ContentPolicyUnitsConsumed"],
        operation: "ApplyGuardrail",
        principals: &[""],
        resource: GUARDRAIL_FREE,
        workspace: None,
    },
    AiKind {
        weight: 8,
        product_code: "prod-4vq2xmclaude",
        billing_entity: "AWS Marketplace",
        product_name: "Claude Opus 4 (Amazon Bedrock Edition)",
        usage_types: &["USE1-MP:USE1_InputTokenCount-Units", "USE1-MP:USE1_OutputTokenCount-Units"],
        operation: "Usage",
        principals: &[ROLE_CHAT, ROLE_SANDBOX],
        resource: "",
        workspace: None,
    },
    AiKind {
        weight: 6,
        product_code: "prod-cpccu0001",
        billing_entity: "AWS Marketplace",
        product_name: "Claude Platform on AWS",
        usage_types: &["USE1-MP:USE1_CCU-Units"],
        operation: "Usage",
        principals: &[""],
        resource: "",
        workspace: Some(WORKSPACE),
    },
    AiKind {
        weight: 4,
        product_code: "AmazonBedrockAgentCore",
        billing_entity: "AWS",
        product_name: "Amazon Bedrock AgentCore",
        usage_types: &["USE1-AgentCore-Runtime-vCPU-Hours"],
        operation: "InvokeAgentRuntime",
        principals: &[ROLE_CHAT, ROLE_ORPHAN],
        resource: "",
        workspace: None,
    },
];

/// Non-AI services: (product code, product name, usage type, operation).
const OTHER: &[(&str, &str, &str, &str)] = &[
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "USE1-BoxUsage:m7g.large", "RunInstances"),
    ("AmazonS3", "Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs", "StandardStorage"),
    ("AWSLambda", "AWS Lambda", "USE1-Lambda-GB-Second-ARM", "Invoke"),
    ("AmazonDynamoDB", "Amazon DynamoDB", "USW2-ReadRequestUnits", "GetItem"),
    ("AmazonCloudWatch", "AmazonCloudWatch", "EUW2-CW:MetricMonitorUsage", "MetricStorage"),
];

/// What `gen-cur` writes.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub rows: u64,
    pub ai_share: f64,
    pub seed: u64,
    pub period: BillingPeriod,
    pub rows_per_group: usize,
    /// A large estate's shape instead of the handful of named principals.
    pub estate: Option<Estate>,
}

/// A large estate: `principals` roles (a coding assistant's per-team roles,
/// spread over `ESTATE_ACCOUNTS` accounts), each used by `sessions` session
/// names (one per developer) on `days` days of the month, over
/// `ESTATE_USAGE_TYPES`. An AI row picks each at random, so a month of `n` AI
/// rows has close to `min(n, principals × sessions × days × 18)` distinct
/// facts: the shape that makes attribution's memory grow with its strings.
/// One AI row in twenty still comes from the named kinds, so every
/// attribution reason keeps appearing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estate {
    pub principals: u32,
    pub sessions: u32,
    pub days: u32,
}

/// Accounts the estate's roles live in.
pub const ESTATE_ACCOUNTS: u32 = 40;

/// Real Bedrock usage types (from `tests/fixtures/bedrock_usage_types_observed.csv`).
pub const ESTATE_USAGE_TYPES: [&str; 18] = [
    "USE1-Claude3Haiku-input-tokens",
    "USE1-Claude3Haiku-output-tokens",
    "USE1-Claude3-5Haiku-input-tokens-latency-optimized",
    "USE1-NovaPro-input-tokens-latency-optimized",
    "USE1-Nova2.0Lite-output-tokens-cross-region-global",
    "USW2-MP:USW2_InputTokenCount-Units",
    "EUW2-NovaPro-input-tokens",
    "USE1-MP:USE1_InputTokenCount-Units",
    "USE1-MP:USE1_OutputTokenCount-Units",
    "USE1-NovaLite-input-tokens",
    "USE1-NovaLite-output-tokens",
    "USE1-NovaMicro-input-tokens",
    "USE1-NovaMicro-output-tokens",
    "USE1-TitanEmbeddingsG1-Text-input-tokens",
    "USE1-Llama3-70B-input-tokens",
    "USE1-Llama3-70B-output-tokens",
    "USE1-MistralLarge-input-tokens",
    "USE1-MistralLarge-output-tokens",
];

/// The estate's account ids and principal ARNs, made once per file.
struct EstateTable {
    estate: Estate,
    accounts: Vec<String>,
    /// `principals × sessions`, role-major.
    principals: Vec<String>,
}

impl EstateTable {
    fn new(e: Estate) -> Self {
        let accounts: Vec<String> = (0..ESTATE_ACCOUNTS).map(|a| format!("{:012}", 210_000_000_000u64 + u64::from(a) * 1_000_003)).collect();
        let mut principals = Vec::new();
        for r in 0..e.principals {
            for s in 0..e.sessions {
                principals.push(format!("arn:aws:sts::{}:assumed-role/{}/dev{:03}@example.com", accounts[(r % ESTATE_ACCOUNTS) as usize], estate_role(r), s));
            }
        }
        EstateTable { estate: e, accounts, principals }
    }
}

/// The estate's role `r`: finops- roles, as the Cloud Engineer workflow names them.
pub fn estate_role(r: u32) -> String {
    format!("finops-team{r:05}-coder")
}

/// The account of the estate's role `r`.
pub fn estate_account(r: u32) -> String {
    format!("{:012}", 210_000_000_000u64 + u64::from(r % ESTATE_ACCOUNTS) * 1_000_003)
}

/// Rows of one batch, column by column, for the columns the generator fills.
#[derive(Default)]
struct Cols<'a> {
    identity: Vec<String>,
    entity: Vec<&'static str>,
    account: Vec<&'a str>,
    line_item_type: Vec<&'static str>,
    product_code: Vec<&'static str>,
    usage_type: Vec<&'static str>,
    operation: Vec<&'static str>,
    resource: Vec<&'static str>,
    principal: Vec<Option<&'a str>>,
    product_name: Vec<&'static str>,
    region: Vec<&'static str>,
    workspace: Vec<Option<&'static str>>,
    start: Vec<i64>,
    amount: Vec<f64>,
    cost: Vec<f64>,
    /// `line_item_net_unblended_cost` and the Savings Plan effective cost,
    /// set by [`other_bases`] once the rows are drawn.
    net: Vec<f64>,
    sp_effective: Vec<Option<f64>>,
}

/// `x` to 7 decimal places, so its shortest decimal is what the readers and
/// Athena's `DECIMAL(38, 10)` both recover.
fn seven_places(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

/// The other cost bases, derived from the drawn rows without drawing again
/// (so unblended bills stay exactly as they were): the shared-platform
/// account pays 3 % less on its AWS usage (a private-rate discount, in
/// `line_item_net_unblended_cost`), and one in ten of its EC2 hours is
/// covered by a Savings Plan at 72 % of on-demand.
fn other_bases(c: &mut Cols<'_>) {
    for i in 0..c.cost.len() {
        let shared_usage = c.account[i] == ACCOUNTS[0] && c.entity[i] == "AWS" && c.line_item_type[i] == "Usage";
        c.net.push(if shared_usage { seven_places(c.cost[i] * 0.97) } else { c.cost[i] });
        let covered = shared_usage && c.product_code[i] == "AmazonEC2" && c.identity[i].bytes().map(u32::from).sum::<u32>() % 10 == 0;
        if covered {
            c.line_item_type[i] = "SavingsPlanCoveredUsage";
        }
        c.sp_effective.push(covered.then(|| seven_places(c.cost[i] * 0.72)));
    }
}

fn region_of(usage_type: &str) -> &'static str {
    match usage_type.split('-').next().unwrap_or_default() {
        "USW2" => "us-west-2",
        "EUW2" => "eu-west-2",
        _ => "us-east-1",
    }
}

fn fill_row<'a>(c: &mut Cols<'a>, rng: &mut Rng, spec: &Spec, estate: Option<&'a EstateTable>, row: u64) {
    let days = spec.period.last_day().day() as u64;
    let mut day = 1 + rng.next() % days;
    let start = spec.period.first_day().with_day(day as u32).unwrap_or(spec.period.first_day());
    let ms = start.and_hms_opt(rng.below(24) as u32, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis());
    c.identity.push(format!("{:016x}{:08x}", spec.seed ^ row, row));
    let tax = rng.below(200) == 0;
    let ai = rng.unit() < spec.ai_share;
    if let Some(t) = estate.filter(|_| ai && rng.below(20) != 0) {
        let e = t.estate;
        let r = rng.below(e.principals as usize);
        let session = rng.below(e.sessions as usize);
        day = 1 + rng.next() % u64::from(e.days).clamp(1, days);
        let ut = ESTATE_USAGE_TYPES[rng.below(ESTATE_USAGE_TYPES.len())];
        c.entity.push("AWS");
        c.account.push(&t.accounts[r % ESTATE_ACCOUNTS as usize]);
        c.line_item_type.push("Usage");
        c.product_code.push("AmazonBedrock");
        c.usage_type.push(ut);
        c.operation.push("InvokeModel");
        c.resource.push("");
        c.principal.push(Some(&t.principals[r * e.sessions as usize + session]));
        c.product_name.push("Amazon Bedrock");
        c.region.push(region_of(ut));
        c.workspace.push(None);
        c.amount.push((1 + rng.below(200_000)) as f64);
        c.cost.push(rng.amount(40));
        let start = spec.period.first_day().with_day(day as u32).unwrap_or(spec.period.first_day());
        c.start.push(start.and_hms_opt(rng.below(24) as u32, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis()));
        return;
    }
    if ai {
        let total: usize = AI_KINDS.iter().map(|k| k.weight).sum();
        let mut pick = rng.below(total);
        let kind = AI_KINDS.iter().find(|k| pick < k.weight || { pick -= k.weight; false }).unwrap_or(&AI_KINDS[0]);
        let ut = kind.usage_types[rng.below(kind.usage_types.len())];
        let principal = kind.principals[rng.below(kind.principals.len())];
        // Rows without a principal: model calls land in an account whose export
        // has no principal data (its Attribution Not Enabled gap); guardrail
        // and workspace rows, which never carry one, stay in the shared accounts.
        let shared = ACCOUNTS[rng.below(2)];
        let account = match principal.split(':').nth(4).filter(|a| !a.is_empty()) {
            Some(a) => a,
            None if kind.operation == "InvokeModel" && kind.resource.is_empty() => ACCOUNTS[3],
            None => shared,
        };
        let credit = !tax && kind.billing_entity == "AWS" && rng.below(150) == 0;
        let (lit, cost) = match (tax, credit) {
            (true, _) => ("Tax", rng.amount(2)),
            (_, true) => ("Credit", -rng.amount(5)),
            _ => ("Usage", rng.amount(40)),
        };
        c.entity.push(kind.billing_entity);
        c.account.push(account);
        c.line_item_type.push(lit);
        c.product_code.push(kind.product_code);
        c.usage_type.push(if lit == "Usage" { ut } else { "" });
        c.operation.push(kind.operation);
        c.resource.push(kind.resource);
        c.principal.push(Some(principal));
        c.product_name.push(kind.product_name);
        c.region.push(region_of(ut));
        c.workspace.push(kind.workspace);
        c.amount.push(if lit == "Usage" { (1 + rng.below(200_000)) as f64 } else { 0.0 });
        c.cost.push(cost);
    } else {
        let (code, name, ut, op) = OTHER[rng.below(OTHER.len())];
        c.entity.push("AWS");
        c.account.push(ACCOUNTS[rng.below(ACCOUNTS.len())]);
        c.line_item_type.push(if tax { "Tax" } else { "Usage" });
        c.product_code.push(code);
        c.usage_type.push(ut);
        c.operation.push(op);
        c.resource.push("");
        c.principal.push(Some(""));
        c.product_name.push(name);
        c.region.push(region_of(ut));
        c.workspace.push(None);
        c.amount.push(rng.amount(100));
        c.cost.push(rng.amount(if tax { 3 } else { 60 }));
    }
    c.start.push(ms);
}

/// Token lines bill at the catalogue's price, as real CUR's do at AWS's: a
/// token line's amount is the tokens its cost buys, rounded to a token. So
/// the file is self-consistent (cost = amount × price) and `gen-logs` can
/// replay it as invocations whose priced estimate reconciles with the bill.
/// Lines the catalogue does not price keep their random amount.
struct TokenPricing {
    catalog: PriceCatalog,
    /// Price per token of each usage type seen (`None`: not a priced token line).
    per_token: HashMap<&'static str, Option<f64>>,
}

impl TokenPricing {
    fn new() -> Result<Self, ReadError> {
        let catalog = PriceCatalog::bundled().map_err(|reason| ReadError::Malformed { format: "price catalogue", reason })?;
        Ok(TokenPricing { catalog, per_token: HashMap::new() })
    }

    fn apply(&mut self, c: &mut Cols<'_>) {
        for i in 0..c.amount.len() {
            if c.line_item_type[i] != "Usage" {
                continue;
            }
            let ut = c.usage_type[i];
            let catalog = &self.catalog;
            let per_token = *self.per_token.entry(ut).or_insert_with(|| {
                let usage = domain::cur::usage_type::decode(ut).usage;
                catalog.token_line_price(&usage).and_then(|(_, per_1k)| per_1k.to_f64()).map(|p| p / 1000.0)
            });
            // Token counts are whole numbers far below 2^53, and the cost has 7
            // decimal places: f64 division then rounding gives the exact count.
            if let Some(p) = per_token.filter(|p| *p > 0.0) {
                c.amount[i] = (c.cost[i] / p).round();
            }
        }
    }
}

fn strings<'a>(v: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(v))
}

fn batch(schema: &Arc<Schema>, c: &Cols<'_>, spec: &Spec) -> Result<RecordBatch, ReadError> {
    let n = c.account.len();
    let same = |s: &str| strings(std::iter::repeat_n(Some(s), n));
    let non_empty = |v: &[&str]| strings(v.iter().map(|s| Some(*s).filter(|s| !s.is_empty())));
    let period_ms = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis());
    let (first, next) = (period_ms(spec.period.first_day()), period_ms(spec.period.last_day().succ_opt().unwrap_or(spec.period.last_day())));
    let mut product = MapBuilder::new(Some(map_names()), StringBuilder::new(), StringBuilder::new());
    let mut tags = MapBuilder::new(Some(map_names()), StringBuilder::new(), StringBuilder::new());
    for i in 0..n {
        product.keys().append_value("product_name");
        product.values().append_value(c.product_name[i]);
        product.keys().append_value("region");
        product.values().append_value(c.region[i]);
        product.append(true).map_err(crate::parquet_reader::malformed)?;
        if let Some(ws) = c.workspace[i] {
            tags.keys().append_value(domain::cur::WORKSPACE_CUR_KEY);
            tags.values().append_value(ws);
        }
        tags.append(true).map_err(crate::parquet_reader::malformed)?;
    }
    let (product, tags): (ArrayRef, ArrayRef) = (Arc::new(product.finish()), Arc::new(tags.finish()));
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let col: ArrayRef = match f.name().as_str() {
            "identity_line_item_id" => strings(c.identity.iter().map(|s| Some(s.as_str()))),
            "identity_time_interval" => same(&format!("{}/{}", spec.period.first_day(), spec.period.last_day().succ_opt().unwrap_or(spec.period.last_day()))),
            "bill_bill_type" => same("Anniversary"),
            "bill_billing_entity" => non_empty(&c.entity),
            "bill_payer_account_id" => same(PAYER),
            "bill_payer_account_name" => same("Example Corp Payer"),
            "bill_invoicing_entity" => same("Amazon Web Services, Inc."),
            "bill_billing_period_start_date" => Arc::new(TimestampMillisecondArray::from(vec![first; n])),
            "bill_billing_period_end_date" => Arc::new(TimestampMillisecondArray::from(vec![next; n])),
            "line_item_usage_account_id" => non_empty(&c.account),
            "line_item_usage_account_name" => strings(c.account.iter().map(|a| Some(if *a == ACCOUNTS[0] { "shared-platform" } else { "workload-account" }))),
            "line_item_line_item_type" => non_empty(&c.line_item_type),
            "line_item_product_code" => non_empty(&c.product_code),
            "line_item_usage_type" => non_empty(&c.usage_type),
            "line_item_operation" => non_empty(&c.operation),
            "line_item_resource_id" => non_empty(&c.resource),
            "line_item_iam_principal" => strings(c.principal.iter().copied()),
            "line_item_currency_code" | "pricing_currency" => same("USD"),
            "line_item_usage_start_date" => Arc::new(TimestampMillisecondArray::from(c.start.clone())),
            "line_item_usage_end_date" => Arc::new(TimestampMillisecondArray::from(c.start.iter().map(|s| s + 3_600_000).collect::<Vec<_>>())),
            "line_item_usage_amount" => Arc::new(Float64Array::from(c.amount.clone())),
            "line_item_unblended_cost" | "line_item_blended_cost" | "pricing_public_on_demand_cost" => Arc::new(Float64Array::from(c.cost.clone())),
            "line_item_net_unblended_cost" => Arc::new(Float64Array::from(c.net.clone())),
            "savings_plan_savings_plan_effective_cost" => Arc::new(Float64Array::from(c.sp_effective.clone())),
            "product_servicecode" => non_empty(&c.product_code),
            "product_region_code" => non_empty(&c.region),
            "product" => product.clone(),
            "resource_tags" => tags.clone(),
            _ => new_null_array(f.data_type(), n),
        };
        columns.push(col);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(crate::parquet_reader::malformed)
}

/// Writes `spec.rows` rows of CUR 2.0 Parquet to `out`, batch by batch (memory
/// stays at one row group whatever the row count).
pub fn write_parquet(spec: &Spec, out: &Path) -> Result<(), ReadError> {
    let schema = Arc::new(cur2_schema());
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_size(spec.rows_per_group).build();
    let mut writer = ArrowWriter::try_new(File::create(out)?, schema.clone(), Some(props))?;
    let mut rng = Rng(spec.seed);
    let estate = spec.estate.map(EstateTable::new);
    let mut pricing = TokenPricing::new()?;
    let mut row = 0u64;
    while row < spec.rows {
        let take = (spec.rows - row).min(spec.rows_per_group as u64);
        let mut cols = Cols::default();
        for r in row..row + take {
            fill_row(&mut cols, &mut rng, spec, estate.as_ref(), r);
        }
        pricing.apply(&mut cols);
        other_bases(&mut cols);
        writer.write(&batch(&schema, &cols, spec)?)?;
        row += take;
    }
    writer.close()?;
    Ok(())
}

/// The governance state of an estate: the fixed fixture's, plus one workload
/// per ten roles under an `estate` portfolio, each role claimed by its team's
/// workload (every 10th role left unclaimed, every 7th claimed mid-month), so
/// attribution meets thousands of claims.
pub fn estate_import_fixture(period: BillingPeriod, e: Estate) -> Value {
    let mut v = import_fixture(period);
    let mid = period.first_day().with_day(15).unwrap_or(period.first_day()).to_string();
    let first = period.first_day().to_string();
    if let Some(h) = v["hierarchy"].as_array_mut() {
        h.push(json!({"id": "estate", "level": 3, "name": "Developer tools", "parent": "digital"}));
    }
    let teams = e.principals.div_ceil(10);
    if let Some(w) = v["workloads"].as_array_mut() {
        for t in 0..teams {
            w.push(json!({"id": format!("team{t:04}"), "name": format!("Team {t} coding assistant"), "node": "estate", "owner": format!("po-team{t}@example.com"), "monthly_estimate": "2500"}));
        }
    }
    if let Some(c) = v["claims"].as_array_mut() {
        for r in (0..e.principals).filter(|r| r % 10 != 9) {
            let at = if r % 7 == 0 { &mid } else { &first };
            c.push(json!({"workload": format!("team{:04}", r / 10), "arn": format!("arn:aws:iam::{}:role/{}", estate_account(r), estate_role(r)), "kind": "iam_role", "claimed_at": at}));
        }
    }
    v
}

/// The governance state that goes with generated CUR: hierarchy, workloads,
/// approvals and claims (one role claimed mid-month), in `finops import`'s shape.
pub fn import_fixture(period: BillingPeriod) -> Value {
    let day = |d: u32| period.first_day().with_day(d).unwrap_or(period.first_day()).to_string();
    json!({
        "hierarchy": [
            {"id": "retail", "level": 1, "name": "Retail", "parent": null},
            {"id": "digital", "level": 2, "name": "Digital Channels", "parent": "retail"},
            {"id": "ai-assistants", "level": 3, "name": "AI Assistants", "parent": "digital"},
            {"id": "ai-platform", "level": 3, "name": "AI Platform", "parent": "digital"}
        ],
        "workloads": [
            {"id": "chat", "name": "Customer chat", "node": "ai-assistants", "owner": "po-chat@example.com", "monthly_estimate": "90000",
             "business_case": {"value_type": "revenue_driving", "annual_baseline": "2000000", "target_pct": "5"}},
            {"id": "search", "name": "Semantic search", "node": "ai-platform", "owner": "po-search@example.com", "monthly_estimate": "40000"},
            {"id": "support-bot", "name": "Support bot", "node": "ai-assistants", "owner": "po-support@example.com",
             "business_case": {"value_type": "cost_saving", "annual_baseline": "1200000", "target_pct": "20"}},
            {"id": "analytics", "name": "Analytics agents", "node": "ai-platform", "owner": "po-analytics@example.com"}
        ],
        "approvals": [
            {"workload": "chat", "model": "anthropic.claude-3-haiku-20240307-v1:0", "accounts": ["111122223333"], "regions": ["us-east-1"]},
            {"workload": "search", "model": "amazon.nova-lite-v1:0", "accounts": ["444455556666"], "regions": ["us-east-1", "us-west-2"]}
        ],
        "claims": [
            {"workload": "chat", "arn": "arn:aws:iam::111122223333:role/finops-chat-ab12", "kind": "iam_role", "claimed_at": day(1)},
            {"workload": "search", "arn": "arn:aws:iam::444455556666:role/finops-search-cd34", "kind": "iam_role", "claimed_at": day(15)},
            {"workload": "support-bot", "arn": PROFILE, "kind": "inference_profile", "claimed_at": day(1)},
            {"workload": "chat", "arn": GUARDRAIL_CLAIMED, "kind": "guardrail", "claimed_at": day(1)},
            {"workload": "analytics", "arn": WORKSPACE, "kind": "workspace", "claimed_at": day(1)}
        ]
    })
}
