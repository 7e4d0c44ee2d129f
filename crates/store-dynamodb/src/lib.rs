//! The `Store` port on Amazon DynamoDB.
//!
//! One table (`template.yaml`'s `GovernanceTable`): `pk`/`sk` strings as the
//! primary key, `version` a number, the caller's attributes in one map attribute
//! `attrs` (so they can never collide with the key attributes), and `gsi1pk`/
//! `gsi1sk` present only on items that are in the secondary index `gsi1`.
//! Conditions become condition expressions; transactions are TransactWriteItems.
//! Every SDK error is mapped once, in [`map_sdk_error`], to the port's `StoreError`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use serde_json::{Number, Value};
use services::ports::store::{
    validate_key, validate_query, validate_transaction, validate_write, Attributes, Condition, Cursor, IndexKey, Item,
    ItemData, ItemKey, Page, PageRequest, SkRange, Store, StoreError, WriteOp,
};

/// Attribute and index names; `template.yaml` declares the same (checked by
/// `crates/services/tests/template_routes.rs`).
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const VERSION: &str = "version";
pub const ATTRS: &str = "attrs";
pub const GSI: &str = "gsi1";
pub const GSI_PK: &str = "gsi1pk";
pub const GSI_SK: &str = "gsi1sk";

/// The environment variable naming the table (set by the template's Globals).
pub const TABLE_ENV: &str = "FINOPS_TABLE";

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The table named by `FINOPS_TABLE`.
    pub fn from_env(client: Client) -> Result<Self, StoreError> {
        let table = std::env::var(TABLE_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| StoreError::NotConfigured { message: format!("{TABLE_ENV} is not set") })?;
        Ok(Self::new(client, table))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with the template's schema and waits until it is active.
    /// Production tables come from `template.yaml`; this is for tests and local
    /// development against DynamoDB Local.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let key = |name: &str, kt: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kt).build();
        let build = || -> Result<_, aws_sdk_dynamodb::error::BuildError> {
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(GSI)
                .key_schema(key(GSI_PK, KeyType::Hash)?)
                .key_schema(key(GSI_SK, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()?;
            Ok((vec![attr(PK)?, attr(SK)?, attr(GSI_PK)?, attr(GSI_SK)?], vec![key(PK, KeyType::Hash)?, key(SK, KeyType::Range)?], gsi))
        };
        let (attrs, keys, gsi) = build().map_err(|e| StoreError::invalid(e.to_string()))?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attrs))
            .set_key_schema(Some(keys))
            .global_secondary_indexes(gsi)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &self.table, None))?;
        aws_sdk_dynamodb::client::Waiters::wait_until_table_exists(&self.client)
            .table_name(&self.table)
            .wait(Duration::from_secs(120))
            .await
            .map_err(|e| StoreError::Unavailable { message: format!("table {} did not become active: {e}", self.table) })?;
        Ok(())
    }

    /// The table's status (`ACTIVE`, …), for `finops doctor`.
    pub async fn status(&self) -> Result<String, StoreError> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &self.table, None))?;
        Ok(out.table().and_then(|t| t.table_status()).map(|s| s.as_str().to_owned()).unwrap_or_default())
    }
}

