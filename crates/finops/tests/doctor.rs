//! `finops doctor` as a user runs it: the real binary, its exit code and output.

use std::process::{Command, Output};

use serde_json::Value;

fn finops(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_finops"));
    cmd.args(args);
    for k in ["FINOPS_HOME", "FINOPS_STORE", "FINOPS_TABLE", "FINOPS_BUS", "FINOPS_EVENT_BUS", "FINOPS_LEDGER_BUCKET", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run finops")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The check named `name` of a JSON report: (ok, detail).
fn named(v: &Value, name: &str) -> (bool, String) {
    let c = v["checks"].as_array().and_then(|cs| cs.iter().find(|c| c["check"] == name)).unwrap_or_else(|| panic!("no {name:?} check in {v}"));
    (c["ok"] == true, c["detail"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn doctor_on_a_fresh_home_reports_the_embedded_mode() {
    let home = tempfile::tempdir().unwrap();
    let out = finops(&["--home", home.path().to_str().unwrap(), "--format", "json", "doctor"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert!(named(&v, "AWS identity").1.contains("embedded mode makes no AWS calls"));
    assert!(named(&v, "store adapter").1.contains("embedded (redb)"));
    assert_eq!(named(&v, "store opens").1, "opened and read");
    assert!(named(&v, "event bus").1.starts_with("local (in-process)"));
    let (ok, last) = named(&v, "last ingested period");
    assert!(ok && last.contains("nothing ingested"), "{last}");
    assert!(named(&v, "principal column").1.contains("not known"));
    assert!(home.path().join("finops.redb").exists());
}

/// A CUR 2.0 CSV of one Bedrock row for `period`, with or without the
/// principal column.
fn one_row_csv(period: &str, with_principal: bool) -> String {
    let (head, principal) = if with_principal { (",line_item_iam_principal", ",arn:aws:iam::111122223333:role/chat") } else { ("", "") };
    format!(
        "line_item_usage_type,line_item_unblended_cost,line_item_usage_start_date,line_item_usage_account_id,line_item_product_code{head}\n\
         USE1-Claude3.5Sonnet-input-tokens,1.25,{period}-02T00:00:00Z,111122223333,AmazonBedrock{principal}\n"
    )
}

#[test]
fn doctor_names_the_last_ingested_period_and_a_cur_without_the_principal_column() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let home_arg = home.to_str().unwrap();
    // This month, so the look-back always finds it.
    let period = chrono::Utc::now().format("%Y-%m").to_string();
    let with = dir.path().join("with.csv");
    std::fs::write(&with, one_row_csv(&period, true)).unwrap();
    let out = finops(&["--home", home_arg, "ingest", "--period", &period, with.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&finops(&["--home", home_arg, "--format", "json", "doctor"], &[]));
    let (ok, last) = named(&v, "last ingested period");
    assert!(ok && last.starts_with(&format!("{period}: 1 source(s)")), "{last}");
    assert!(named(&v, "principal column").0, "{v}");
    assert_eq!(v["ok"], true);

    // A second source without the column: the check fails, names it and the fix.
    let without = dir.path().join("without.csv");
    std::fs::write(&without, one_row_csv(&period, false)).unwrap();
    assert!(finops(&["--home", home_arg, "ingest", "--period", &period, without.to_str().unwrap()], &[]).status.success());
    let out = finops(&["--home", home_arg, "--format", "json", "doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let (ok, detail) = named(&json(&out), "principal column");
    assert!(!ok && detail.contains("1 of 2 source(s)") && detail.contains("without.csv") && detail.contains("caller identity"), "{detail}");
}

#[test]
fn doctor_reads_finops_home_and_prints_a_table() {
    let home = tempfile::tempdir().unwrap();
    let out = finops(&["doctor"], &[("FINOPS_HOME", home.path().to_str().unwrap())]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("CHECK"), "{text}");
    assert!(text.contains(&home.path().join("finops.redb").display().to_string()), "{text}");
}

#[test]
fn a_store_in_use_fails_the_check_with_exit_code_1() {
    let home = tempfile::tempdir().unwrap();
    let _held = store_embedded::EmbeddedStore::open_home(home.path()).unwrap();
    let out = finops(&["--home", home.path().to_str().unwrap(), "--format", "json", "doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(named(&v, "store opens").1.contains("in use by another finops process"), "{v}");
}

#[test]
fn a_store_another_finops_holds_is_a_configuration_error_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let _held = store_embedded::EmbeddedStore::open_home(home.path()).unwrap();
    let out = finops(&["--home", home.path().to_str().unwrap(), "report", "attribution", "--period", "2026-03"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("in use by another finops process"));
}

#[test]
fn bad_configuration_is_named_with_exit_code_2() {
    let out = finops(&["doctor"], &[("FINOPS_STORE", "postgres")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("FINOPS_STORE") && err.contains("postgres"), "{err}");
    let out = finops(&["doctor"], &[("FINOPS_STORE", "dynamodb")]);
    assert!(String::from_utf8(out.stderr).unwrap().contains("FINOPS_TABLE"));
    let out = finops(&["--format", "xml", "doctor"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("xml"));
}

fn aws_env<'a>(ddb: &'a str, moto: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", ddb),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto),
        ("AWS_ENDPOINT_URL_STS", moto),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

#[tokio::test]
async fn doctor_checks_a_dynamodb_table_and_eventbridge_bus_on_the_emulators() {
    use contract_tests::emulators::{dynamodb_client, moto_config, required_env, unique_name, DYNAMODB_ENV, MOTO_ENV};
    let (ddb, moto) = (required_env(DYNAMODB_ENV), required_env(MOTO_ENV));
    let table = unique_name("doctor");
    store_dynamodb::DynamoStore::new(dynamodb_client().await, &table).create_table().await.unwrap();
    let bus = unique_name("doctor");
    aws_sdk_eventbridge::Client::new(&moto_config().await).create_event_bus().name(&bus).send().await.unwrap();

    let mut env = aws_env(&ddb, &moto);
    env.extend([("FINOPS_STORE", "dynamodb"), ("FINOPS_TABLE", table.as_str()), ("FINOPS_BUS", "eventbridge"), ("FINOPS_EVENT_BUS", bus.as_str()), ("FINOPS_LEDGER_BUCKET", "ledger")]);
    let out = finops(&["--format", "json", "doctor"], &env);
    let v = json(&out);
    assert!(out.status.success(), "{v}");
    assert_eq!(named(&v, "store opens").1, "table ACTIVE, read ok");
    assert!(named(&v, "event bus").1.contains(&bus), "{v}");
    let who = named(&v, "AWS identity").1;
    assert!(who.contains("account 123456789012") && who.contains("us-east-1"), "moto's account and the configured region: {who}");
    assert!(named(&v, "last ingested period").1.contains("nothing ingested"), "{v}");

    // A table that does not exist is a failed check naming it.
    let mut env = aws_env(&ddb, &moto);
    env.extend([("FINOPS_STORE", "dynamodb"), ("FINOPS_TABLE", "no-such-table"), ("FINOPS_LEDGER_BUCKET", "ledger")]);
    let out = finops(&["--format", "json", "doctor"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(named(&json(&out), "store opens").1.contains("no-such-table not found"));

    // Without a region the identity check says what to set.
    let mut env: Vec<(&str, &str)> = aws_env(&ddb, &moto).into_iter().filter(|(k, _)| *k != "AWS_REGION").collect();
    env.extend([("FINOPS_STORE", "dynamodb"), ("FINOPS_TABLE", table.as_str()), ("FINOPS_LEDGER_BUCKET", "ledger"), ("AWS_CONFIG_FILE", "/nonexistent"), ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")]);
    let out = finops(&["--format", "json", "doctor"], &env);
    let (ok, detail) = named(&json(&out), "AWS identity");
    assert!(!ok && detail.contains("AWS_REGION"), "{detail}");
}
