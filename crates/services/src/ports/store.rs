//! The `Store` port: a single-table, key-ordered item store with conditional writes.
//!
//! The design is DynamoDB's single-table pattern, because that is the production
//! store: items are addressed by a partition key and a sort key, queried by
//! partition in sort-key order, and optionally listed in one secondary index.
//! Every write states what it expects to find (an item that does not exist yet, or
//! a given version), so concurrent writers never overwrite each other silently.
//!
//! Both adapters call [`validate_write`] / [`validate_transaction`] first, so a
//! request DynamoDB would refuse is refused by the embedded store too, with the
//! same error.

use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Attributes are JSON values. Numbers should be integers: DynamoDB keeps them
/// exactly, but a fraction read back may come back as a float. Money travels as a
/// decimal string (see `domain::Money`).
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// DynamoDB's limits, enforced on both adapters.
pub const MAX_TRANSACTION_ITEMS: usize = 25;
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// An item's size, measured as the JSON of its keys and attributes. JSON is at
/// least as long as DynamoDB's own size measure for the same item, so an item under
/// this limit always fits DynamoDB's 400 KB.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's limit on the total size of one transaction.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_PAGE_LIMIT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.pk, self.sk)
    }
}

/// The item's place in the secondary index (DynamoDB's `gsi1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// What a caller writes: the store assigns the version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemData {
    pub key: ItemKey,
    pub index: Option<IndexKey>,
    pub attrs: Attributes,
}

impl ItemData {
    pub fn new(key: ItemKey, attrs: Attributes) -> Self {
        Self { key, index: None, attrs }
    }

    pub fn with_index(mut self, index: IndexKey) -> Self {
        self.index = Some(index);
        self
    }
}

/// What a read returns. `version` is 1 for a new item and goes up by one with each
/// write; it is what optimistic concurrency compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: ItemKey,
    pub index: Option<IndexKey>,
    pub attrs: Attributes,
    pub version: u64,
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No item with this key exists (a create).
    MustNotExist,
    /// The item exists at exactly this version (an update after a read).
    VersionEquals(u64),
}

impl Condition {
    /// The version an item has after a put under this condition.
    pub fn next_version(self) -> u64 {
        match self {
            Condition::MustNotExist => 1,
            Condition::VersionEquals(v) => v + 1,
        }
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put { item: ItemData, condition: Condition },
    /// Removes an item at a known version. Governance records are never deleted;
    /// this exists for derived data (facts replaced when a CUR file is re-delivered).
    Delete { key: ItemKey, version: u64 },
    /// Writes nothing; fails the transaction unless the condition holds.
    Check { key: ItemKey, condition: Condition },
}

impl WriteOp {
    pub fn key(&self) -> &ItemKey {
        match self {
            WriteOp::Put { item, .. } => &item.key,
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key,
        }
    }
}

/// Which sort keys of a partition a query returns. Comparison is on UTF-8 bytes,
/// as DynamoDB compares strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    All,
    Prefix(String),
    /// Inclusive at both ends, like DynamoDB's `BETWEEN`.
    Between(String, String),
}

impl SkRange {
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SkRange::All => true,
            SkRange::Prefix(p) => sk.starts_with(p.as_str()),
            SkRange::Between(lo, hi) => lo.as_str() <= sk && sk <= hi.as_str(),
        }
    }
}

/// Where the previous page stopped. Opaque: only the adapter that made it reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (1 to 1000). A page may hold fewer: DynamoDB stops a
    /// page at 1 MB of data.
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        Self { limit, cursor: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// In ascending sort-key order (index sort-key order for index queries).
    pub items: Vec<Item>,
    /// `None` when the query is exhausted. `Some` may lead to an empty last page.
    pub next: Option<Cursor>,
}

/// The one error type of the store port. Callers match on it; the HTTP layer maps
/// it once (Conflict → 409, Invalid → 400 or 500 depending on who built the
/// request, the retryable ones → 503).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// A write's condition did not hold: the item exists already, is missing, or is
    /// at another version. For a transaction, the first operation (in order) whose
    /// condition failed. Nothing was written.
    #[error("conflict on item {key}: its condition did not hold (it exists already, is missing, or has another version)")]
    Conflict { key: ItemKey },
    /// The transaction collided with another one in flight. Nothing was written; retry.
    #[error("transaction collided with a concurrent write; nothing was written, retry")]
    TransactionConflict,
    /// The store could not be reached or asked us to slow down. Nothing is known to
    /// have been written by a single put; retry with backoff.
    #[error("store unavailable: {message}")]
    Unavailable { message: String },
    /// The store is reachable but not usable as configured (no table, no access,
    /// file locked by another process). Retrying will not help.
    #[error("store not usable as configured: {message}")]
    NotConfigured { message: String },
    /// The request itself is malformed (empty key, too many items, item too large,
    /// two operations on one item, a cursor from elsewhere). Nothing was written.
    #[error("invalid store request: {reason}")]
    Invalid { reason: String },
    /// A stored item could not be read back.
    #[error("stored item {key} is unreadable: {reason}")]
    Corrupt { key: ItemKey, reason: String },
}