/// Maps any SDK error to the port's error. `key` is the item a conditional write
/// was about, so a failed condition can name it.
pub fn map_sdk_error<E, R>(err: SdkError<E, R>, table: &str, key: Option<&ItemKey>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            let message = se.err().message().unwrap_or_default().to_owned();
            match code {
                "ConditionalCheckFailedException" => match key {
                    Some(k) => StoreError::Conflict { key: k.clone() },
                    None => StoreError::invalid(format!("unexpected condition failure: {message}")),
                },
                "TransactionConflictException" => StoreError::TransactionConflict,
                "ResourceNotFoundException" => {
                    StoreError::NotConfigured { message: format!("DynamoDB table {table} not found: {message}") }
                }
                "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException"
                | "MissingAuthenticationTokenException" => {
                    StoreError::NotConfigured { message: format!("DynamoDB refused access to {table}: {code} {message}") }
                }
                "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
                | "InternalServerError" | "ServiceUnavailable" | "LimitExceededException" => {
                    StoreError::Unavailable { message: format!("DynamoDB {code}: {message}") }
                }
                "ValidationException" | "SerializationException" => {
                    StoreError::invalid(format!("DynamoDB rejected the request: {message}"))
                }
                _ => StoreError::NotConfigured { message: format!("unexpected DynamoDB error {code}: {message}") },
            }
        }
        SdkError::ConstructionFailure(_) => StoreError::invalid(detail),
        // Dispatch failures (connection refused, DNS), timeouts and unreadable
        // responses: the service could not be reached; the SDK already retried.
        _ => StoreError::Unavailable { message: format!("DynamoDB unreachable: {detail}") },
    }
}

pub fn json_to_av(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(json_to_av).collect()),
        Value::Object(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), json_to_av(v))).collect()),
    }
}

pub fn av_to_json(av: &AttributeValue) -> Result<Value, String> {
    Ok(match av {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => Value::Number(parse_number(n)?),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(av_to_json).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => {
            Value::Object(m.iter().map(|(k, v)| Ok((k.clone(), av_to_json(v)?))).collect::<Result<_, String>>()?)
        }
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(ns.iter().map(|n| parse_number(n).map(Value::Number)).collect::<Result<_, _>>()?),
        other => return Err(format!("unsupported attribute type {other:?}")),
    })
}

fn parse_number(n: &str) -> Result<Number, String> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(i.into());
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(u.into());
    }
    n.parse::<f64>().ok().and_then(Number::from_f64).ok_or_else(|| format!("number {n:?} is not representable"))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn key_map(key: &ItemKey) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), s(&key.pk)), (SK.to_owned(), s(&key.sk))])
}

fn encode(item: &ItemData, version: u64) -> HashMap<String, AttributeValue> {
    let mut m = key_map(&item.key);
    m.insert(VERSION.into(), AttributeValue::N(version.to_string()));
    m.insert(ATTRS.into(), AttributeValue::M(item.attrs.iter().map(|(k, v)| (k.clone(), json_to_av(v))).collect()));
    if let Some(ix) = &item.index {
        m.insert(GSI_PK.into(), s(&ix.pk));
        m.insert(GSI_SK.into(), s(&ix.sk));
    }
    m
}

fn decode(m: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let text = |name: &str| m.get(name).and_then(|v| v.as_s().ok()).cloned();
    let key = ItemKey::new(text(PK).unwrap_or_default(), text(SK).unwrap_or_default());
    let bad = |reason: String| StoreError::Corrupt { key: key.clone(), reason };
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(bad("item has no string pk/sk".into()));
    }
    let version = m
        .get(VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| bad("item has no numeric version".into()))?;
    let attrs: Attributes = match m.get(ATTRS) {
        Some(AttributeValue::M(a)) => a.iter().map(|(k, v)| Ok((k.clone(), av_to_json(v)?))).collect::<Result<_, String>>().map_err(bad)?,
        _ => return Err(bad("item has no attrs map".into())),
    };
    let index = match (text(GSI_PK), text(GSI_SK)) {
        (Some(p), Some(s)) => Some(IndexKey::new(p, s)),
        _ => None,
    };
    Ok(Item { key, index, attrs, version })
}

/// A condition as (expression, names, values) for a DynamoDB request.
type ConditionParts = (String, Option<HashMap<String, String>>, Option<HashMap<String, AttributeValue>>);

