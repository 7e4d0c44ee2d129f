//! What every `Store` adapter must do. Each case gets a fresh, empty store.

use std::sync::Arc;

use futures::future::join_all;
use futures::stream::{self, StreamExt};
use serde_json::json;
use services::ports::store::{
    Attributes, Condition, Cursor, IndexKey, Item, ItemData, ItemKey, PageRequest, SkRange, Store, StoreError, WriteOp,
};

fn attrs(v: serde_json::Value) -> Attributes {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Attributes::new(),
    }
}

fn data(pk: &str, sk: &str, v: serde_json::Value) -> ItemData {
    ItemData::new(ItemKey::new(pk, sk), attrs(v))
}

fn create(item: ItemData) -> WriteOp {
    WriteOp::Put { item, condition: Condition::MustNotExist }
}

async fn must_get(store: &dyn Store, pk: &str, sk: &str) -> Item {
    match store.get(&ItemKey::new(pk, sk)).await {
        Ok(Some(i)) => i,
        other => panic!("expected item ({pk}, {sk}), got {other:?}"),
    }
}

async fn assert_absent(store: &dyn Store, pk: &str, sk: &str) {
    let got = store.get(&ItemKey::new(pk, sk)).await.expect("get");
    assert!(got.is_none(), "({pk}, {sk}) must not exist, found {got:?}");
}

/// Writes many items quickly: transactions of 25, eight in flight.
async fn bulk_create(store: &dyn Store, items: Vec<ItemData>) {
    let batches: Vec<Vec<WriteOp>> = items.chunks(25).map(|c| c.iter().cloned().map(create).collect()).collect();
    let results: Vec<Result<(), StoreError>> =
        stream::iter(batches).map(|ops| store.transact(ops)).buffer_unordered(8).collect().await;
    for r in results {
        r.expect("bulk write");
    }
}

/// Reads every page of a query, checking each page's promises as it goes.
async fn all_pages(store: &dyn Store, pk: &str, range: &SkRange, limit: u32, index: bool) -> Vec<Vec<Item>> {
    let mut pages = Vec::new();
    let mut req = PageRequest::first(limit);
    loop {
        let page = if index {
            store.query_index(pk, range, req.clone()).await
        } else {
            store.query(pk, range, req.clone()).await
        }
        .expect("query page");
        assert!(page.items.len() <= limit as usize, "a page holds at most the limit");
        let next = page.next.clone();
        pages.push(page.items);
        match next {
            Some(c) => req.cursor = Some(c),
            None => return pages,
        }
        assert!(pages.len() < 10_000, "paging does not terminate");
    }
}

fn keys(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.key.sk.clone()).collect()
}

pub async fn get_of_a_missing_item_is_none(store: Arc<dyn Store>) {
    assert_absent(store.as_ref(), "nothing", "here").await;
}

pub async fn put_then_get_round_trips_attributes_and_version(store: Arc<dyn Store>) {
    let value = json!({
        "name": "chat-backend", "cost": "12.3400000001", "count": 42, "neg": -7, "big": 9_007_199_254_740_993u64,
        "flag": true, "none": null, "empty": "", "list": [1, "two", {"three": [3]}],
        "nested": {"a": {"b": {"c": "deep"}}}, "unicode": "Zürich — 東京",
    });
    let v = store
        .put(data("wl#1", "meta", value.clone()).with_index(IndexKey::new("owner#alice", "wl#1")), Condition::MustNotExist)
        .await
        .expect("put");
    assert_eq!(v, 1);
    let got = must_get(store.as_ref(), "wl#1", "meta").await;
    assert_eq!(serde_json::Value::Object(got.attrs), value);
    assert_eq!(got.version, 1);
    assert_eq!(got.index, Some(IndexKey::new("owner#alice", "wl#1")));
}

