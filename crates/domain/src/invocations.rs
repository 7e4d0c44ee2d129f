//! Amazon Bedrock model-invocation log records: the signal that arrives within
//! minutes, where CUR arrives a day or two late.
//!
//! A record (schemaType `ModelInvocationLog`, see
//! `../shared/data/real/compiled/bedrock_invocation_log_record.json`) names
//! the caller (`identity.arn`), the account, the region, the model as called
//! (a model id, a system inference profile id such as `us.anthropic.…`, or an
//! ARN) and the token counts. Here a record is read, priced at the bundled
//! catalogue's prices, and keyed to its hour; attribution is CUR's own
//! `Attributor`, given the record as an [`AiLine`].
//!
//! Invariants:
//! - a record that cannot be read is an error naming the field, never a
//!   silent zero: callers count and report it;
//! - a model the catalogue does not price keeps its tokens and is priced as
//!   unknown (`cost: None`), so tokens are never lost;
//! - money is exact: tokens × price per 1K as decimals.

use std::borrow::Cow;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::arn::{InferenceProfileArn, InferenceProfileKind};
use crate::cur::attribution::{AiLine, Attributor, Outcome, Prepared};
use crate::cur::usage_type::Usage;
use crate::governance::catalog::{ModelPrice, PriceCatalog, TokenPrices};
use crate::ids::{AccountId, ModelId, Region};
use crate::money::Money;

/// Token counts of one call (or of many, summed).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl TokenCounts {
    pub fn add(&mut self, o: TokenCounts) {
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
    }
}

/// How a call was routed, from the model id's profile prefix.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "geo")]
pub enum InferenceTier {
    /// A base model id, served in the record's region.
    InRegion,
    /// A geography's system profile (`us.`, `eu.`, `apac.`, …).
    CrossRegion(String),
    /// The `global.` profile.
    Global,
    /// An application inference profile: its routing is the profile's.
    ApplicationProfile,
    /// A model reference this reader does not know.
    Unknown,
}

impl InferenceTier {
    pub fn as_str(&self) -> &str {
        match self {
            Self::InRegion => "in_region",
            Self::CrossRegion(geo) => geo,
            Self::Global => "global",
            Self::ApplicationProfile => "application_profile",
            Self::Unknown => "unknown",
        }
    }
}

/// The model a record names, as called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model id or a system profile id (its geography is in the id).
    Model(ModelId),
    /// An application inference profile: the model behind it is known only
    /// from the governance state (the request that made it).
    ApplicationProfile(InferenceProfileArn),
    /// Anything else (a custom or imported model ARN, provisioned throughput).
    Unknown(String),
}

impl ModelRef {
    /// `modelId` as Bedrock logs it.
    pub fn parse(raw: &str) -> Self {
        if raw.starts_with("arn:") {
            if let Ok(p) = InferenceProfileArn::parse(raw) {
                return match p.kind() {
                    InferenceProfileKind::Application => Self::ApplicationProfile(p),
                    InferenceProfileKind::System => ModelId::parse(p.id()).map_or_else(|_| Self::Unknown(raw.to_owned()), Self::Model),
                };
            }
            // arn:aws:bedrock:REGION::foundation-model/MODEL
            if let Some((_, model)) = raw.split_once(":foundation-model/") {
                return ModelId::parse(model).map_or_else(|_| Self::Unknown(raw.to_owned()), Self::Model);
            }
            return Self::Unknown(raw.to_owned());
        }
        ModelId::parse(raw).map_or_else(|_| Self::Unknown(raw.to_owned()), Self::Model)
    }

    pub fn tier(&self) -> InferenceTier {
        match self {
            Self::Model(m) => match m.geo_prefix() {
                None => InferenceTier::InRegion,
                Some("global") => InferenceTier::Global,
                Some(geo) => InferenceTier::CrossRegion(geo.to_owned()),
            },
            Self::ApplicationProfile(_) => InferenceTier::ApplicationProfile,
            Self::Unknown(_) => InferenceTier::Unknown,
        }
    }
}