impl StoreError {
    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::TransactionConflict | StoreError::Unavailable { .. })
    }

    pub fn invalid(reason: impl Into<String>) -> Self {
        StoreError::Invalid { reason: reason.into() }
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The item, or `None`. Strongly consistent.
    /// Errors: `Unavailable`, `NotConfigured`, `Corrupt`, `Invalid` (empty key).
    async fn get(&self, key: &ItemKey) -> Result<Option<Item>, StoreError>;

    /// Writes one item if `condition` holds and returns its new version.
    /// Errors: `Conflict` when the condition does not hold (nothing written),
    /// `Invalid`, `Unavailable`, `NotConfigured`.
    async fn put(&self, item: ItemData, condition: Condition) -> Result<u64, StoreError>;

    /// One page of a partition's items whose sort key is in `range`, in order.
    /// Strongly consistent. Errors: `Invalid` (limit out of 1..=1000, foreign
    /// cursor), `Unavailable`, `NotConfigured`, `Corrupt`.
    async fn query(&self, pk: &str, range: &SkRange, page: PageRequest) -> Result<Page, StoreError>;

    /// One page of the secondary index: items whose index pk is `index_pk` and whose
    /// index sk is in `range`, in index sort-key order. Like DynamoDB's GSIs it may
    /// briefly lag writes. Errors as for `query`.
    async fn query_index(&self, index_pk: &str, range: &SkRange, page: PageRequest) -> Result<Page, StoreError>;

    /// Applies all operations or none (at most 25, at most one per item).
    /// Errors: `Conflict` naming the first operation whose condition failed,
    /// `TransactionConflict`, `Invalid`, `Unavailable`, `NotConfigured`.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// Applies each transaction in turn as [`Store::transact`] would,
    /// stopping at the first that fails: on `Conflict` the ones before it
    /// stay applied and it and the ones after are not; on any other error
    /// any prefix may be applied, as after a crash between calls. An adapter
    /// may commit them together (the embedded store does: a large month's
    /// gaps were hundreds of commits, each an fsync), since no reader can
    /// tell that from one commit after another. Errors as for `transact`.
    async fn transact_each(&self, transactions: Vec<Vec<WriteOp>>) -> Result<(), StoreError> {
        // A malformed transaction is refused before any is applied, in
        // every adapter alike.
        for ops in &transactions {
            validate_transaction(ops)?;
        }
        for ops in transactions {
            self.transact(ops).await?;
        }
        Ok(())
    }

    /// Every item of a partition in `range`, following cursors.
    async fn query_all(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut req = PageRequest::first(MAX_PAGE_LIMIT);
        loop {
            let page = self.query(pk, range, req.clone()).await?;
            out.extend(page.items);
            match page.next {
                Some(c) => req.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

pub fn validate_key(key: &ItemKey) -> Result<(), StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::invalid(format!("item key {key}: partition and sort keys must be non-empty")));
    }
    if key.pk.len() > MAX_PARTITION_KEY_BYTES || key.sk.len() > MAX_SORT_KEY_BYTES {
        return Err(StoreError::invalid(format!(
            "item key {key}: partition key may be at most {MAX_PARTITION_KEY_BYTES} bytes and sort key {MAX_SORT_KEY_BYTES}"
        )));
    }
    Ok(())
}

/// The size an item counts for against [`MAX_ITEM_BYTES`]: its attributes'
/// JSON is counted as it is written, never held (a month's gaps are
/// thousands of items, each sized when packed and when validated).
pub fn item_size(item: &ItemData) -> usize {
    /// Counts the bytes written to it.
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counted = Counter(0);
    let attrs = serde_json::to_writer(&mut counted, &item.attrs).map_or(usize::MAX, |()| counted.0);
    let index = item.index.as_ref().map_or(0, |i| i.pk.len() + i.sk.len());
    item.key.pk.len() + item.key.sk.len() + index + attrs
}

pub fn validate_item(item: &ItemData) -> Result<usize, StoreError> {
    validate_key(&item.key)?;
    if let Some(ix) = &item.index {
        if ix.pk.is_empty() || ix.sk.is_empty() || ix.pk.len() > MAX_PARTITION_KEY_BYTES || ix.sk.len() > MAX_SORT_KEY_BYTES {
            return Err(StoreError::invalid(format!(
                "item {}: index keys must be non-empty and within the key size limits",
                item.key
            )));
        }
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::invalid(format!(
            "item {} is {size} bytes; the limit is {MAX_ITEM_BYTES}",
            item.key
        )));
    }
    Ok(size)
}

