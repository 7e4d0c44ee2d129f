//! The local mode as a user runs it: `finops demo`, and `finops token` with
//! `finops serve` over a real loopback socket.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

fn finops() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finops"));
    for k in ["FINOPS_HOME", "FINOPS_STORE", "FINOPS_TABLE", "FINOPS_BUS", "FINOPS_EVENT_BUS"] {
        c.env_remove(k);
    }
    c
}

#[test]
fn the_demo_takes_three_workloads_to_live_over_http() {
    let home = tempfile::tempdir().unwrap();
    let out = finops().args(["--home", home.path().to_str().unwrap(), "--format", "json", "demo"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["api"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    let workloads = v["workloads"].as_array().unwrap();
    assert_eq!(workloads.len(), 3);
    let platforms: Vec<&str> = workloads.iter().map(|w| w["approval"]["scope"]["platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["bedrock", "bedrock", "claude_platform"]);
    for w in workloads {
        assert_eq!(w["workload"]["status"], "Live", "{}", w["workload"]);
        assert!(w["workload"]["handoff"]["role_arns"][0].as_str().unwrap().contains(":role/finops-"));
        let tasks = w["tasks"].as_array().unwrap();
        assert!(!tasks.is_empty() && tasks.iter().all(|t| t["status"] == "Implemented"));
        let actions: Vec<&str> = w["audit"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
        for expected in ["create", "submit", "approve", "generate_tasks", "ready_to_claim", "claim"] {
            assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
        }
    }
    // MAP adds a tagged inference-profile task; Claude Platform is a chain of three.
    assert_eq!(workloads[1]["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(workloads[2]["tasks"].as_array().unwrap().len(), 3);
    // It ends with attribution, gaps, this week's cards and maturity on its generated month.
    let a = &v["analytics"];
    let dec = |x: &Value| x.as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
    let r = &a["attribution"];
    assert_eq!(dec(&r["attributed"]) + dec(&r["unattributed"]) + dec(&r["adjustments"]), dec(&r["ai_total"]));
    assert!(a["gaps"]["open"].as_u64().unwrap() >= 7, "{}", a["gaps"]);
    let cards = a["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 4);
    assert!(cards.iter().all(|c| c["week"] == a["week"]));
    assert_eq!(cards.iter().filter(|c| c["status"] == "Accepted").count(), 1, "the Product Owner accepted one card over the API");
    assert_eq!(a["maturity"]["dimensions"].as_array().unwrap().len(), 4);
    // Without --keep the demo leaves the home untouched.
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}

#[test]
fn a_token_opens_the_local_server_and_a_forged_one_does_not() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    let token = finops().args(["--home", h, "token", "--user", "pat@example.com", "--persona", "product-owner", "--scope", "assist"]).output().unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let bad = finops().args(["--home", h, "token", "--user", "pat", "--persona", "admin"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("persona"));

    let mut server = finops().args(["--home", h, "serve", "--addr", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ok, forged, none) = rt.block_on(async {
        let c = reqwest::Client::new();
        let ok = c.get(format!("{base}/inbox")).bearer_auth(&token).send().await.unwrap().status();
        let forged = c.get(format!("{base}/inbox")).bearer_auth(format!("{token}x")).send().await.unwrap().status();
        let none = c.get(format!("{base}/inbox")).send().await.unwrap().status();
        (ok, forged, none)
    });
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!((ok.as_u16(), forged.as_u16(), none.as_u16()), (200, 401, 401));
}