/// One invocation, as much of it as cost needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationRecord {
    pub time: DateTime<Utc>,
    pub account: AccountId,
    /// `identity.arn`: the caller, as CUR's `line_item_iam_principal` names it.
    pub principal: String,
    pub region: Region,
    pub request_id: String,
    pub operation: String,
    /// `modelId` as logged.
    pub model_id: String,
    pub model: ModelRef,
    pub tokens: TokenCounts,
}

/// Why a record could not be read; the caller counts it and reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not a model invocation log record (schemaType {0:?})")]
    NotAnInvocation(String),
    #[error("{field}: {reason}")]
    Field { field: &'static str, reason: String },
}

/// A string field, borrowed from the record's text unless the JSON escapes
/// it. serde borrows a bare `Cow<str>` field, but not one inside an `Option`
/// (serde-rs/serde#1497): every field of every record was a fresh
/// allocation, a tenth of a million-record ingest.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(Visit).map(Text)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw<'a> {
    #[serde(borrow)]
    schema_type: Option<Text<'a>>,
    #[serde(borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    account_id: Option<Text<'a>>,
    #[serde(borrow)]
    identity: Option<RawIdentity<'a>>,
    #[serde(borrow)]
    region: Option<Text<'a>>,
    #[serde(borrow)]
    request_id: Option<Text<'a>>,
    #[serde(borrow)]
    operation: Option<Text<'a>>,
    #[serde(borrow)]
    model_id: Option<Text<'a>>,
    input: Option<RawInput>,
    output: Option<RawOutput>,
}

#[derive(Deserialize)]
struct RawIdentity<'a> {
    #[serde(borrow)]
    arn: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInput {
    input_token_count: Option<u64>,
    cache_read_input_token_count: Option<u64>,
    cache_write_input_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOutput {
    output_token_count: Option<u64>,
}

fn field<T>(v: Option<T>, field: &'static str) -> Result<T, RecordError> {
    v.ok_or(RecordError::Field { field, reason: "missing".into() })
}

/// A record as read, its strings borrowed from the text (owned only when the
/// JSON escapes them) and its account and region not yet validated: what a
/// reader of millions of records aggregates without allocating per record,
/// validating each distinct account and region once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub time: DateTime<Utc>,
    pub account: Cow<'a, str>,
    pub principal: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub request_id: Cow<'a, str>,
    pub operation: Cow<'a, str>,
    pub model_id: Cow<'a, str>,
    pub tokens: TokenCounts,
}

/// Reads one record's fields (see [`parse_record`], which also validates the
/// account and region).
pub fn parse_view(text: &str) -> Result<RecordView<'_>, RecordError> {
    let raw: Raw<'_> = serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
    if let Some(t) = raw.schema_type.as_ref().map(|t| &*t.0).filter(|t| *t != "ModelInvocationLog") {
        return Err(RecordError::NotAnInvocation(t.to_owned()));
    }
    let ts = field(raw.timestamp, "timestamp")?.0;
    let time = DateTime::parse_from_rfc3339(&ts).map_err(|e| RecordError::Field { field: "timestamp", reason: e.to_string() })?.with_timezone(&Utc);
    let account = field(raw.account_id, "accountId")?.0;
    let principal = field(raw.identity.and_then(|i| i.arn), "identity.arn")?.0;
    if principal.trim().is_empty() {
        return Err(RecordError::Field { field: "identity.arn", reason: "empty".into() });
    }
    let region = field(raw.region, "region")?.0;
    let model_id = field(raw.model_id, "modelId")?.0;
    let input = raw.input.as_ref();
    let tokens = TokenCounts {
        input: input.and_then(|i| i.input_token_count).unwrap_or(0),
        output: raw.output.and_then(|o| o.output_token_count).unwrap_or(0),
        cache_read: input.and_then(|i| i.cache_read_input_token_count).unwrap_or(0),
        cache_write: input.and_then(|i| i.cache_write_input_token_count).unwrap_or(0),
    };
    Ok(RecordView { time, account, principal, region, request_id: raw.request_id.map(|t| t.0).unwrap_or_default(), operation: raw.operation.map(|t| t.0).unwrap_or_default(), model_id, tokens })
}