fn condition_parts(condition: Condition) -> ConditionParts {
    match condition {
        Condition::MustNotExist => (format!("attribute_not_exists({PK})"), None, None),
        Condition::VersionEquals(v) => (
            "#version = :expected_version".to_owned(),
            Some(HashMap::from([("#version".to_owned(), VERSION.to_owned())])),
            Some(HashMap::from([(":expected_version".to_owned(), AttributeValue::N(v.to_string()))])),
        ),
    }
}

/// Cursors are DynamoDB's LastEvaluatedKey (string attributes only) as JSON.
fn encode_cursor(lek: &HashMap<String, AttributeValue>) -> Cursor {
    let m: HashMap<&str, &str> = lek.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str()))).collect();
    Cursor(serde_json::to_string(&m).unwrap_or_default())
}

fn decode_cursor(c: &Cursor, partition_attr: &str, partition: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let foreign = || StoreError::invalid("cursor was not issued by this store");
    let m: HashMap<String, String> = serde_json::from_str(&c.0).map_err(|_| foreign())?;
    if m.get(partition_attr).map(String::as_str) != Some(partition) || !m.contains_key(PK) || !m.contains_key(SK) {
        return Err(StoreError::invalid("cursor belongs to another query"));
    }
    Ok(m.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

impl DynamoStore {
    async fn query_on(&self, index: bool, partition: &str, range: &SkRange, page: PageRequest) -> Result<Page, StoreError> {
        validate_query(partition, range, &page)?;
        let (pk_attr, sk_attr) = if index { (GSI_PK, GSI_SK) } else { (PK, SK) };
        let start = page.cursor.as_ref().map(|c| decode_cursor(c, pk_attr, partition)).transpose()?;
        let mut values = HashMap::from([(":p".to_owned(), s(partition))]);
        // DynamoDB refuses unused placeholders, so the sort-key name joins only when used.
        let mut names = HashMap::from([("#p".to_owned(), pk_attr.to_owned())]);
        let expr = match range {
            SkRange::All => "#p = :p",
            SkRange::Prefix(prefix) => {
                values.insert(":prefix".into(), s(prefix));
                "#p = :p AND begins_with(#s, :prefix)"
            }
            SkRange::Between(lo, hi) => {
                values.insert(":lo".into(), s(lo));
                values.insert(":hi".into(), s(hi));
                "#p = :p AND #s BETWEEN :lo AND :hi"
            }
        };
        if !matches!(range, SkRange::All) {
            names.insert("#s".to_owned(), sk_attr.to_owned());
        }
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .set_exclusive_start_key(start)
            .limit(page.limit as i32);
        q = if index { q.index_name(GSI) } else { q.consistent_read(true) };
        let out = q.send().await.map_err(|e| map_sdk_error(e, &self.table, None))?;
        let items = out.items().iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next: out.last_evaluated_key().map(encode_cursor) })
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &ItemKey) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &self.table, Some(key)))?;
        out.item().map(decode).transpose()
    }

    async fn put(&self, item: ItemData, condition: Condition) -> Result<u64, StoreError> {
        validate_write(&item, condition)?;
        let version = condition.next_version();
        let (expr, names, values) = condition_parts(condition);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(&item, version)))
            .condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &self.table, Some(&item.key)))?;
        Ok(version)
    }

    async fn query(&self, pk: &str, range: &SkRange, page: PageRequest) -> Result<Page, StoreError> {
        self.query_on(false, pk, range, page).await
    }

    async fn query_index(&self, index_pk: &str, range: &SkRange, page: PageRequest) -> Result<Page, StoreError> {
        self.query_on(true, index_pk, range, page).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        let keys: Vec<ItemKey> = ops.iter().map(|op| op.key().clone()).collect();
        let build_err = |e: aws_sdk_dynamodb::error::BuildError| StoreError::invalid(e.to_string());
        let mut items = Vec::with_capacity(ops.len());
        for op in &ops {
            let twi = match op {
                WriteOp::Put { item, condition } => {
                    let (expr, names, values) = condition_parts(*condition);
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(encode(item, condition.next_version())))
                        .condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(build_err)?;
                    TransactWriteItem::builder().put(put).build()
                }
                WriteOp::Delete { key, version } => {
                    let (expr, names, values) = condition_parts(Condition::VersionEquals(*version));
                    let del = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(build_err)?;
                    TransactWriteItem::builder().delete(del).build()
                }
                WriteOp::Check { key, condition } => {
                    let (expr, names, values) = condition_parts(*condition);
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(build_err)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
            };
            items.push(twi);
        }
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if matches!(se.err(), TransactWriteItemsError::TransactionCanceledException(_)) => {
                let TransactWriteItemsError::TransactionCanceledException(tc) = se.err() else {
                    return Err(StoreError::TransactionConflict);
                };
                Err(cancellation_to_error(tc.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")), &keys))
            }
            Err(e) => Err(map_sdk_error(e, &self.table, None)),
        }
    }
}

