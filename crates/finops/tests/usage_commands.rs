//! `finops ingest-logs`, `report investigations|live` and `investigation` as a
//! user runs them: the real binary on a fresh home, logs as Bedrock writes
//! them (`.json.gz` under `AWSLogs/…`), and bad input refused with nothing stored.

mod common;

use std::io::Write;
use std::path::Path;

use chrono::{Duration, DurationRound, TimeDelta, Utc};
use common::{finops, ok, refused};
use serde_json::Value;

const HAIKU: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";

fn record(at: chrono::DateTime<Utc>, principal: &str, input_tokens: u64) -> String {
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"{}","accountId":"111122223333","identity":{{"arn":"{principal}"}},"region":"us-east-1","requestId":"r","operation":"InvokeModel","modelId":"{HAIKU}","input":{{"inputTokenCount":{input_tokens}}},"output":{{"outputTokenCount":10}}}}"#,
        at.to_rfc3339()
    )
}

fn gz(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("folder")).expect("dirs");
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(path).expect("create"), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("write");
    e.finish().expect("finish");
}

fn json(out: std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("json")
}

#[test]
fn logs_ingest_detect_and_are_worked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("home");
    let logs = dir.path().join("logs/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1");
    // This hour an hour ago; the fourteen days before at the same hour, $10 each.
    let hour = (Utc::now() - Duration::hours(1)).duration_trunc(TimeDelta::hours(1)).expect("hour");
    let app = "arn:aws:sts::111122223333:assumed-role/app/worker";
    let history: Vec<String> = (1..=14).map(|d| record(hour - Duration::days(d) + Duration::minutes(5), app, 40_000_000)).collect();
    gz(&logs.join("history.json.gz"), &history.join("\n"));
    std::fs::write(logs.join("today.json"), [record(hour + Duration::minutes(7), app, 400_000_000), "{broken".into(), record(hour + Duration::minutes(9), "arn:aws:iam::111122223333:user/new-ci", 4_000_000)].join("\n")).expect("write");

    let out = json(finops(&home, &["--format", "json", "ingest-logs", dir.path().join("logs").to_str().expect("path")]));
    let objects = out["objects"].as_array().expect("objects");
    assert_eq!(objects.len(), 2);
    let today = objects.iter().find(|o| o["source"].as_str().is_some_and(|s| s.ends_with("today.json"))).expect("today");
    assert!(today["source"].as_str().expect("source").starts_with("AWSLogs/111122223333/"), "{today}");
    assert_eq!((today["records"].as_u64(), today["unreadable"].as_u64()), (Some(3), Some(1)));
    assert!(out["detection"]["opened"].as_array().is_some_and(|o| !o.is_empty()), "{out}");

    // Again: nothing changes, nothing new is raised.
    let again = json(finops(&home, &["--format", "json", "ingest-logs", dir.path().join("logs").to_str().expect("path")]));
    assert!(again["objects"].as_array().expect("objects").iter().all(|o| o["duplicate"] == true), "{again}");
    assert_eq!(again["detection"]["opened"].as_array().map(Vec::len), Some(0));

    let list = json(finops(&home, &["--format", "json", "report", "investigations"]));
    let spike = list.as_array().expect("list").iter().find(|i| i["kind"] == "hourly_spike").expect("a spike").clone();
    assert_eq!(spike["evidence"]["spend"], "101.000025", "404M input tokens at $0.00025 and 20 output at $0.00125 per 1K, in one hour of the account: {spike}");
    let mut kinds: Vec<&str> = list.as_array().expect("list").iter().filter_map(|i| i["kind"].as_str()).collect();
    kinds.sort();
    // One spike (the history's first days have no baseline to spike over),
    // a model surge ($101 against a $10 median), and the two principals
    // nothing claims.
    assert_eq!(kinds, ["hourly_spike", "model_surge", "new_principal", "new_principal"], "{list}");

    let live = json(finops(&home, &["--format", "json", "report", "live", "--hours", "3"]));
    assert_eq!(live["total"], "101.000025", "{live}");
    assert_eq!(live["lines"][0]["owner"], "unattributed:no_budget_allocation");
    let table = ok(finops(&home, &["report", "live"]));
    assert!(table.starts_with("OWNER") && table.contains("$101.00"), "{table}");

    let id = spike["id"].as_str().expect("id");
    refused(finops(&home, &["investigation", "close", id, "--rationale", " "]), 2, "rationale");
    let closed = json(finops(&home, &["--format", "json", "investigation", "close", id, "--rationale", "a batch job, announced"]));
    assert_eq!(closed["status"], "Closed");
    refused(finops(&home, &["investigation", "close", id, "--rationale", "again"]), 2, "Closed");
}