/// Reads one record (one line of a log object, or one CloudWatch log event's
/// message). Bodies, if delivered, are ignored.
pub fn parse_record(text: &str) -> Result<InvocationRecord, RecordError> {
    let v = parse_view(text)?;
    let bad = |field: &'static str, e: &dyn std::fmt::Display| RecordError::Field { field, reason: e.to_string() };
    let account = AccountId::parse(&v.account).map_err(|e| bad("accountId", &e))?;
    let region = Region::parse(&v.region).map_err(|e| bad("region", &e))?;
    Ok(InvocationRecord {
        time: v.time,
        account,
        principal: v.principal.into_owned(),
        region,
        request_id: v.request_id.into_owned(),
        operation: v.operation.into_owned(),
        model: ModelRef::parse(&v.model_id),
        model_id: v.model_id.into_owned(),
        tokens: v.tokens,
    })
}

/// What `tokens` cost at `per_1k` (see [`ModelPrice::prices_for`]), or
/// `None` when a token type used has no price (the catalogue does not sell
/// it for this model).
pub fn cost(per_1k: &TokenPrices, tokens: TokenCounts) -> Option<Money> {
    let part = |n: u64, p: Option<Decimal>| -> Option<Decimal> {
        if n == 0 {
            return Some(Decimal::ZERO);
        }
        p.map(|p| thousandth(Decimal::from(n) * p))
    };
    let total = part(tokens.input, per_1k.input)?
        + part(tokens.output, per_1k.output)?
        + part(tokens.cache_read, per_1k.cache_read)?
        + part(tokens.cache_write, per_1k.cache_write)?;
    Some(Money::new(total))
}

/// `d / 1000`, exactly: a shift of the scale when it has room (a division
/// costs more than the rest of pricing a record put together).
fn thousandth(d: Decimal) -> Decimal {
    let mut shifted = d;
    match shifted.set_scale(d.scale() + 3) {
        Ok(()) => shifted,
        Err(_) => d / Decimal::ONE_THOUSAND,
    }
}

/// The prices a call of `model` in `region` is charged at: its model's (or
/// the model behind its application profile, from `profile_model`), where
/// and how it ran (see [`ModelPrice::prices_for`]); `None` when the
/// catalogue cannot price it.
pub fn prices_where<'c>(catalog: &'c PriceCatalog, model: &ModelRef, region: &str, profile_model: impl Fn(&InferenceProfileArn) -> Option<ModelId>) -> Option<&'c TokenPrices> {
    let price = price_of(catalog, model, profile_model)?;
    let geo = match model {
        ModelRef::Model(m) => m.geo_prefix(),
        _ => None,
    };
    Some(price.prices_for(geo, region))
}

/// What a record costs at the catalogue (see [`prices_where`]).
pub fn record_cost(catalog: &PriceCatalog, r: &InvocationRecord, profile_model: impl Fn(&InferenceProfileArn) -> Option<ModelId>) -> Option<Money> {
    cost(prices_where(catalog, &r.model, r.region.as_str(), profile_model)?, r.tokens)
}

/// The catalogue entry a record is priced at: its model, or the model behind
/// its application profile (`profile_model`, from the governance state).
pub fn price_of<'c>(catalog: &'c PriceCatalog, model: &ModelRef, profile_model: impl Fn(&InferenceProfileArn) -> Option<ModelId>) -> Option<&'c ModelPrice> {
    match model {
        ModelRef::Model(m) => catalog.model(m),
        ModelRef::ApplicationProfile(p) => profile_model(p).and_then(|m| catalog.model(&m)),
        ModelRef::Unknown(_) => None,
    }
}

/// The hour a record counts in.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// The usage attribution reads for every invocation: any token usage that is
/// not a guardrail's (only guardrail-ness changes the rules).
pub static INVOCATION_USAGE: std::sync::LazyLock<Usage> = std::sync::LazyLock::new(|| Usage::Unknown { reason: "model invocation log".into() });

