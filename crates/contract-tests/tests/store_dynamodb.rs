//! The store contract against the DynamoDB adapter on AWS's DynamoDB Local.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use contract_tests::emulators::{required_env, sdk_config, unique_name, DYNAMODB_DIR_ENV};
use serde_json::json;
use services::ports::store::{Condition, ItemData, ItemKey, Store, StoreError};
use store_dynamodb::DynamoStore;

async fn fresh_table() -> Arc<DynamoStore> {
    let store = DynamoStore::new(contract_tests::emulators::dynamodb_client().await, unique_name("ct"));
    store.create_table().await.expect("create table on DynamoDB Local");
    Arc::new(store)
}

mod dynamodb_local {
    contract_tests::store_contract_tests!(super::fresh_table());
}

/// DynamoDB cuts a page at 1 MB whatever the limit; the adapter must hand back a
/// cursor there, and resuming from it must continue exactly where the page stopped.
#[tokio::test]
async fn dynamodb_local_cuts_pages_at_1mb_and_the_cursor_resumes() {
    use services::ports::store::{PageRequest, SkRange};
    let store = fresh_table().await;
    let pad = "x".repeat(1500);
    for chunk in (0..800).collect::<Vec<_>>().chunks(25) {
        let ops = chunk
            .iter()
            .map(|i| services::ports::store::WriteOp::Put {
                item: ItemData::new(ItemKey::new("heavy", format!("k{i:04}")), json!({"pad": pad}).as_object().cloned().unwrap_or_default()),
                condition: Condition::MustNotExist,
            })
            .collect();
        store.transact(ops).await.expect("write");
    }
    let first = store.query("heavy", &SkRange::All, PageRequest::first(1000)).await.expect("page 1");
    assert!(first.items.len() < 800, "1.2 MB cannot come back in one page: got {}", first.items.len());
    let cursor = first.next.clone().expect("a cursor at the 1 MB cut");
    let second = store.query("heavy", &SkRange::All, PageRequest { limit: 1000, cursor: Some(cursor) }).await.expect("page 2");
    let last_of_first = first.items.last().map(|i| i.key.sk.clone()).unwrap_or_default();
    let first_of_second = second.items.first().map(|i| i.key.sk.clone()).unwrap_or_default();
    assert_eq!(first.items.len() + second.items.len(), 800);
    assert!(last_of_first < first_of_second);
}

/// A DynamoDB Local of this test's own, so stopping it disturbs no other test.
struct OwnDynamoDbLocal(Child);

impl OwnDynamoDbLocal {
    fn start(port: u16) -> Self {
        let dir = required_env(DYNAMODB_DIR_ENV);
        let child = Command::new("java")
            .arg(format!("-Djava.library.path={dir}/DynamoDBLocal_lib"))
            .args(["-jar", &format!("{dir}/DynamoDBLocal.jar"), "-inMemory", "-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start DynamoDB Local");
        Self(child)
    }
}

impl Drop for OwnDynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

#[tokio::test]
async fn stopping_dynamodb_local_mid_test_gives_a_typed_retryable_error() {
    let port = free_port();
    let mut server = OwnDynamoDbLocal::start(port);
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&format!("http://127.0.0.1:{port}")).await);
    let store = DynamoStore::new(client, "killed");
    // Wait for the JVM to listen: poll with a deadline, not a fixed sleep.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match store.create_table().await {
            Ok(()) => break,
            Err(e) if e.is_retryable() && Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("DynamoDB Local did not come up: {e}"),
        }
    }
    let key = ItemKey::new("p", "s");
    store.put(ItemData::new(key.clone(), json!({"v": 1}).as_object().cloned().unwrap_or_default()), Condition::MustNotExist)
        .await
        .expect("put while up");

    server.0.kill().expect("stop DynamoDB Local");
    server.0.wait().expect("reap DynamoDB Local");

    let err = store.get(&key).await.expect_err("the server is gone");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
    let err = store
        .put(ItemData::new(ItemKey::new("p", "t"), Default::default()), Condition::MustNotExist)
        .await
        .expect_err("the server is gone");
    assert!(matches!(err, StoreError::Unavailable { .. }) && err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_missing_table_is_a_configuration_error() {
    let store = DynamoStore::new(contract_tests::emulators::dynamodb_client().await, unique_name("absent"));
    let err = store.get(&ItemKey::new("p", "s")).await.unwrap_err();
    assert!(matches!(&err, StoreError::NotConfigured { message } if message.contains("not found")), "{err}");
    assert!(!err.is_retryable());
}
