//! schemathesis (PyPI) fuzzes the local server from its own OpenAPI document,
//! on a home populated by `finops demo --keep` (requests, approvals, tasks,
//! claims, a month of CUR, gaps and cards), for four personas. Every phase
//! runs, the stateful one following the document's links (create → read →
//! act), with the checks for server errors, undocumented status codes,
//! content types, response schemas and schema-invalid input accepted. It must
//! find nothing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn schemathesis() -> PathBuf {
    let p = std::env::var_os("FINOPS_TEST_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/schemathesis")));
    assert!(p.exists(), "{} not found: run scripts/setup.sh", p.display());
    p
}

fn finops(home: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finops"));
    c.arg("--home").arg(home);
    for k in ["FINOPS_HOME", "FINOPS_STORE", "FINOPS_TABLE", "FINOPS_BUS", "FINOPS_EVENT_BUS", "FINOPS_LEDGER_BUCKET"] {
        c.env_remove(k);
    }
    c
}

/// Every operation of the committed OpenAPI document (which a test keeps equal
/// to the code's).
fn operations() -> usize {
    let doc: serde_json::Value = serde_json::from_str(include_str!("../../../openapi.json")).unwrap();
    let methods = ["get", "put", "post", "delete", "patch"];
    doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().keys().filter(|k| methods.contains(&k.as_str())).count()).sum()
}

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection";

#[test]
fn schemathesis_finds_nothing_on_a_populated_home() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    let demo = finops(h).args(["demo", "--keep"]).output().unwrap();
    assert!(demo.status.success(), "finops demo --keep: {}", String::from_utf8_lossy(&demo.stderr));
    let mut server = finops(h).args(["serve", "--addr", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    let mut reports = Vec::new();
    let personas = [
        ("fiona@example.com", "FinOpsLead", "retail"),
        ("pat@example.com", "ProductOwner", "assist"),
        ("casey@example.com", "CloudEngineer", "retail"),
        ("fran@example.com", "Finance", "assist"),
    ];
    for (user, persona, scope) in personas {
        let token = finops(h).args(["token", "--user", user, "--persona", persona, "--scope", scope]).output().unwrap();
        let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
        let out = Command::new(schemathesis())
            .args(["run", &format!("{base}/openapi.json"), "--checks", CHECKS, "--phases", "examples,coverage,fuzzing,stateful", "-n", "30", "--generation-deterministic", "--no-color"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .output()
            .unwrap();
        reports.push((persona, out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for (persona, ok, text) in reports {
        let summary: Vec<&str> = text.lines().filter(|l| l.contains("generated") || l.contains("Tested")).collect();
        println!("{persona}: {}", summary.join(" | "));
        assert!(ok, "schemathesis as {persona} found failures:\n{text}");
        let tested = format!("Tested: {}", operations());
        assert!(text.contains(&tested), "every operation must be exercised ({tested}):\n{text}");
        assert!(text.contains("✅ Stateful"), "the stateful phase must run and pass:\n{text}");
    }
}