/// DynamoDB lists one reason per operation; the port names the first operation
/// whose condition failed, as the embedded store does.
fn cancellation_to_error<'a>(codes: impl Iterator<Item = &'a str>, keys: &[ItemKey]) -> StoreError {
    let codes: Vec<&str> = codes.collect();
    if let Some(i) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
        if let Some(k) = keys.get(i) {
            return StoreError::Conflict { key: k.clone() };
        }
    }
    if codes.contains(&"TransactionConflict") {
        return StoreError::TransactionConflict;
    }
    if codes.iter().any(|c| matches!(*c, "ThrottlingError" | "ProvisionedThroughputExceeded")) {
        return StoreError::Unavailable { message: format!("transaction throttled: {codes:?}") };
    }
    StoreError::invalid(format!("transaction cancelled: {codes:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_attribute_values_round_trip() {
        let v = json!({"s": "x", "n": 42, "neg": -7, "big": u64::MAX, "b": true, "null": null, "l": [1, "a", {"m": []}], "empty": ""});
        let av = json_to_av(&v);
        assert_eq!(av_to_json(&av).unwrap(), v);
    }

    #[test]
    fn items_encode_and_decode() {
        let mut attrs = Attributes::new();
        attrs.insert("pk".into(), json!("a user attribute may share a key name"));
        let item = ItemData::new(ItemKey::new("P", "S"), attrs).with_index(IndexKey::new("G", "H"));
        let back = decode(&encode(&item, 3)).unwrap();
        assert_eq!((back.key, back.index, back.attrs, back.version), (item.key, item.index, item.attrs, 3));
        let mut broken = encode(&ItemData::new(ItemKey::new("P", "S"), Attributes::new()), 1);
        broken.remove(VERSION);
        assert!(matches!(decode(&broken), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn cancellation_names_the_first_failed_condition() {
        let keys = vec![ItemKey::new("a", "1"), ItemKey::new("a", "2"), ItemKey::new("a", "3")];
        let e = cancellation_to_error(["None", "ConditionalCheckFailed", "ConditionalCheckFailed"].into_iter(), &keys);
        assert_eq!(e, StoreError::Conflict { key: keys[1].clone() });
        assert_eq!(cancellation_to_error(["None", "TransactionConflict"].into_iter(), &keys), StoreError::TransactionConflict);
        assert!(cancellation_to_error(["ThrottlingError"].into_iter(), &keys).is_retryable());
    }

    #[test]
    fn cursors_are_checked_against_the_query() {
        let lek = HashMap::from([(PK.to_owned(), s("p1")), (SK.to_owned(), s("x"))]);
        let c = encode_cursor(&lek);
        assert_eq!(decode_cursor(&c, PK, "p1").unwrap(), lek);
        assert!(decode_cursor(&c, PK, "p2").unwrap_err().to_string().contains("another query"));
        assert!(decode_cursor(&Cursor("garbage".into()), PK, "p1").unwrap_err().to_string().contains("not issued"));
    }
}
