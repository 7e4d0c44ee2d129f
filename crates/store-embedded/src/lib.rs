//! The `Store` port on [redb], for the local embedded mode and for tests.
//!
//! Why redb: it is an ordered key-value store with serialisable ACID transactions in
//! a single file, in pure Rust (no C toolchain, no server). Its ordered tables map
//! the port's (partition key, sort key) design directly: a tuple key
//! `(pk, sk)` sorts exactly as DynamoDB sorts a partition, so a query is one range
//! scan, and one write transaction gives the port's all-or-nothing semantics.
//! redb allows one writer at a time, which makes every condition check race-free.
//!
//! Layout: `items` maps `(pk, sk)` to the JSON of [`Stored`]; `gsi1` maps
//! `(index pk, index sk, pk, sk)` to nothing and is kept in the same transaction.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use services::ports::store::{
    validate_key, validate_query, validate_transaction, validate_write, Attributes, Condition, Cursor, IndexKey, Item,
    ItemData, ItemKey, Page, PageRequest, SkRange, Store, StoreError, WriteOp,
};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
const INDEX: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi1");

/// The file name of the store inside `FINOPS_HOME`.
pub const STORE_FILE: &str = "finops.redb";

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u64,
    index: Option<IndexKey>,
    attrs: Attributes,
}

/// Where a page stopped: enough to resume strictly after the last item returned.
#[derive(Serialize, Deserialize)]
struct Resume {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    isk: Option<String>,
}

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    location: Option<PathBuf>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable { message: format!("embedded store: {e}") }
}

