//! `finops doctor` as a user runs it: the real binary, its exit code and output.

use std::process::{Command, Output};

use serde_json::Value;

fn finops(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_finops"));
    cmd.args(args);
    for k in ["FINOPS_HOME", "FINOPS_STORE", "FINOPS_TABLE", "FINOPS_BUS", "FINOPS_EVENT_BUS", "FINOPS_LEDGER_BUCKET"] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run finops")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn doctor_on_a_fresh_home_reports_the_embedded_mode() {
    let home = tempfile::tempdir().unwrap();
    let out = finops(&["--home", home.path().to_str().unwrap(), "--format", "json", "doctor"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks[0]["check"], "store adapter");
    assert!(checks[0]["detail"].as_str().unwrap().contains("embedded (redb)"));
    assert_eq!(checks[1]["detail"], "opened and read");
    assert!(checks[2]["detail"].as_str().unwrap().starts_with("local (in-process)"));
    assert!(home.path().join("finops.redb").exists());
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
    assert!(v["checks"][1]["detail"].as_str().unwrap().contains("in use by another finops process"), "{v}");
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
    assert_eq!(v["checks"][1]["detail"], "table ACTIVE, read ok");
    assert!(v["checks"][2]["detail"].as_str().unwrap().contains(&bus), "{v}");

    // A table that does not exist is a failed check naming it.
    let mut env = aws_env(&ddb, &moto);
    env.extend([("FINOPS_STORE", "dynamodb"), ("FINOPS_TABLE", "no-such-table"), ("FINOPS_LEDGER_BUCKET", "ledger")]);
    let out = finops(&["--format", "json", "doctor"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["checks"][1]["detail"].as_str().unwrap().contains("no-such-table not found"));
}