impl InvocationRecord {
    /// The record as attribution reads a CUR line: the caller is the
    /// principal; an application profile is the resource, as in CUR.
    pub fn as_ai_line(&self) -> AiLine<'_> {
        ai_line(self.time.date_naive(), &self.operation, &self.principal, &self.model)
    }
}

/// The one shape attribution reads an invocation in, from a record or from
/// an hour of usage.
fn ai_line<'a>(day: chrono::NaiveDate, operation: &'a str, principal: &'a str, model: &'a ModelRef) -> AiLine<'a> {
    AiLine {
        usage_day: day,
        line_item_type: "Usage",
        operation,
        usage: &INVOCATION_USAGE,
        resource_id: match model {
            ModelRef::ApplicationProfile(p) => Some(p.as_str()),
            _ => None,
        },
        principal: Some(principal),
        workspace: None,
    }
}

/// What an hour of usage is grouped by: the caller, the model as called and
/// where. Workloads are not part of the key: attribution is applied when the
/// facts are read, so a claim made later reaches back as it does for CUR.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageKey {
    pub hour: DateTime<Utc>,
    pub account: AccountId,
    pub region: Region,
    pub principal: String,
    /// `modelId` as logged; its tier is `ModelRef::parse(model_id).tier()`.
    pub model_id: String,
}

impl UsageKey {
    pub fn as_ref(&self) -> UsageKeyRef<'_> {
        UsageKeyRef { hour: self.hour, account: &self.account, region: &self.region, principal: &self.principal, model_id: &self.model_id }
    }
}

/// A usage key borrowed from where it is stored (a [`UsageTable`]'s
/// dictionaries, or a [`UsageKey`]): folds read millions of keys and
/// allocate none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageKeyRef<'a> {
    pub hour: DateTime<Utc>,
    pub account: &'a AccountId,
    pub region: &'a Region,
    pub principal: &'a str,
    pub model_id: &'a str,
}

impl UsageKeyRef<'_> {
    pub fn to_owned_key(&self) -> UsageKey {
        UsageKey { hour: self.hour, account: self.account.clone(), region: self.region.clone(), principal: self.principal.to_owned(), model_id: self.model_id.to_owned() }
    }
}

/// Who owns usage keys: attribution is prepared once per caller and model as
/// called (weeks of hourly facts repeat each many times) and decided per day,
/// as `cur::facts::outcomes` does for CUR lines. Callers and models are
/// numbered as first met, so a pair is found by two numbers, not two strings.
pub struct UsageOwners<'a> {
    attributor: &'a Attributor,
    principals: HashMap<String, u32, FastHash>,
    models: HashMap<String, u32, FastHash>,
    index: HashMap<(u32, u32), usize, FastHash>,
    prepared: Vec<Prepared<'a>>,
}

/// Looked up once per fact: a fast hash of caller names and model ids.
type FastHash = foldhash::fast::RandomState;
type HashMap<K, V, S> = std::collections::HashMap<K, V, S>;

fn number(names: &mut HashMap<String, u32, FastHash>, name: &str) -> u32 {
    if let Some(n) = names.get(name) {
        return *n;
    }
    // A u32 holds more distinct callers than a month's usage can name.
    let n = u32::try_from(names.len()).unwrap_or(u32::MAX);
    names.insert(name.to_owned(), n);
    n
}

impl<'a> UsageOwners<'a> {
    pub fn new(attributor: &'a Attributor) -> Self {
        UsageOwners { attributor, principals: HashMap::default(), models: HashMap::default(), index: HashMap::default(), prepared: Vec::new() }
    }

    /// The number of the caller-and-model pair's attribution, prepared the
    /// first time the pair is seen (see [`UsageOwners::prepared`]).
    pub fn pair(&mut self, principal: &str, model_id: &str) -> usize {
        let p = number(&mut self.principals, principal);
        let m = number(&mut self.models, model_id);
        self.numbered_pair(p, m, principal, model_id)
    }