/// Checks a conditional put; its item's size ([`item_size`]) when valid.
pub fn validate_write(item: &ItemData, condition: Condition) -> Result<usize, StoreError> {
    if condition == Condition::VersionEquals(0) {
        return Err(StoreError::invalid(format!("item {}: versions start at 1", item.key)));
    }
    validate_item(item)
}

pub fn validate_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() || ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_ITEMS} operations, not {}",
            ops.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for op in ops {
        if !seen.insert(op.key()) {
            return Err(StoreError::invalid(format!("a transaction may touch item {} only once", op.key())));
        }
        total += match op {
            WriteOp::Put { item, condition } => validate_write(item, *condition)?,
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => {
                validate_key(key)?;
                key.pk.len() + key.sk.len()
            }
        };
    }
    if total > MAX_TRANSACTION_BYTES {
        return Err(StoreError::invalid(format!(
            "transaction is {total} bytes; the limit is {MAX_TRANSACTION_BYTES}"
        )));
    }
    Ok(())
}

/// What one operation counts for against [`MAX_TRANSACTION_BYTES`].
fn op_size(op: &WriteOp) -> usize {
    match op {
        WriteOp::Put { item, .. } => item_size(item),
        WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key.pk.len() + key.sk.len(),
    }
}

/// Packs groups of operations that must commit together (an entity's item
/// and its audit records) into as few transactions as the limits allow,
/// never splitting a group: writing thousands of entities one commit each
/// spends its time in commits (an fsync apiece in the embedded store, a
/// round trip in DynamoDB). A group that is itself over the limits stays
/// alone, for [`validate_transaction`] to refuse by name.
pub fn pack_transactions(groups: impl IntoIterator<Item = Vec<WriteOp>>) -> Vec<Vec<WriteOp>> {
    let mut out: Vec<Vec<WriteOp>> = Vec::new();
    let (mut batch, mut bytes, mut keys): (Vec<WriteOp>, usize, HashSet<ItemKey>) = (Vec::new(), 0, HashSet::new());
    for group in groups {
        let size: usize = group.iter().map(op_size).sum();
        let fits = batch.len() + group.len() <= MAX_TRANSACTION_ITEMS && bytes + size <= MAX_TRANSACTION_BYTES && group.iter().all(|op| !keys.contains(op.key()));
        if !fits && !batch.is_empty() {
            out.push(std::mem::take(&mut batch));
            (bytes, keys) = (0, HashSet::new());
        }
        bytes += size;
        keys.extend(group.iter().map(|op| op.key().clone()));
        batch.extend(group);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

pub fn validate_page(page: &PageRequest) -> Result<(), StoreError> {
    if page.limit == 0 || page.limit > MAX_PAGE_LIMIT {
        return Err(StoreError::invalid(format!("page limit must be 1 to {MAX_PAGE_LIMIT}, not {}", page.limit)));
    }
    Ok(())
}

pub fn validate_query(pk: &str, range: &SkRange, page: &PageRequest) -> Result<(), StoreError> {
    if pk.is_empty() {
        return Err(StoreError::invalid("query partition key must be non-empty"));
    }
    if let SkRange::Between(lo, hi) = range {
        if lo > hi {
            return Err(StoreError::invalid(format!("sort key range {lo:?}..={hi:?} is reversed")));
        }
    }
    if let SkRange::Prefix(p) = range {
        if p.is_empty() {
            return Err(StoreError::invalid("sort key prefix must be non-empty (use SkRange::All)"));
        }
    }
    validate_page(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(pk: &str, sk: &str) -> ItemData {
        ItemData::new(ItemKey::new(pk, sk), Attributes::new())
    }

    #[test]
    fn keys_must_be_non_empty_and_bounded() {
        assert!(validate_item(&item("a", "b")).is_ok());
        assert!(matches!(validate_item(&item("", "b")), Err(StoreError::Invalid { .. })));
        assert!(matches!(validate_item(&item("a", "")), Err(StoreError::Invalid { .. })));
        assert!(validate_item(&item("a", &"s".repeat(MAX_SORT_KEY_BYTES + 1))).is_err());
        let bad_index = item("a", "b").with_index(IndexKey::new("", "x"));
        assert!(validate_item(&bad_index).is_err());
    }

    #[test]
    fn item_size_is_bounded() {
        let mut big = item("a", "b");
        big.attrs.insert("blob".into(), json!("x".repeat(MAX_ITEM_BYTES)));
        let e = validate_item(&big).unwrap_err().to_string();
        assert!(e.contains("the limit is"), "{e}");
    }

    #[test]
    fn transactions_are_bounded_and_touch_each_item_once() {
        let put = |sk: &str| WriteOp::Put { item: item("p", sk), condition: Condition::MustNotExist };
        assert!(validate_transaction(&[]).is_err());
        let ops: Vec<WriteOp> = (0..26).map(|i| put(&i.to_string())).collect();
        assert!(validate_transaction(&ops).unwrap_err().to_string().contains("1 to 25"));
        assert!(validate_transaction(&ops[..25]).is_ok());
        let dup = vec![put("x"), WriteOp::Check { key: ItemKey::new("p", "x"), condition: Condition::VersionEquals(1) }];
        assert!(validate_transaction(&dup).unwrap_err().to_string().contains("only once"));
        let v0 = vec![WriteOp::Put { item: item("p", "y"), condition: Condition::VersionEquals(0) }];
        assert!(validate_transaction(&v0).is_err());
    }

    /// Groups stay whole and in order, and every packed transaction is one
    /// the store accepts: by count, by bytes and touching each item once.
    #[test]
    fn groups_pack_into_valid_transactions_without_splitting() {
        let put = |sk: String, blob: usize| {
            let mut it = item("p", &sk);
            it.attrs.insert("blob".into(), json!("x".repeat(blob)));
            WriteOp::Put { item: it, condition: Condition::MustNotExist }
        };
        let mut groups: Vec<Vec<WriteOp>> = (0..40).map(|i| vec![put(format!("g{i}"), 10), put(format!("a{i}"), 10)]).collect();
        groups.extend((0..6).map(|i| vec![put(format!("big{i}"), 300 * 1024), put(format!("bigaudit{i}"), 10)]));
        groups.push(vec![put("g0".into(), 10)]);
        let flat: Vec<String> = groups.iter().flatten().map(|op| op.key().sk.clone()).collect();
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let packed = pack_transactions(groups);
        // 40 small pairs fit 12 to a transaction; 300 KB items 13 to the 4 MB.
        assert!(packed.len() < 47 && packed.len() >= 4, "{}", packed.len());
        for t in &packed {
            validate_transaction(t).unwrap();
        }
        // Each transaction is a run of whole groups.
        let mut lens = sizes.iter();
        for t in &packed {
            let mut n = 0;
            while n < t.len() {
                n += lens.next().expect("more operations than groups");
            }
            assert_eq!(n, t.len(), "a group was split");
        }
        assert_eq!(packed.iter().flatten().map(|op| op.key().sk.clone()).collect::<Vec<_>>(), flat);
        assert!(pack_transactions(Vec::new()).is_empty());
    }

    #[test]
    fn transaction_total_size_is_bounded() {
        let ops: Vec<WriteOp> = (0..12)
            .map(|i| {
                let mut it = item("p", &i.to_string());
                it.attrs.insert("blob".into(), json!("x".repeat(390 * 1024)));
                WriteOp::Put { item: it, condition: Condition::MustNotExist }
            })
            .collect();
        assert!(validate_transaction(&ops).unwrap_err().to_string().contains("transaction is"));
    }

    #[test]
    fn queries_and_pages() {
        assert!(validate_query("p", &SkRange::All, &PageRequest::first(1000)).is_ok());
        assert!(validate_query("p", &SkRange::All, &PageRequest::first(0)).is_err());
        assert!(validate_query("p", &SkRange::All, &PageRequest::first(1001)).is_err());
        assert!(validate_query("", &SkRange::All, &PageRequest::first(1)).is_err());
        assert!(validate_query("p", &SkRange::Between("b".into(), "a".into()), &PageRequest::first(1)).is_err());
        assert!(validate_query("p", &SkRange::Prefix(String::new()), &PageRequest::first(1)).is_err());
        assert!(SkRange::Between("a".into(), "c".into()).matches("c"));
        assert!(!SkRange::Prefix("ab".into()).matches("a"));
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(StoreError::Unavailable { message: "x".into() }.is_retryable());
        assert!(StoreError::TransactionConflict.is_retryable());
        assert!(!StoreError::Conflict { key: ItemKey::new("a", "b") }.is_retryable());
        assert!(!StoreError::NotConfigured { message: "x".into() }.is_retryable());
        assert!(!StoreError::invalid("x").is_retryable());
    }
}