pub async fn a_failed_condition_writes_nothing(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.put(data("p", "x", json!({"v": "original"})), Condition::MustNotExist).await.expect("first put");

    let err = s.put(data("p", "x", json!({"v": "clobbered"})), Condition::MustNotExist).await.unwrap_err();
    assert_eq!(err, StoreError::Conflict { key: ItemKey::new("p", "x") });
    let err = s.put(data("p", "x", json!({"v": "stale"})), Condition::VersionEquals(7)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(!err.is_retryable());
    let kept = must_get(s, "p", "x").await;
    assert_eq!(kept.attrs["v"], json!("original"));
    assert_eq!(kept.version, 1);

    let err = s.put(data("p", "missing", json!({})), Condition::VersionEquals(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_absent(s, "p", "missing").await;
}

pub async fn versions_go_up_by_one_per_write(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert_eq!(s.put(data("p", "x", json!({"n": 1})), Condition::MustNotExist).await.unwrap(), 1);
    assert_eq!(s.put(data("p", "x", json!({"n": 2})), Condition::VersionEquals(1)).await.unwrap(), 2);
    assert_eq!(s.put(data("p", "x", json!({"n": 3})), Condition::VersionEquals(2)).await.unwrap(), 3);
    let got = must_get(s, "p", "x").await;
    assert_eq!((got.version, got.attrs["n"].clone()), (3, json!(3)));
    // A put replaces the whole item: attributes not written again are gone.
    s.put(data("p", "y", json!({"a": 1, "b": 2})), Condition::MustNotExist).await.unwrap();
    s.put(data("p", "y", json!({"a": 9})), Condition::VersionEquals(1)).await.unwrap();
    assert_eq!(serde_json::Value::Object(must_get(s, "p", "y").await.attrs), json!({"a": 9}));
}

pub async fn a_transaction_with_one_failing_condition_writes_nothing(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.put(data("acct", "existing", json!({"v": 1})), Condition::MustNotExist).await.unwrap();
    s.put(data("acct", "victim", json!({"v": 1})), Condition::MustNotExist).await.unwrap();

    // The third operation's condition fails; the others must not be applied.
    let ops = vec![
        create(data("acct", "new-a", json!({}))),
        WriteOp::Put { item: data("acct", "victim", json!({"v": 2})), condition: Condition::VersionEquals(1) },
        create(data("acct", "existing", json!({"v": "clobbered"}))),
        create(data("other", "new-b", json!({}))),
    ];
    let err = s.transact(ops).await.unwrap_err();
    assert_eq!(err, StoreError::Conflict { key: ItemKey::new("acct", "existing") });
    assert_absent(s, "acct", "new-a").await;
    assert_absent(s, "other", "new-b").await;
    assert_eq!(must_get(s, "acct", "victim").await.version, 1);
    assert_eq!(must_get(s, "acct", "existing").await.attrs["v"], json!(1));

    // A failing check or a stale delete cancels the transaction the same way.
    for failing in [
        WriteOp::Check { key: ItemKey::new("acct", "victim"), condition: Condition::VersionEquals(5) },
        WriteOp::Check { key: ItemKey::new("acct", "victim"), condition: Condition::MustNotExist },
        WriteOp::Delete { key: ItemKey::new("acct", "existing"), version: 9 },
    ] {
        let failing_key = failing.key().clone();
        let err = s.transact(vec![create(data("acct", "new-c", json!({}))), failing]).await.unwrap_err();
        assert_eq!(err, StoreError::Conflict { key: failing_key });
        assert_absent(s, "acct", "new-c").await;
    }
    assert_eq!(must_get(s, "acct", "existing").await.version, 1);
}

/// `transact_each`: the transactions before a failing one are applied, it
/// and the ones after are not, whether the adapter commits them one by one
/// or together; and a later transaction sees what an earlier one wrote.
pub async fn transactions_in_turn_stop_at_the_first_that_fails(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.put(data("each", "taken", json!({"v": 1})), Condition::MustNotExist).await.unwrap();
    let err = s
        .transact_each(vec![
            vec![create(data("each", "a", json!({}))), create(data("each", "b", json!({})))],
            vec![WriteOp::Put { item: data("each", "a", json!({"v": 2})), condition: Condition::VersionEquals(1) }],
            vec![create(data("each", "c", json!({}))), create(data("each", "taken", json!({"v": "clobbered"})))],
            vec![create(data("each", "d", json!({})))],
        ])
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Conflict { key: ItemKey::new("each", "taken") });
    assert_eq!(must_get(s, "each", "a").await.version, 2, "the second transaction saw the first's write");
    assert_eq!(must_get(s, "each", "b").await.version, 1);
    assert_absent(s, "each", "c").await;
    assert_absent(s, "each", "d").await;
    assert_eq!(must_get(s, "each", "taken").await.attrs["v"], json!(1));
    s.transact_each(vec![vec![create(data("each", "d", json!({})))], vec![]]).await.unwrap_err();
    assert_absent(s, "each", "d").await;
    s.transact_each(Vec::new()).await.unwrap();
}

pub async fn a_transaction_applies_puts_deletes_and_checks_together(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.put(data("t", "old", json!({})).with_index(IndexKey::new("ix", "old")), Condition::MustNotExist).await.unwrap();
    s.put(data("t", "guard", json!({})), Condition::MustNotExist).await.unwrap();
    s.put(data("t", "upd", json!({"n": 1})), Condition::MustNotExist).await.unwrap();
    s.transact(vec![
        create(data("t", "new", json!({"n": 1})).with_index(IndexKey::new("ix", "new"))),
        WriteOp::Put { item: data("t", "upd", json!({"n": 2})), condition: Condition::VersionEquals(1) },
        WriteOp::Delete { key: ItemKey::new("t", "old"), version: 1 },
        WriteOp::Check { key: ItemKey::new("t", "guard"), condition: Condition::VersionEquals(1) },
    ])
    .await
    .expect("transaction");
    assert_absent(s, "t", "old").await;
    assert_eq!(must_get(s, "t", "new").await.version, 1);
    let upd = must_get(s, "t", "upd").await;
    assert_eq!((upd.version, upd.attrs["n"].clone()), (2, json!(2)));
    assert_eq!(must_get(s, "t", "guard").await.version, 1, "a check writes nothing");
    let in_index = all_pages(s, "ix", &SkRange::All, 10, true).await.concat();
    assert_eq!(keys(&in_index), ["new"], "a deleted item leaves the index");
}

pub async fn queries_page_past_1000_items(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let items: Vec<ItemData> = (0..1001).map(|i| data("big", &format!("item#{i:05}"), json!({"i": i}))).collect();
    bulk_create(s, items).await;
    s.put(data("big-neighbour", "item#00000", json!({})), Condition::MustNotExist).await.unwrap();
    let pages = all_pages(s, "big", &SkRange::All, 1000, false).await;
    let non_empty: Vec<usize> = pages.iter().map(Vec::len).filter(|n| *n > 0).collect();
    assert_eq!(non_empty, [1000, 1], "1001 items at 1000 a page");
    let expected: Vec<String> = (0..1001).map(|i| format!("item#{i:05}")).collect();
    assert_eq!(keys(&pages.concat()), expected, "every item once, in sort-key order");
    assert_eq!(s.query_all("big", &SkRange::All).await.unwrap().len(), 1001);
}

pub async fn queries_page_past_the_1mb_page(store: Arc<dyn Store>) {
    let s = store.as_ref();
    // 1,100 items of about 1.5 KB: 1.6 MB, more than DynamoDB returns in one page.
    let pad = "x".repeat(1500);
    let items: Vec<ItemData> =
        (0..1100).map(|i| data("heavy", &format!("k{i:05}"), json!({"i": i, "pad": pad}))).collect();
    bulk_create(s, items).await;
    let pages = all_pages(s, "heavy", &SkRange::All, 1000, false).await;
    assert!(pages.len() >= 2, "1.6 MB does not fit one page");
    let all = pages.concat();
    let expected: Vec<String> = (0..1100).map(|i| format!("k{i:05}")).collect();
    assert_eq!(keys(&all), expected);
    assert!(all.iter().enumerate().all(|(i, it)| it.attrs["i"] == json!(i) && it.attrs["pad"] == json!(pad)));
}

pub async fn sort_key_prefix_and_range_queries(store: Arc<dyn Store>) {
    let s = store.as_ref();
    for sk in ["a#1", "a#2", "b#1", "b#2", "b#3", "c"] {
        s.put(data("q", sk, json!({})), Condition::MustNotExist).await.unwrap();
    }
    // A partition whose key extends "q" must never leak into queries of "q".
    s.put(data("q2", "b#1", json!({})), Condition::MustNotExist).await.unwrap();
    let q = |range: SkRange, limit: u32| async move { keys(&all_pages(s, "q", &range, limit, false).await.concat()) };
    assert_eq!(q(SkRange::All, 1000).await, ["a#1", "a#2", "b#1", "b#2", "b#3", "c"]);
    assert_eq!(q(SkRange::Prefix("b#".into()), 1000).await, ["b#1", "b#2", "b#3"]);
    assert_eq!(q(SkRange::Prefix("b#".into()), 2).await, ["b#1", "b#2", "b#3"], "prefix queries page too");
    assert_eq!(q(SkRange::Between("a#2".into(), "b#2".into()), 1000).await, ["a#2", "b#1", "b#2"]);
    assert_eq!(q(SkRange::Between("a#2".into(), "b#2".into()), 1).await, ["a#2", "b#1", "b#2"]);
    assert_eq!(q(SkRange::Prefix("z".into()), 10).await, Vec::<String>::new());
    let none = s.query("nobody", &SkRange::All, PageRequest::first(10)).await.unwrap();
    assert!(none.items.is_empty() && none.next.is_none());
}

pub async fn the_secondary_index_lists_follows_and_forgets_items(store: Arc<dyn Store>) {
    let s = store.as_ref();
    for (pk, isk) in [("w#3", "2026-01-03"), ("w#1", "2026-01-01"), ("w#2", "2026-01-02"), ("w#4", "2026-02-01")] {
        s.put(data(pk, "meta", json!({"pk": pk})).with_index(IndexKey::new("owner#alice", isk)), Condition::MustNotExist)
            .await
            .unwrap();
    }
    s.put(data("w#9", "meta", json!({})).with_index(IndexKey::new("owner#bob", "2026-01-01")), Condition::MustNotExist)
        .await
        .unwrap();
    s.put(data("w#0", "meta", json!({})), Condition::MustNotExist).await.unwrap();

    let pks = |items: Vec<Item>| items.into_iter().map(|i| i.key.pk).collect::<Vec<_>>();
    let alice = all_pages(s, "owner#alice", &SkRange::All, 2, true).await;
    assert_eq!(pks(alice.concat()), ["w#1", "w#2", "w#3", "w#4"], "index sort-key order, paged by 2");
    let jan = all_pages(s, "owner#alice", &SkRange::Prefix("2026-01".into()), 1000, true).await;
    assert_eq!(pks(jan.concat()), ["w#1", "w#2", "w#3"]);
    let range = all_pages(s, "owner#alice", &SkRange::Between("2026-01-02".into(), "2026-01-31".into()), 1000, true).await;
    assert_eq!(pks(range.concat()), ["w#2", "w#3"]);

    // Moving an item to another index partition removes it from the old one.
    s.put(data("w#2", "meta", json!({})).with_index(IndexKey::new("owner#bob", "2026-01-02")), Condition::VersionEquals(1))
        .await
        .unwrap();
    // Writing an item without an index key takes it out of the index.
    s.put(data("w#3", "meta", json!({})), Condition::VersionEquals(1)).await.unwrap();
    assert_eq!(pks(all_pages(s, "owner#alice", &SkRange::All, 1000, true).await.concat()), ["w#1", "w#4"]);
    assert_eq!(pks(all_pages(s, "owner#bob", &SkRange::All, 1000, true).await.concat()), ["w#9", "w#2"]);
}

pub async fn thirty_two_concurrent_creates_exactly_one_wins(store: Arc<dyn Store>) {
    let attempts = (0..32).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store.put(data("race", "approval", json!({"writer": i})), Condition::MustNotExist).await
        })
    });
    let results: Vec<Result<u64, StoreError>> = join_all(attempts).await.into_iter().map(|r| r.expect("task")).collect();
    let winners = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::Conflict { .. }))).count();
    assert_eq!((winners, conflicts), (1, 31), "{results:?}");
    let winner = results.iter().position(|r| r.is_ok()).expect("a winner");
    assert_eq!(must_get(store.as_ref(), "race", "approval").await.attrs["writer"], json!(winner));
}