    fn numbered_pair(&mut self, p: u32, m: u32, principal: &str, model_id: &str) -> usize {
        if let Some(i) = self.index.get(&(p, m)) {
            return *i;
        }
        let model = ModelRef::parse(model_id);
        let prepared = self.attributor.prepare(&ai_line(chrono::NaiveDate::MIN, "", principal, &model));
        let i = self.prepared.len();
        self.prepared.push(prepared);
        self.index.insert((p, m), i);
        i
    }

    pub fn prepared(&self, pair: usize) -> &Prepared<'a> {
        &self.prepared[pair]
    }

    pub fn of(&mut self, k: UsageKeyRef<'_>) -> Outcome {
        let i = self.pair(k.principal, k.model_id);
        self.prepared[i].at(k.hour.date_naive())
    }

    /// Each row's pair number (see [`UsageOwners::pair`]): a table names each
    /// caller and model once, so each name is hashed once per table and the
    /// rows are matched by numbers.
    pub fn pairs(&mut self, t: &UsageTable) -> Vec<usize> {
        let principals: Vec<u32> = t.principals.iter().map(|p| number(&mut self.principals, p)).collect();
        let models: Vec<u32> = t.models.iter().map(|m| number(&mut self.models, m)).collect();
        t.rows.iter().map(|r| self.numbered_pair(principals[r.principal], models[r.model], &t.principals[r.principal], &t.models[r.model])).collect()
    }
}

/// An hour's usage of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageValue {
    pub requests: u64,
    pub tokens: TokenCounts,
    /// The priced requests' cost at catalogue prices.
    pub cost: Money,
    /// Requests the catalogue could not price (their tokens are in `tokens`).
    pub unpriced: u64,
}

impl UsageValue {
    pub fn add(&mut self, o: UsageValue) {
        self.requests += o.requests;
        self.tokens.add(o.tokens);
        self.cost += o.cost;
        self.unpriced += o.unpriced;
    }
}

/// Hourly usage facts of one log object (or of several, merged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFacts {
    pub facts: std::collections::BTreeMap<UsageKey, UsageValue>,
}

impl UsageFacts {
    /// Facts from rows in any order: sorted once, rows of one key summed,
    /// and the ordered map built in one pass rather than by a search per row.
    pub fn summed(mut rows: Vec<(UsageKey, UsageValue)>) -> Self {
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1.add(later.1);
            }
            same
        });
        UsageFacts { facts: rows.into_iter().collect() }
    }

    /// Adds one record, priced (`None`: the catalogue has no price for it).
    pub fn add(&mut self, r: &InvocationRecord, cost: Option<Money>) {
        let key = UsageKey { hour: hour_of(r.time), account: r.account.clone(), region: r.region.clone(), principal: r.principal.clone(), model_id: r.model_id.clone() };
        let value = UsageValue { requests: 1, tokens: r.tokens, cost: cost.unwrap_or(Money::ZERO), unpriced: u64::from(cost.is_none()) };
        self.facts.entry(key).or_default().add(value);
    }

    pub fn merge(&mut self, other: &UsageFacts) {
        for (k, v) in &other.facts {
            self.facts.entry(k.clone()).or_default().add(*v);
        }
    }

    pub fn len(&self) -> usize {
        self.facts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// The priced cost of every fact.
    pub fn total(&self) -> Money {
        self.facts.values().map(|v| v.cost).sum()
    }
}

/// One usage object as folds read it: each account, region, caller and model
/// once, in dictionaries, and rows that point into them. Reading a week of
/// hourly usage this way allocates per distinct value, not per fact, and a
/// fold matches rows by number instead of by text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTable {
    pub accounts: Vec<AccountId>,
    pub regions: Vec<Region>,
    pub principals: Vec<String>,
    pub models: Vec<String>,
    /// Rows as stored; a key may repeat (a file another tool wrote), so a
    /// fold sums what it needs, as [`UsageTable::to_facts`] does.
    pub rows: Vec<UsageRow>,
}

