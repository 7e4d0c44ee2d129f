//! The OpenAPI document: generated from the code, committed as `openapi.json`,
//! and covering every route. Regenerate with
//! `FINOPS_WRITE_OPENAPI=1 cargo test -p http-api --test openapi`.

use http_api::{openapi_json, ROUTE_TABLE};
use serde_json::Value;

fn committed_path() -> String {
    format!("{}/../../openapi.json", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = openapi_json();
    if std::env::var_os("FINOPS_WRITE_OPENAPI").is_some() {
        std::fs::write(committed_path(), format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert_eq!(committed.trim_end(), generated, "openapi.json is stale: run FINOPS_WRITE_OPENAPI=1 cargo test -p http-api --test openapi");
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc: Value = serde_json::from_str(&openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (method, path, _) in ROUTE_TABLE.iter().filter(|(_, p, _)| !http_api::UNDOCUMENTED_ROUTES.contains(p)) {
        assert!(paths.get(*path).and_then(|p| p.get(method.to_lowercase())).is_some(), "{method} {path} is not documented");
        documented += 1;
    }
    let operations: usize = paths.values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
    assert_eq!(operations, documented);
    // Money is a string in every schema, never a number.
    assert_eq!(doc["components"]["schemas"]["Money"]["type"], "string");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

/// What a frontend needs beyond each route's own answers: the persona header
/// and the error codes every authenticated route can return.
#[test]
fn every_authenticated_operation_documents_the_persona_header_and_common_errors() {
    let doc: Value = serde_json::from_str(&openapi_json()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if http_api::OPEN_ROUTES.contains(&path.as_str()) {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let persona = op["parameters"].as_array().into_iter().flatten().find(|p| p["name"] == "X-FinOps-Persona");
            let persona = persona.unwrap_or_else(|| panic!("{method} {path}: no X-FinOps-Persona"));
            assert_eq!((persona["in"].as_str(), persona["required"].as_bool()), (Some("header"), Some(false)));
            assert_eq!(persona["schema"]["enum"].as_array().map(Vec::len), Some(5), "{method} {path}");
            for code in ["401", "405", "500"] {
                assert!(op["responses"].get(code).is_some(), "{method} {path}: no {code}");
            }
            if op.get("requestBody").is_some() {
                assert!(op["responses"].get("415").is_some() && op["responses"].get("413").is_some(), "{method} {path}");
            }
        }
    }
}