fn corrupt(key: &ItemKey, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { key: key.clone(), reason: e.to_string() }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path`. Only one process may
    /// hold it open; a second gets `NotConfigured` saying so.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::NotConfigured {
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        owner_only(path).map_err(|e| StoreError::NotConfigured { message: format!("cannot create {} owner-only: {e}", path.display()) })?;
        let db = Database::create(path).map_err(|e| StoreError::NotConfigured {
            message: match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    format!("{} is in use by another finops process", path.display())
                }
                other => format!("cannot open {}: {other}", path.display()),
            },
        })?;
        Self::init(db, Some(path.to_owned()))
    }

    /// Opens `FINOPS_HOME/finops.redb`.
    pub fn open_home(home: &Path) -> Result<Self, StoreError> {
        Self::open(&home.join(STORE_FILE))
    }

    /// A store that lives only as long as this value: for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::NotConfigured { message: format!("in-memory store: {e}") })?;
        Self::init(db, None)
    }

    fn init(db: Database, location: Option<PathBuf>) -> Result<Self, StoreError> {
        // Create both tables up front so readers never meet a missing table.
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(ITEMS).map_err(unavailable)?;
        txn.open_table(INDEX).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(Self { db: Arc::new(db), location })
    }

    /// The file behind this store, or `None` in memory.
    pub fn location(&self) -> Option<&Path> {
        self.location.as_deref()
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db)).await.map_err(unavailable)?
    }
}

/// The store holds the whole governance record (requests, business cases,
/// claims, audit), so only its owner may read it, like the token secret: the
/// file is created 0600, and an older file is narrowed to 0600.
#[cfg(unix)]
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn owner_only(_: &Path) -> std::io::Result<()> {
    Ok(())
}

fn decode(key: &ItemKey, bytes: &[u8]) -> Result<Stored, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e))
}

fn to_item(key: ItemKey, stored: Stored) -> Item {
    Item { key, index: stored.index, attrs: stored.attrs, version: stored.version }
}

fn holds(condition: Condition, current: Option<&Stored>) -> bool {
    match (condition, current) {
        (Condition::MustNotExist, None) => true,
        (Condition::VersionEquals(v), Some(s)) => s.version == v,
        _ => false,
    }
}

/// Applies `ops` inside one write transaction: [`apply_each`] with one, so a
/// failing condition commits nothing.
fn apply(db: &Database, ops: &[WriteOp]) -> Result<(), StoreError> {
    apply_each(db, std::slice::from_ref(&ops))
}

/// Transactions in turn in one commit: each one's conditions are checked
/// (against what the ones before it wrote) before any of its writes, so a
/// failing one writes nothing, and the ones before it are committed.
fn apply_each(db: &Database, transactions: &[impl AsRef<[WriteOp]>]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let (mut failed, mut applied) = (None, 0usize);
    {
        let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut index = txn.open_table(INDEX).map_err(unavailable)?;
        'transactions: for ops in transactions {
            let ops = ops.as_ref();
            let mut currents = Vec::with_capacity(ops.len());
            for op in ops {
                let key = op.key();
                let current = match items.get((key.pk.as_str(), key.sk.as_str())).map_err(unavailable)? {
                    Some(v) => Some(decode(key, v.value())?),
                    None => None,
                };
                let condition = match op {
                    WriteOp::Put { condition, .. } | WriteOp::Check { condition, .. } => *condition,
                    WriteOp::Delete { version, .. } => Condition::VersionEquals(*version),
                };
                if !holds(condition, current.as_ref()) {
                    failed = Some(StoreError::Conflict { key: key.clone() });
                    break 'transactions;
                }
                currents.push(current);
            }
            for (op, current) in ops.iter().zip(currents) {
                write_op(&mut items, &mut index, op, current.as_ref())?;
            }
            applied += 1;
        }
    }
    match failed {
        // Nothing to keep: the write transaction is dropped, not committed.
        Some(e) if applied == 0 => Err(e),
        failed => {
            txn.commit().map_err(unavailable)?;
            failed.map_or(Ok(()), Err)
        }
    }
}

/// One operation whose condition held; `current` is the item it replaces.
fn write_op(items: &mut redb::Table<(&str, &str), &[u8]>, index: &mut redb::Table<(&str, &str, &str, &str), ()>, op: &WriteOp, current: Option<&Stored>) -> Result<(), StoreError> {
    let key = op.key();
    if let WriteOp::Check { .. } = op {
        return Ok(());
    }
    if let Some(old) = current.and_then(|c| c.index.as_ref()) {
        index.remove((old.pk.as_str(), old.sk.as_str(), key.pk.as_str(), key.sk.as_str())).map_err(unavailable)?;
    }
    match op {
        WriteOp::Put { item, condition } => {
            let stored = Stored { version: condition.next_version(), index: item.index.clone(), attrs: item.attrs.clone() };
            let bytes = serde_json::to_vec(&stored).map_err(|e| StoreError::invalid(e.to_string()))?;
            items.insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice()).map_err(unavailable)?;
            if let Some(ix) = &item.index {
                index.insert((ix.pk.as_str(), ix.sk.as_str(), key.pk.as_str(), key.sk.as_str()), ()).map_err(unavailable)?;
            }
        }
        WriteOp::Delete { .. } => {
            items.remove((key.pk.as_str(), key.sk.as_str())).map_err(unavailable)?;
        }
        WriteOp::Check { .. } => {}
    }
    Ok(())
}

fn parse_cursor(cursor: &Option<Cursor>) -> Result<Option<Resume>, StoreError> {
    cursor
        .as_ref()
        .map(|c| serde_json::from_str::<Resume>(&c.0).map_err(|_| StoreError::invalid("cursor was not issued by this store")))
        .transpose()
}

fn make_cursor(r: &Resume) -> Cursor {
    Cursor(serde_json::to_string(r).unwrap_or_default())
}

fn still_in_range(range: &SkRange, sk: &str) -> bool {
    match range {
        SkRange::All => true,
        SkRange::Prefix(p) => sk.starts_with(p.as_str()),
        SkRange::Between(_, hi) => sk <= hi.as_str(),
    }
}

fn range_start(range: &SkRange) -> &str {
    match range {
        SkRange::All => "",
        SkRange::Prefix(p) => p,
        SkRange::Between(lo, _) => lo,
    }
}

fn query_table(db: &Database, pk: &str, range: &SkRange, limit: usize, resume: Option<Resume>) -> Result<Page, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let items = txn.open_table(ITEMS).map_err(unavailable)?;
    if let Some(r) = &resume {
        if r.pk != pk || r.ipk.is_some() {
            return Err(StoreError::invalid("cursor belongs to another query"));
        }
    }
    let start = match &resume {
        Some(r) => Bound::Excluded((pk, r.sk.as_str())),
        None => Bound::Included((pk, range_start(range))),
    };
    let mut out = Vec::new();
    let mut more = false;
    for entry in items.range::<(&str, &str)>((start, Bound::Unbounded)).map_err(unavailable)? {
        let (k, v) = entry.map_err(unavailable)?;
        let (kpk, ksk) = k.value();
        if kpk != pk || !still_in_range(range, ksk) {
            break;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        let key = ItemKey::new(kpk, ksk);
        let stored = decode(&key, v.value())?;
        out.push(to_item(key, stored));
    }
    let next = match (more, out.last()) {
        (true, Some(last)) => Some(make_cursor(&Resume { pk: pk.to_owned(), sk: last.key.sk.clone(), ipk: None, isk: None })),
        _ => None,
    };
    Ok(Page { items: out, next })
}

fn query_gsi(db: &Database, ipk: &str, range: &SkRange, limit: usize, resume: Option<Resume>) -> Result<Page, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let index = txn.open_table(INDEX).map_err(unavailable)?;
    let items = txn.open_table(ITEMS).map_err(unavailable)?;
    let (rpk, rsk, risk);
    let start = match &resume {
        Some(Resume { pk, sk, ipk: Some(cipk), isk: Some(cisk) }) if cipk == ipk => {
            (rpk, rsk, risk) = (pk.as_str(), sk.as_str(), cisk.as_str());
            Bound::Excluded((ipk, risk, rpk, rsk))
        }
        Some(_) => return Err(StoreError::invalid("cursor belongs to another query")),
        None => Bound::Included((ipk, range_start(range), "", "")),
    };
    let mut out = Vec::new();
    let mut more = false;
    for entry in index.range::<(&str, &str, &str, &str)>((start, Bound::Unbounded)).map_err(unavailable)? {
        let (k, _) = entry.map_err(unavailable)?;
        let (kipk, kisk, kpk, ksk) = k.value();
        if kipk != ipk || !still_in_range(range, kisk) {
            break;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        let key = ItemKey::new(kpk, ksk);
        let bytes = items
            .get((kpk, ksk))
            .map_err(unavailable)?
            .ok_or_else(|| corrupt(&key, "index entry points at a missing item"))?;
        let stored = decode(&key, bytes.value())?;
        out.push(to_item(key, stored));
    }
    let next = match (more, out.last()) {
        (true, Some(last)) => {
            let ix = last.index.clone().unwrap_or_else(|| IndexKey::new(ipk, ""));
            Some(make_cursor(&Resume { pk: last.key.pk.clone(), sk: last.key.sk.clone(), ipk: Some(ix.pk), isk: Some(ix.sk) }))
        }
        _ => None,
    };
    Ok(Page { items: out, next })
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &ItemKey) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        let key = key.clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let items = txn.open_table(ITEMS).map_err(unavailable)?;
            let found = items.get((key.pk.as_str(), key.sk.as_str())).map_err(unavailable)?;
            match found {
                Some(v) => {
                    let stored = decode(&key, v.value())?;
                    Ok(Some(to_item(key, stored)))
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn put(&self, item: ItemData, condition: Condition) -> Result<u64, StoreError> {
        validate_write(&item, condition)?;
        let version = condition.next_version();
        self.blocking(move |db| apply(db, &[WriteOp::Put { item, condition }])).await?;
        Ok(version)
    }

    async fn query(&self, pk: &str, range: &SkRange, page: PageRequest) -> Result<Page, StoreError> {
        validate_query(pk, range, &page)?;
        let resume = parse_cursor(&page.cursor)?;
        let (pk, range, limit) = (pk.to_owned(), range.clone(), page.limit as usize);
        self.blocking(move |db| query_table(db, &pk, &range, limit, resume)).await
    }

    async fn query_index(&self, index_pk: &str, range: &SkRange, page: PageRequest) -> Result<Page, StoreError> {
        validate_query(index_pk, range, &page)?;
        let resume = parse_cursor(&page.cursor)?;
        let (ipk, range, limit) = (index_pk.to_owned(), range.clone(), page.limit as usize);
        self.blocking(move |db| query_gsi(db, &ipk, &range, limit, resume)).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        self.blocking(move |db| apply(db, &ops)).await
    }

    async fn transact_each(&self, transactions: Vec<Vec<WriteOp>>) -> Result<(), StoreError> {
        // Checked whole first, as separate calls would refuse a malformed one
        // before it; here before anything is written.
        for ops in &transactions {
            validate_transaction(ops)?;
        }
        self.blocking(move |db| apply_each(db, &transactions)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(pk: &str, sk: &str, n: i64) -> ItemData {
        let mut attrs = Attributes::new();
        attrs.insert("n".into(), json!(n));
        ItemData::new(ItemKey::new(pk, sk), attrs)
    }

    #[tokio::test]
    async fn a_file_store_keeps_its_items_across_reopen() {
        let dir = std::env::temp_dir().join(format!("finops-embedded-{}", uuid_like()));
        {
            let store = EmbeddedStore::open_home(&dir).unwrap();
            assert_eq!(store.location(), Some(dir.join(STORE_FILE).as_path()));
            store.put(data("p", "a", 1), Condition::MustNotExist).await.unwrap();
        }
        let reopened = EmbeddedStore::open_home(&dir).unwrap();
        let item = reopened.get(&ItemKey::new("p", "a")).await.unwrap().unwrap();
        assert_eq!(item.attrs["n"], json!(1));
        assert_eq!(item.version, 1);
        drop(reopened);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_store_file_is_owner_only_even_if_it_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("finops-embedded-{}", uuid_like()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        drop(EmbeddedStore::open_home(&dir).unwrap());
        let file = dir.join(STORE_FILE);
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(EmbeddedStore::open_home(&dir).unwrap());
        assert_eq!(mode(&file), 0o600, "an older 0644 file is narrowed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_second_open_of_the_same_file_is_refused_clearly() {
        let dir = std::env::temp_dir().join(format!("finops-embedded-{}", uuid_like()));
        let first = EmbeddedStore::open_home(&dir).unwrap();
        let Err(err) = EmbeddedStore::open_home(&dir) else { panic!("second open must fail") };
        assert!(matches!(&err, StoreError::NotConfigured { message } if message.contains("in use")), "{err}");
        drop(first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_item_is_reported_not_panicked() {
        let store = EmbeddedStore::in_memory().unwrap();
        store
            .blocking(|db| {
                let txn = db.begin_write().map_err(unavailable)?;
                txn.open_table(ITEMS).map_err(unavailable)?.insert(("p", "bad"), b"not json".as_slice()).map_err(unavailable)?;
                txn.commit().map_err(unavailable)
            })
            .await
            .unwrap();
        let err = store.get(&ItemKey::new("p", "bad")).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    fn uuid_like() -> String {
        format!("{}-{:?}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos())
    }
}