/// An hour of one key's usage: the key as indexes into its table's
/// dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRow {
    pub hour: DateTime<Utc>,
    pub account: usize,
    pub region: usize,
    pub principal: usize,
    pub model: usize,
    pub value: UsageValue,
}

impl UsageTable {
    /// The row's key, borrowed from the dictionaries. A row whose index is
    /// out of its dictionary is a bug of whoever built the table: decoders
    /// check every index before a row is pushed.
    pub fn key(&self, r: &UsageRow) -> UsageKeyRef<'_> {
        UsageKeyRef { hour: r.hour, account: &self.accounts[r.account], region: &self.regions[r.region], principal: &self.principals[r.principal], model_id: &self.models[r.model] }
    }

    /// Keeps the rows of the hours in `[from, to)`.
    pub fn retain_hours(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.rows.retain(|r| r.hour >= from && r.hour < to);
    }

    /// The table as keyed facts, repeated keys summed.
    pub fn to_facts(&self) -> UsageFacts {
        UsageFacts::summed(self.rows.iter().map(|r| (self.key(r).to_owned_key(), r.value)).collect())
    }

    /// The facts as a table (what a decoder of the ledger's files returns).
    pub fn from_facts(facts: &UsageFacts) -> Self {
        fn intern<T: Ord + Clone>(values: &mut Vec<T>, index: &mut std::collections::BTreeMap<T, usize>, v: &T) -> usize {
            *index.entry(v.clone()).or_insert_with(|| {
                values.push(v.clone());
                values.len() - 1
            })
        }
        let mut t = UsageTable::default();
        let (mut a, mut r, mut p, mut m) = Default::default();
        for (k, v) in &facts.facts {
            let row = UsageRow {
                hour: k.hour,
                account: intern(&mut t.accounts, &mut a, &k.account),
                region: intern(&mut t.regions, &mut r, &k.region),
                principal: intern(&mut t.principals, &mut p, &k.principal),
                model: intern(&mut t.models, &mut m, &k.model_id),
                value: *v,
            };
            t.rows.push(row);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_SHAPE: &str = include_str!("../../../../shared/data/real/compiled/bedrock_invocation_log_record.json");

    /// Fields are borrowed from the text, and a field the JSON escapes is
    /// read to its value (owned); a field of the wrong type is refused.
    #[test]
    fn a_view_borrows_what_needs_no_unescaping() {
        let text = record("amazon.nova-lite-v1:0", 10, 2);
        let v = parse_view(&text).unwrap();
        assert!(matches!(v.principal, Cow::Borrowed(_)) && matches!(v.model_id, Cow::Borrowed(_)) && matches!(v.account, Cow::Borrowed(_)));
        assert_eq!(v.principal, "arn:aws:sts::111111111111:assumed-role/chat/dev-1");
        let escaped = text.replace("assumed-role/chat/dev-1", "assumed-role\\/chat\\/dev\\u002d1");
        let v = parse_view(&escaped).unwrap();
        assert!(matches!(v.principal, Cow::Owned(_)));
        assert_eq!(v.principal, "arn:aws:sts::111111111111:assumed-role/chat/dev-1");
        assert!(matches!(v.model_id, Cow::Borrowed(_)));
        let wrong = text.replace(r#""region":"us-east-1""#, r#""region":5"#);
        assert!(matches!(parse_view(&wrong), Err(RecordError::Json(m)) if m.contains("expected a string")));
    }

    fn record(model: &str, input: u64, output: u64) -> String {
        format!(
            r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-10-14T09:21:07Z","accountId":"111111111111",
               "identity":{{"arn":"arn:aws:sts::111111111111:assumed-role/chat/dev-1"}},"region":"us-east-1","requestId":"r-1",
               "operation":"Converse","modelId":"{model}","input":{{"inputTokenCount":{input}}},"output":{{"outputTokenCount":{output}}}}}"#
        )
    }

    proptest::proptest! {
        /// The scale shift is the division it stands for, including where
        /// the scale has no room left and the division is taken.
        #[test]
        fn a_thousandth_is_exact(m in proptest::num::i64::ANY, scale in 0u32..=28) {
            let d = Decimal::new(m, scale);
            proptest::prop_assert_eq!(thousandth(d), d / Decimal::ONE_THOUSAND);
        }
    }

    #[test]
    fn the_published_record_shape_is_read() {
        let r = parse_record(REAL_SHAPE).unwrap();
        assert_eq!(r.account.as_str(), "111111111111");
        assert_eq!(r.principal, "arn:aws:sts::111111111111:assumed-role/finops-support-bot-7k2q/i-0abc1234def567890");
        assert_eq!(r.tokens, TokenCounts { input: 1820, output: 412, cache_read: 12000, cache_write: 0 });
        assert!(matches!(r.model, ModelRef::ApplicationProfile(_)), "{:?}", r.model);
        assert_eq!(r.model.tier(), InferenceTier::ApplicationProfile);
        assert_eq!(hour_of(r.time).to_rfc3339(), "2026-10-14T09:00:00+00:00");
        let line = r.as_ai_line();
        assert_eq!(line.resource_id, Some("arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/a1b2c3d4e5f6"));
        assert_eq!(line.principal, Some(r.principal.as_str()));
    }

    #[test]
    fn the_tier_comes_from_the_profile_prefix() {
        let tier = |m: &str| ModelRef::parse(m).tier();
        assert_eq!(tier("anthropic.claude-3-haiku-20240307-v1:0"), InferenceTier::InRegion);
        assert_eq!(tier("us.anthropic.claude-3-haiku-20240307-v1:0"), InferenceTier::CrossRegion("us".into()));
        assert_eq!(tier("global.anthropic.claude-sonnet-4-5-20250929-v1:0"), InferenceTier::Global);
        assert_eq!(tier("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"), InferenceTier::InRegion);
        assert_eq!(tier("arn:aws:bedrock:us-east-1:111111111111:inference-profile/eu.amazon.nova-lite-v1:0"), InferenceTier::CrossRegion("eu".into()));
        assert_eq!(tier("arn:aws:bedrock:us-east-1:111111111111:custom-model/x"), InferenceTier::Unknown);
    }

    #[test]
    fn a_record_is_priced_exactly_at_the_catalogue() {
        let catalog = PriceCatalog::bundled().unwrap();
        let r = parse_record(&record("us.anthropic.claude-3-haiku-20240307-v1:0", 10_000, 2_000)).unwrap();
        let price = price_of(&catalog, &r.model, |_| None).unwrap();
        // Haiku 3: $0.00025 in, $0.00125 out per 1K.
        let want = Decimal::new(25, 5) * Decimal::from(10) + Decimal::new(125, 5) * Decimal::from(2);
        assert_eq!(cost(&price.per_1k_tokens, r.tokens), Some(Money::new(want)));
        assert_eq!(want.to_string(), "0.00500");
    }

    #[test]
    fn an_unknown_model_keeps_its_tokens_and_has_no_price() {
        let catalog = PriceCatalog::bundled().unwrap();
        let r = parse_record(&record("acme.secret-model-v9", 5, 7)).unwrap();
        assert_eq!(price_of(&catalog, &r.model, |_| None), None);
        assert_eq!(r.tokens.input + r.tokens.output, 12);
        // An application profile is priced at the model behind it, when known.
        let p = parse_record(REAL_SHAPE).unwrap();
        assert!(price_of(&catalog, &p.model, |_| None).is_none());
        let haiku = ModelId::parse("anthropic.claude-3-haiku-20240307-v1:0").unwrap();
        assert_eq!(price_of(&catalog, &p.model, |_| Some(haiku.clone())).map(|m| m.cur_model_token.as_str()), Some("Claude3Haiku"));
    }

    #[test]
    fn a_token_type_without_a_price_makes_the_cost_unknown() {
        let catalog = PriceCatalog::bundled().unwrap();
        let m = catalog.models.iter().find(|m| m.per_1k_tokens.cache_write.is_none() && m.per_1k_tokens.input.is_some()).unwrap();
        let t = TokenCounts { input: 1000, cache_write: 10, ..Default::default() };
        assert_eq!(cost(&m.per_1k_tokens, t), None);
        assert!(cost(&m.per_1k_tokens, TokenCounts { input: 1000, ..Default::default() }).is_some());
    }

    #[test]
    fn a_call_is_priced_where_and_how_it_was_routed() {
        let catalog = PriceCatalog::bundled().unwrap();
        let at = |model: &str, region: &str| {
            let r = parse_record(&record(model, 1_000_000, 0).replace(r#""region":"us-east-1""#, &format!(r#""region":"{region}""#))).unwrap();
            record_cost(&catalog, &r, |_| None).unwrap()
        };
        let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        // LiteLLM's Bedrock prices: $3/M in-region and global, $3.30/M through a
        // geography's profile, $3.60/M in GovCloud.
        assert_eq!(at(sonnet, "us-east-1"), Money::new(Decimal::new(3, 0)));
        assert_eq!(at(&format!("global.{sonnet}"), "us-east-1"), Money::new(Decimal::new(3, 0)));
        assert_eq!(at(&format!("eu.{sonnet}"), "eu-west-1"), Money::new(Decimal::new(33, 1)));
        assert_eq!(at(&format!("us.{sonnet}"), "us-east-1"), Money::new(Decimal::new(33, 1)));
        assert_eq!(at(sonnet, "us-gov-west-1"), Money::new(Decimal::new(36, 1)));
        // A geography without a price of its own costs what the model does.
        assert_eq!(at("us.anthropic.claude-3-haiku-20240307-v1:0", "us-east-1"), at("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1"));
    }

    #[test]
    fn records_aggregate_by_hour_caller_and_model() {
        let catalog = PriceCatalog::bundled().unwrap();
        let mut facts = UsageFacts::default();
        let haiku = record("us.anthropic.claude-3-haiku-20240307-v1:0", 1000, 1000);
        for text in [haiku.clone(), haiku.replace("09:21:07", "09:59:59"), haiku.replace("09:21:07", "10:00:00"), record("acme.x", 5, 5)] {
            let r = parse_record(&text).unwrap();
            let c = record_cost(&catalog, &r, |_| None);
            facts.add(&r, c);
        }
        assert_eq!(facts.len(), 3, "09:21 and 09:59 share an hour; 10:00 and the other model do not");
        let nine = facts.facts.iter().find(|(k, _)| k.hour.format("%H").to_string() == "09" && k.model_id.starts_with("us.")).unwrap().1;
        assert_eq!((nine.requests, nine.tokens.input, nine.unpriced), (2, 2000, 0));
        assert_eq!(nine.cost, Money::new(Decimal::new(300, 5)), "2 × ($0.00025 + $0.00125)");
        let unknown = facts.facts.iter().find(|(k, _)| k.model_id == "acme.x").unwrap().1;
        assert_eq!((unknown.requests, unknown.unpriced, unknown.cost, unknown.tokens.output), (1, 1, Money::ZERO, 5));
        assert_eq!(facts.total(), Money::new(Decimal::new(450, 5)));
        let mut twice = facts.clone();
        twice.merge(&facts);
        assert_eq!(twice.total(), Money::new(Decimal::new(900, 5)));
    }

    #[test]
    fn an_unreadable_record_names_what_is_wrong() {
        let e = |s: &str| parse_record(s).unwrap_err().to_string();
        assert!(e("{not json").starts_with("not JSON"));
        assert!(e(r#"{"schemaType":"Other"}"#).contains("Other"));
        assert!(e(&record("m.x", 1, 1).replace(r#""accountId":"111111111111","#, "")).contains("accountId: missing"));
        assert!(e(&record("m.x", 1, 1).replace("2026-10-14T09:21:07Z", "yesterday")).starts_with("timestamp"));
        assert!(e(&record("m.x", 1, 1).replace("us-east-1", "moon")).starts_with("region"));
        assert!(e(&record("m.x", 1, 1).replace("arn:aws:sts::111111111111:assumed-role/chat/dev-1", "")).contains("identity.arn: empty"));
    }
}
