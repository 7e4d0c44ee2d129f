//! Every asynchronously invoked function in `template.yaml` hands a failed
//! event to an SQS queue (`EventInvokeConfig` with an OnFailure destination,
//! a retry count and a maximum event age), so no failure is dropped after
//! Lambda's retries; and the check itself fails on a function without one.

use contract_tests::async_invoke::{invoke_config, template};
use serde_yaml::Value;

/// Functions with a trigger other than the HTTP API (EventBridge rules,
/// schedules): Lambda invokes them asynchronously.
fn async_functions(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (name, res) in doc.get("Resources").and_then(Value::as_mapping).into_iter().flatten() {
        if res.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let events = res.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
        if events.into_iter().flatten().any(|(_, e)| e.get("Type").and_then(Value::as_str) != Some("HttpApi")) {
            out.push(name.as_str().unwrap_or_default().to_owned());
        }
    }
    out
}

#[test]
fn every_async_function_sends_failures_to_a_queue() {
    let doc = template();
    let functions = async_functions(&doc);
    for f in ["CurIngestFunction", "GapDetectorFunction", "KillSwitchFunction", "SpendcardBuilderFunction", "TaskGeneratorFunction"] {
        assert!(functions.iter().any(|x| x == f), "{f} is invoked asynchronously: {functions:?}");
    }
    for f in &functions {
        let c = invoke_config(&doc, f).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.max_retries <= 2, "{f}: {c:?}");
        assert!((60..=21600).contains(&c.max_event_age_s), "{f}: {c:?}");
    }
}

#[test]
fn a_function_without_a_failure_destination_fails_the_check() {
    let mut doc = template();
    let props = doc.get_mut("Resources").and_then(|r| r.get_mut("GapDetectorFunction")).and_then(|f| f.get_mut("Properties")).and_then(Value::as_mapping_mut).expect("function");
    let mut config = props.remove("EventInvokeConfig").expect("configured");
    assert!(invoke_config(&doc, "GapDetectorFunction").unwrap_err().contains("no EventInvokeConfig"));
    config["DestinationConfig"]["OnFailure"]["Destination"] = serde_yaml::from_str("!GetAtt NoSuchQueue.Arn").expect("yaml");
    doc["Resources"]["GapDetectorFunction"]["Properties"]["EventInvokeConfig"] = config;
    assert!(invoke_config(&doc, "GapDetectorFunction").unwrap_err().contains("not an AWS::SQS::Queue"));
}
