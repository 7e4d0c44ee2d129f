//! Agent Bill driven by a real MCP client (the `mcp` Python SDK in the test
//! venv, `scripts/mcp-client.py`), over Streamable HTTP against the local
//! server and over stdio against `finops mcp`: the client lists the tools,
//! calls three of them, and gets the numbers the HTTP routes give, in the
//! token's scope. `finops ask` answers the same.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

fn python() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python"));
    assert!(p.exists(), "{} not found: run scripts/setup.sh", p.display());
    p
}

fn client() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/mcp-client.py"))
}

fn finops(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finops"));
    c.arg("--home").arg(home);
    for k in ["FINOPS_HOME", "FINOPS_STORE", "FINOPS_TABLE", "FINOPS_BUS", "FINOPS_EVENT_BUS", "FINOPS_LEDGER_BUCKET", "FINOPS_TOKEN"] {
        c.env_remove(k);
    }
    c
}

fn token(home: &Path, user: &str, persona: &str, scope: &str) -> String {
    let out = finops(home).args(["token", "--user", user, "--persona", persona, "--scope", scope]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The month `finops demo` wrote CUR for (`cur-YYYY-MM.parquet`).
fn demo_period(home: &Path) -> String {
    std::fs::read_dir(home)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|n| n.strip_prefix("cur-").and_then(|r| r.strip_suffix(".parquet")).map(String::from))
        .expect("the demo's CUR file")
}

fn run_client(args: &[&str]) -> Value {
    let out = Command::new(python()).arg(client()).args(args).output().unwrap();
    assert!(out.status.success(), "mcp-client: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn get(base: &str, path: &str, token: &str) -> Value {
    let out = Command::new("curl").args(["-s", "-H", &format!("Authorization: Bearer {token}"), &format!("{base}{path}")]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn an_mcp_client_gets_the_http_routes_numbers_over_http_and_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let demo = finops(home).args(["demo", "--keep"]).output().unwrap();
    assert!(demo.status.success(), "finops demo --keep: {}", String::from_utf8_lossy(&demo.stderr));
    let home = std::fs::read_dir(home).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.is_dir()).unwrap_or_else(|| home.to_path_buf());
    let home = home.as_path();
    let period = demo_period(home);
    let po = token(home, "pat@example.com", "ProductOwner", "assist");
    let lead = token(home, "fiona@example.com", "FinOpsLead", "retail");
    let calls = json!([
        ["spend_by", {"dimension": "workload", "period": period}],
        ["estimate_status", {"period": period}],
        ["cache_hit_rate", {"period": period}],
        ["unattributed", {"period": period}],
    ]);
    let routes = [
        format!("/agent/spend-by?dimension=workload&period={period}"),
        format!("/agent/estimate-status?period={period}"),
        format!("/agent/cache-hit-rate?period={period}"),
    ];

    let mut server = finops(home).args(["serve", "--addr", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    let by_http: Vec<Value> = routes.iter().map(|r| get(&base, r, &po)).collect();
    let lead_spend = get(&base, &routes[0], &lead);
    let over_http = run_client(&["http", &calls.to_string(), &format!("{base}/mcp"), &po]);
    let ask = Command::new("curl")
        .args(["-s", "-X", "POST", "-H", &format!("Authorization: Bearer {po}"), "-H", "content-type: application/json"])
        .args(["-d", &json!({"question": format!("spend by workload in {period}")}).to_string(), &format!("{base}/ask")])
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let ask: Value = serde_json::from_slice(&ask.stdout).unwrap();

    // stdio, as the Product Owner's token.
    let finops_bin = env!("CARGO_BIN_EXE_finops");
    let home_arg = home.to_str().unwrap();
    let over_stdio = run_client(&["stdio", &calls.to_string(), "--", finops_bin, "--home", home_arg, "mcp", "--token", &po]);

    for out in [&over_http, &over_stdio] {
        let names: Vec<&str> = out["tools"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(names, domain::agent::tools::TOOLS.iter().map(|t| t.name).collect::<Vec<_>>());
        assert_eq!(out["schemas"]["suspend"]["required"], json!(["workload", "confirm"]));
        for (i, http) in by_http.iter().enumerate() {
            let call = &out["calls"][i];
            assert_eq!(call["is_error"], false, "{call}");
            assert_eq!(call["structured"]["figures"], http["figures"], "{} differs from {}", call["tool"], routes[i]);
            assert_eq!(call["structured"]["scope"], http["scope"]);
            assert_eq!(call["text"], http["text"]);
        }
        // A Product Owner asking what nobody owns: a tool error naming why.
        assert_eq!(out["calls"][3]["is_error"], true);
        assert!(out["calls"][3]["text"].as_str().unwrap().contains("forbidden"), "{}", out["calls"][3]);
    }
    // The Product Owner sees assist's workloads; the FinOps Lead, more.
    let po_rows = by_http[0]["figures"]["rows"].as_array().unwrap().len();
    let lead_rows = lead_spend["figures"]["rows"].as_array().unwrap().len();
    assert!(po_rows >= 1 && lead_rows > po_rows, "{po_rows} vs {lead_rows}");
    assert_eq!(by_http[0]["scope"]["nodes"], json!(["assist"]));
    // The sentence and the tool: the same answer.
    assert_eq!(ask["understood"], true);
    assert_eq!(ask["answer"]["figures"], by_http[0]["figures"]);

    // `finops ask` with the token: the same paragraph.
    let cli = finops(home).args(["ask", "--token", &po, &format!("spend by workload in {period}")]).output().unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert!(String::from_utf8_lossy(&cli.stdout).contains(by_http[0]["text"].as_str().unwrap()));
    // An unanswerable question: exit 2 and the list of what can be asked.
    let unknown = finops(home).args(["ask", "what is the weather?"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("Agent Bill can answer"));
    // The MAP tag: set by the operator, read by the MAP question.
    let tagged = finops(home).args(["map-tag", "chat", "--value", "migCHAT1", "--rationale", "MAP engagement signed"]).output().unwrap();
    assert!(tagged.status.success(), "{}", String::from_utf8_lossy(&tagged.stderr));
    let map = finops(home).args(["--format", "json", "ask", &format!("MAP credits at risk in {period}")]).output().unwrap();
    let map: Value = serde_json::from_slice(&map.stdout).unwrap();
    assert_eq!(map["answer"]["figures"]["rows"][0]["engagement"], "migCHAT1", "{map}");
    let bad = finops(home).args(["map-tag", "chat", "--value", "mig<1>", "--rationale", "typo"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("map_migrated"));
    // A bad token is refused by name.
    let bad = finops(home).args(["ask", "--token", "nonsense", "spend by model"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--token"));
}