pub async fn thirty_two_concurrent_updates_exactly_one_wins(store: Arc<dyn Store>) {
    store.put(data("race", "counter", json!({"writer": -1})), Condition::MustNotExist).await.unwrap();
    let attempts = (0..32).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store.put(data("race", "counter", json!({"writer": i})), Condition::VersionEquals(1)).await
        })
    });
    let results: Vec<Result<u64, StoreError>> = join_all(attempts).await.into_iter().map(|r| r.expect("task")).collect();
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(2) | Err(StoreError::Conflict { .. }))), "{results:?}");
    let got = must_get(store.as_ref(), "race", "counter").await;
    assert_eq!((got.version, got.attrs["writer"].clone()), (2, json!(winners[0])));
}

pub async fn concurrent_transactions_on_one_item_commit_once(store: Arc<dyn Store>) {
    let attempts = (0..32).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .transact(vec![
                    create(data("req#1", "approval", json!({"by": i}))),
                    create(data("req#1", format!("task#{i:02}").as_str(), json!({}))),
                ])
                .await
        })
    });
    let results: Vec<Result<(), StoreError>> = join_all(attempts).await.into_iter().map(|r| r.expect("task")).collect();
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict { .. }) | Err(StoreError::TransactionConflict))),
        "{results:?}"
    );
    let tasks = store.query_all("req#1", &SkRange::Prefix("task#".into())).await.unwrap();
    assert_eq!(keys(&tasks), [format!("task#{:02}", winners[0])], "only the winner's task set exists");
}

