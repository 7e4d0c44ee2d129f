//! `template.yaml` routes exactly `http_api::ROUTE_TABLE` to the right functions,
//! behind the JWT authorizer (only `OPEN_ROUTES` are open).

use std::collections::BTreeSet;

use http_api::ROUTE_TABLE;
use serde_yaml::Value;

fn template() -> Value {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (method, path, function, open) for every HttpApi event in the template.
fn api_events(doc: &Value) -> BTreeSet<(String, String, String, bool)> {
    let mut out = BTreeSet::new();
    for (name, res) in doc["Resources"].as_mapping().unwrap() {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        for ev in res["Properties"]["Events"].as_mapping().into_iter().flat_map(|m| m.values()) {
            if ev["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let p = &ev["Properties"];
            let open = p["Auth"]["Authorizer"].as_str() == Some("NONE");
            out.insert((p["Method"].as_str().unwrap().to_owned(), p["Path"].as_str().unwrap().to_owned(), name.as_str().unwrap().to_owned(), open));
        }
    }
    out
}

fn expected() -> BTreeSet<(String, String, String, bool)> {
    ROUTE_TABLE.iter().map(|(m, p, g)| (m.to_string(), p.to_string(), g.function().to_owned(), http_api::OPEN_ROUTES.contains(p))).collect()
}

#[test]
fn the_template_routes_exactly_the_route_table() {
    let have = api_events(&template());
    let want = expected();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing from template: {missing:?}\nnot in ROUTE_TABLE: {extra:?}");
}

#[test]
fn removing_a_route_from_the_template_fails_the_check() {
    let mut doc = template();
    doc["Resources"]["ApprovalFanoutFunction"]["Properties"]["Events"].as_mapping_mut().unwrap().remove("PostRequestsIdApprove");
    let missing: Vec<_> = expected().difference(&api_events(&doc)).cloned().collect();
    assert_eq!(missing, [("POST".to_owned(), "/requests/{id}/approve".to_owned(), "ApprovalFanoutFunction".to_owned(), false)]);
}

#[test]
fn the_api_requires_the_cognito_jwt_authorizer() {
    let doc = template();
    let auth = &doc["Resources"]["GovernanceApi"]["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"].as_str(), Some("CognitoJwt"));
    assert_eq!(auth["Authorizers"]["CognitoJwt"]["IdentitySource"].as_str(), Some("$request.header.Authorization"));
    // Users may not write their own scope.
    let client = &doc["Resources"]["UserPoolClient"]["Properties"];
    let writable: Vec<&str> = client["WriteAttributes"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(!writable.iter().any(|a| a.contains("finops_scope")));
    for persona in ["ProductOwner", "FinOpsLead", "CloudEngineer", "PortfolioOwner", "Finance"] {
        assert_eq!(doc["Resources"][format!("{persona}Group").as_str()]["Properties"]["GroupName"].as_str(), Some(persona));
    }
}