#[test]
fn unreadable_log_files_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("home");
    let good = dir.path().join("good.json");
    std::fs::write(&good, record(Utc::now() - Duration::hours(1), "arn:aws:iam::111122223333:user/ci", 1000)).expect("write");
    let fake = dir.path().join("fake.json.gz");
    std::fs::write(&fake, "not gzip at all").expect("write");
    refused(finops(&home, &["ingest-logs", good.to_str().expect("path"), fake.to_str().expect("path")]), 2, "fake.json.gz");
    refused(finops(&home, &["ingest-logs", dir.path().join("nope").to_str().expect("path")]), 2, "nope");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    refused(finops(&home, &["ingest-logs", empty.to_str().expect("path")]), 2, "no invocation log files");
    // The good file in the refused run stored nothing.
    let live = json(finops(&home, &["--format", "json", "report", "live"]));
    assert_eq!(live["lines"].as_array().map(Vec::len), Some(0), "{live}");

    // Files are read and staged a few at a time: a bad file after many good
    // ones leaves none of theirs behind, neither manifest nor usage object.
    let mut args: Vec<String> = vec!["ingest-logs".into()];
    for i in 0..24 {
        let f = dir.path().join(format!("good-{i:02}.json"));
        std::fs::write(&f, record(Utc::now() - Duration::hours(1 + i), "arn:aws:iam::111122223333:user/ci", 1000)).expect("write");
        args.push(f.to_str().expect("path").into());
    }
    args.push(fake.to_str().expect("path").into());
    refused(finops(&home, &args.iter().map(String::as_str).collect::<Vec<_>>()), 2, "fake.json.gz");
    let live = json(finops(&home, &["--format", "json", "report", "live"]));
    assert_eq!(live["lines"].as_array().map(Vec::len), Some(0), "{live}");
    assert_eq!(parquet_files(&home), Vec::<std::path::PathBuf>::new(), "every staged usage object was deleted");
}

fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

/// `gen-logs` replays a `gen-cur` month as Bedrock would have logged it (one
/// account's logging left off), and `report live-vs-billed` finds the logs'
/// estimate within 1 % of the bill, and names the silent account.
#[test]
fn generated_logs_reconcile_with_the_generated_bill_and_a_silent_account_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("home");
    let cur = dir.path().join("cur.parquet");
    let p = |p: &Path| p.to_str().expect("path").to_owned();
    ok(finops(&home, &["gen-cur", "--rows", "3000", "--ai-share", "0.4", "--seed", "8", "--period", "2026-03", "--out", &p(&cur)]));
    ok(finops(&home, &["import", &p(&dir.path().join("cur.import.json"))]));
    ok(finops(&home, &["ingest", &p(&cur)]));
    let logs = dir.path().join("logs");
    let said = ok(finops(&home, &["gen-logs", "--cur", &p(&cur), "--out", &p(&logs), "--skip-account", "444455556666"]));
    assert!(said.contains("invocation-log records"), "{said}");
    assert!(logs.join("AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1").is_dir());
    assert!(!logs.join("AWSLogs/444455556666").exists(), "the skipped account logs nothing");
    ok(finops(&home, &["ingest-logs", &p(&logs)]));

    let r = json(finops(&home, &["--format", "json", "report", "live-vs-billed", "--period", "2026-03"]));
    let dec = |v: &Value| v.as_str().expect("decimal string").parse::<f64>().expect("number");
    assert!(dec(&r["compared_billed"]) > 1000.0, "{r}");
    assert!(dec(&r["error_pct"]).abs() < 1.0, "{}", r["error_pct"]);
    let silent: Vec<&str> = r["accounts"].as_array().expect("accounts").iter().filter(|a| a["logs"] == false).filter_map(|a| a["account"].as_str()).collect();
    assert!(silent.contains(&"444455556666"), "{silent:?}");
    let table = ok(finops(&home, &["report", "live-vs-billed", "--period", "2026-03"]));
    assert!(table.contains("account 444455556666") && table.contains("no invocation log at all"), "{table}");
    // The week's card carries the check.
    let cards = json(finops(&home, &["--format", "json", "report", "cards", "--week", "2026-W11"]));
    let chat = cards.as_array().expect("cards").iter().find(|c| c["workload"] == "chat").expect("chat's card");
    assert!(dec(&chat["live"]["error_pct"]).abs() < 1.0, "{}", chat["live"]);
}

#[test]
fn gen_logs_and_the_reconciliation_refuse_bad_input_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("home");
    let out = dir.path().join("logs");
    let missing = dir.path().join("missing.parquet");
    refused(finops(&home, &["gen-logs", "--cur", missing.to_str().expect("path"), "--out", out.to_str().expect("path")]), 2, "missing.parquet");
    refused(finops(&home, &["gen-logs", "--cur", missing.to_str().expect("path"), "--out", out.to_str().expect("path"), "--skip-account", "12345"]), 2, "--skip-account");
    assert!(!out.exists(), "nothing written");
    refused(finops(&home, &["report", "live-vs-billed", "--period", "March"]), 2, "--period");
}