pub async fn malformed_requests_are_refused_and_write_nothing(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.put(data("m", "keep", json!({"v": 1})), Condition::MustNotExist).await.unwrap();
    let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid { .. }));

    assert!(invalid(s.put(data("", "x", json!({})), Condition::MustNotExist).await.map(|_| ())));
    assert!(invalid(s.put(data("m", "", json!({})), Condition::MustNotExist).await.map(|_| ())));
    assert!(invalid(s.get(&ItemKey::new("", "")).await.map(|_| ())));
    let huge = data("m", "huge", json!({"blob": "x".repeat(420 * 1024)}));
    assert!(invalid(s.put(huge, Condition::MustNotExist).await.map(|_| ())));

    let too_many: Vec<WriteOp> = (0..26).map(|i| create(data("m", &format!("n{i}"), json!({})))).collect();
    assert!(invalid(s.transact(too_many).await));
    let twice = vec![
        create(data("m", "dup", json!({}))),
        WriteOp::Put { item: data("m", "keep", json!({"v": 2})), condition: Condition::VersionEquals(1) },
        WriteOp::Check { key: ItemKey::new("m", "dup"), condition: Condition::MustNotExist },
    ];
    assert!(invalid(s.transact(twice).await));
    assert!(invalid(s.transact(vec![]).await));

    assert!(invalid(s.query("m", &SkRange::All, PageRequest::first(0)).await.map(|_| ())));
    assert!(invalid(s.query("m", &SkRange::All, PageRequest::first(1001)).await.map(|_| ())));
    let foreign = PageRequest { limit: 10, cursor: Some(Cursor("not a cursor".into())) };
    assert!(invalid(s.query("m", &SkRange::All, foreign).await.map(|_| ())));
    // A real cursor from another partition is refused too.
    for i in 0..3 {
        s.put(data("other", &format!("k{i}"), json!({})), Condition::MustNotExist).await.unwrap();
    }
    let page = s.query("other", &SkRange::All, PageRequest::first(1)).await.unwrap();
    let stolen = PageRequest { limit: 10, cursor: page.next };
    assert!(invalid(s.query("m", &SkRange::All, stolen).await.map(|_| ())));

    let all = s.query_all("m", &SkRange::All).await.unwrap();
    assert_eq!(keys(&all), ["keep"], "nothing was written by any refused request");
    assert_eq!(all[0].version, 1);
}
