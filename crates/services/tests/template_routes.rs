//! The routing table in `services::routing` and the EventBridge rules in
//! `template.yaml` must describe the same routes: the local bus dispatches by the
//! table, AWS by the rules, and the two modes must not drift apart.

use std::collections::BTreeSet;

use serde_yaml::Value;
use services::routing::{Route, ROUTES};

type RouteSet = BTreeSet<(String, String)>;

fn load(rel: &str) -> Value {
    let path = format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![],
    }
}

/// `!GetAtt Fn.Arn`, `{Fn::GetAtt: [Fn, Arn]}` or `!Ref Fn` → `Fn`.
fn target_function(arn: &Value) -> Option<String> {
    match arn {
        Value::Tagged(t) if t.tag == "GetAtt" => t.value.as_str().and_then(|s| s.split('.').next()).map(String::from),
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(String::from),
        Value::Mapping(m) => m
            .get("Fn::GetAtt")
            .and_then(|v| v.as_sequence())
            .and_then(|s| s.first())
            .and_then(|v| v.as_str())
            .map(String::from),
        _ => None,
    }
}

/// Every (detail-type, function) pair the template routes from our event source.
fn routes_in_template(doc: &Value) -> RouteSet {
    let mut out = RouteSet::new();
    let Some(resources) = doc.get("Resources").and_then(Value::as_mapping) else { return out };
    let ours = |pattern: &Value| strings(pattern.get("source")).iter().any(|s| s == services::ports::bus::EVENT_SOURCE);
    for (name, res) in resources {
        let name = name.as_str().unwrap_or_default().to_owned();
        let ty = res.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = res.get("Properties");
        match ty {
            "AWS::Serverless::Function" => {
                let events = props.and_then(|p| p.get("Events")).and_then(Value::as_mapping);
                for ev in events.into_iter().flat_map(|m| m.values()) {
                    if ev.get("Type").and_then(Value::as_str) != Some("EventBridgeRule") {
                        continue;
                    }
                    let Some(pattern) = ev.get("Properties").and_then(|p| p.get("Pattern")) else { continue };
                    if ours(pattern) {
                        for dt in strings(pattern.get("detail-type")) {
                            out.insert((dt, name.clone()));
                        }
                    }
                }
            }
            "AWS::Events::Rule" => {
                let Some(pattern) = props.and_then(|p| p.get("EventPattern")) else { continue };
                if !ours(pattern) {
                    continue;
                }
                let targets = props.and_then(|p| p.get("Targets")).and_then(Value::as_sequence);
                for t in targets.into_iter().flatten() {
                    if let Some(f) = t.get("Arn").and_then(target_function) {
                        for dt in strings(pattern.get("detail-type")) {
                            out.insert((dt, f.clone()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn table(routes: &[Route]) -> RouteSet {
    routes.iter().map(|r| (r.detail_type.to_owned(), r.consumer.to_owned())).collect()
}

/// What differs, in words a developer can act on.
fn differences(routes: &[Route], doc: &Value) -> Vec<String> {
    let (want, have) = (table(routes), routes_in_template(doc));
    let missing = want.difference(&have).map(|(d, f)| format!("template.yaml has no rule sending {d} to {f}"));
    let extra = have
        .difference(&want)
        .map(|(d, f)| format!("template.yaml sends {d} to {f}, which services::routing::ROUTES does not declare"));
    missing.chain(extra).collect()
}

#[test]
fn the_template_wires_exactly_the_routing_table() {
    let diffs = differences(ROUTES, &load("template.yaml"));
    assert!(diffs.is_empty(), "routing table and template.yaml differ:\n{}", diffs.join("\n"));
}

const FIXTURE_ROUTES: &[Route] = &[
    Route { detail_type: "BusinessRequestApproved", consumer: "TaskGeneratorFunction" },
    Route { detail_type: "CurPeriodIngested", consumer: "GapDetectorFunction" },
];

#[test]
fn the_check_reads_both_ways_of_wiring_a_rule() {
    let doc = load("tests/fixtures/routing/template.yaml");
    assert_eq!(routes_in_template(&doc), table(FIXTURE_ROUTES));
    assert!(differences(FIXTURE_ROUTES, &doc).is_empty());
}

#[test]
fn removing_a_rule_from_the_template_fails_the_check() {
    let mut doc = load("tests/fixtures/routing/template.yaml");
    let resources = doc.get_mut("Resources").and_then(Value::as_mapping_mut).expect("resources");
    resources.remove("CurIngestedRule");
    let diffs = differences(FIXTURE_ROUTES, &doc);
    assert_eq!(diffs, ["template.yaml has no rule sending CurPeriodIngested to GapDetectorFunction"]);

    // A SAM function event removed is caught the same way.
    let mut doc = load("tests/fixtures/routing/template.yaml");
    let f = doc
        .get_mut("Resources")
        .and_then(|r| r.get_mut("TaskGeneratorFunction"))
        .and_then(|f| f.get_mut("Properties"))
        .and_then(Value::as_mapping_mut)
        .expect("function properties");
    f.remove("Events");
    assert_eq!(
        differences(FIXTURE_ROUTES, &doc),
        ["template.yaml has no rule sending BusinessRequestApproved to TaskGeneratorFunction"]
    );
}

#[test]
fn a_rule_the_table_does_not_declare_fails_the_check() {
    let doc = load("tests/fixtures/routing/template.yaml");
    let diffs = differences(&FIXTURE_ROUTES[..1], &doc);
    assert_eq!(diffs.len(), 1);
    assert!(diffs[0].contains("CurPeriodIngested to GapDetectorFunction, which services::routing::ROUTES does not declare"));
}

#[test]
fn the_store_schema_is_the_templates() {
    // The DynamoDB adapter's key names are the template's; a rename in one place
    // must fail here rather than in a deployed stack.
    let doc = load("template.yaml");
    let table = &doc["Resources"]["GovernanceTable"];
    let props = &table["Properties"];
    let names = |schema: &Value| -> Vec<String> {
        schema.as_sequence().into_iter().flatten().filter_map(|k| k["AttributeName"].as_str().map(String::from)).collect()
    };
    assert_eq!(names(&props["KeySchema"]), ["pk", "sk"]);
    let gsi = &props["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"].as_str(), Some("gsi1"));
    assert_eq!(names(&gsi["KeySchema"]), ["gsi1pk", "gsi1sk"]);
    assert_eq!(gsi["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(), Some(true));
    assert_eq!(props["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
}

#[test]
fn removing_the_task_generator_rule_from_the_real_template_fails_the_check() {
    let mut doc = load("template.yaml");
    let events = doc
        .get_mut("Resources")
        .and_then(|r| r.get_mut("TaskGeneratorFunction"))
        .and_then(|f| f.get_mut("Properties"))
        .and_then(|p| p.get_mut("Events"))
        .and_then(Value::as_mapping_mut)
        .expect("TaskGeneratorFunction events");
    events.remove("Approved");
    assert_eq!(
        differences(ROUTES, &doc),
        ["template.yaml has no rule sending BusinessRequestApproved to TaskGeneratorFunction"]
    );
}
