//! The CLI pointed at a deployed stack (`FINOPS_STORE=dynamodb`, the table,
//! the bus and the ledger bucket, as the stack's outputs name them), here
//! DynamoDB Local and moto: import, ingest and every report work there and
//! give exactly what the embedded mode gives for the same month.

use std::path::Path;
use std::process::{Command, Output};

use contract_tests::emulators::{dynamodb_client, fresh_bucket, moto_config, required_env, unique_name, DYNAMODB_ENV, MOTO_ENV};
use serde_json::Value;

fn finops(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finops"));
    for k in ["FINOPS_HOME", "FINOPS_STORE", "FINOPS_TABLE", "FINOPS_BUS", "FINOPS_EVENT_BUS", "FINOPS_LEDGER_BUCKET"] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied()).arg("--home").arg(home).args(args).output().expect("finops runs")
}

fn ok(out: Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn reports_a_deployed_stacks_month_as_the_embedded_mode_does() {
    let (ddb, moto) = (required_env(DYNAMODB_ENV), required_env(MOTO_ENV));
    let table = unique_name("cli");
    store_dynamodb::DynamoStore::new(dynamodb_client().await, &table).create_table().await.expect("table");
    let bus = unique_name("cli");
    aws_sdk_eventbridge::Client::new(&moto_config().await).create_event_bus().name(&bus).send().await.expect("bus");
    let (s3, bucket) = fresh_bucket("cli-ledger").await;
    let stack: Vec<(&str, &str)> = vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", &ddb),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", &moto),
        ("AWS_ENDPOINT_URL_S3", &moto),
        ("FINOPS_S3_FORCE_PATH_STYLE", "1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("FINOPS_STORE", "dynamodb"),
        ("FINOPS_TABLE", &table),
        ("FINOPS_BUS", "eventbridge"),
        ("FINOPS_EVENT_BUS", &bus),
        ("FINOPS_LEDGER_BUCKET", &bucket),
    ];

    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("export/data/BILLING_PERIOD=2026-03");
    std::fs::create_dir_all(&data).expect("dirs");
    let file = data.join("part-0.parquet");
    let (f, fixture) = (file.to_str().expect("path"), data.join("part-0.import.json"));
    let local_home = dir.path().join("local");
    ok(finops(&local_home, &["--format", "json", "gen-cur", "--rows", "30000", "--ai-share", "0.3", "--seed", "3", "--period", "2026-03", "--out", f], &[]).pipe_text());
    // The same month into both worlds; the stack's run must not touch the home.
    let stack_home = dir.path().join("unused-home");
    for (home, env) in [(&local_home, &[][..]), (&stack_home, &stack[..])] {
        finops(home, &["import", fixture.to_str().expect("path")], env).assert_ok();
        let ingested = ok(finops(home, &["--format", "json", "ingest", f], env));
        assert_eq!(ingested[0]["stored"], "new");
    }
    assert!(!stack_home.join("finops.redb").exists(), "the stack's run used the stack, not a local store");
    let listed = s3.list_objects_v2().bucket(&bucket).prefix("facts/period=2026-03/").send().await.expect("list");
    assert_eq!(listed.contents().len(), 1, "one fact object in the stack's ledger bucket");

    for report in [&["report", "attribution", "--period", "2026-03"][..], &["report", "reconcile", "--period", "2026-03"], &["report", "attribution", "--period", "2026-03", "--view", "hierarchy"], &["report", "attribution", "--period", "2026-03", "--view", "legacy"]] {
        let args: Vec<&str> = ["--format", "json"].iter().chain(report).copied().collect();
        let (local, deployed) = (ok(finops(&local_home, &args, &[])), ok(finops(&stack_home, &args, &stack)));
        assert_eq!(local, deployed, "{report:?}");
    }
    // A stack configuration without its ledger bucket is refused by name.
    let partial: Vec<(&str, &str)> = stack.iter().copied().filter(|(k, _)| *k != "FINOPS_LEDGER_BUCKET").collect();
    let out = finops(&stack_home, &["report", "attribution", "--period", "2026-03"], &partial);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FINOPS_LEDGER_BUCKET"));
}

trait Checked {
    fn assert_ok(self);
    fn pipe_text(self) -> Output;
}

impl Checked for Output {
    fn assert_ok(self) {
        assert!(self.status.success(), "{}", String::from_utf8_lossy(&self.stderr));
    }
    /// gen-cur prints text, not JSON: turn it into a JSON string for `ok`.
    fn pipe_text(mut self) -> Output {
        let text = String::from_utf8_lossy(&self.stdout).into_owned();
        self.stdout = serde_json::to_vec(&text).expect("json");
        self
    }
}
