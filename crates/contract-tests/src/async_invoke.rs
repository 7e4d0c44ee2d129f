//! Lambda's asynchronous invocation, as the template configures it, around a
//! function's handler: the event is tried `1 + MaximumRetryAttempts` times
//! and, when every try fails, Lambda's destination record (the event, the
//! error, `RetriesExhausted`) goes to the function's OnFailure queue, here a
//! queue on moto. What a handler test drives to show that a failing event
//! ends in the failure queue and is never dropped. (moto runs no Lambda
//! without Docker; these are the documented semantics of
//! `AWS::Lambda::EventInvokeConfig` and its SQS destination record.)

use std::future::Future;

use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

/// A function's `EventInvokeConfig` in `template.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeConfig {
    pub max_retries: u64,
    pub max_event_age_s: u64,
    /// The logical id of the OnFailure SQS queue.
    pub on_failure_queue: String,
}

pub fn template() -> Yaml {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The invoke config of `function` (a logical id), or why there is none.
pub fn invoke_config(doc: &Yaml, function: &str) -> Result<InvokeConfig, String> {
    let props = doc.get("Resources").and_then(|r| r.get(function)).and_then(|f| f.get("Properties")).ok_or_else(|| format!("{function}: no such function"))?;
    let c = props.get("EventInvokeConfig").ok_or_else(|| format!("{function}: no EventInvokeConfig, so a failed event is retried twice and dropped"))?;
    let n = |k: &str| c.get(k).and_then(Yaml::as_u64).ok_or_else(|| format!("{function}: EventInvokeConfig.{k} is not set"));
    let on_failure = c.get("DestinationConfig").and_then(|d| d.get("OnFailure")).ok_or_else(|| format!("{function}: no OnFailure destination"))?;
    if on_failure.get("Type").and_then(Yaml::as_str) != Some("SQS") {
        return Err(format!("{function}: the OnFailure destination is not an SQS queue"));
    }
    let queue = match on_failure.get("Destination") {
        Some(Yaml::Tagged(t)) if t.tag == "GetAtt" => t.value.as_str().and_then(|s| s.strip_suffix(".Arn")).map(String::from),
        _ => None,
    }
    .ok_or_else(|| format!("{function}: the OnFailure destination is not !GetAtt QUEUE.Arn"))?;
    let is_queue = doc.get("Resources").and_then(|r| r.get(queue.as_str())).and_then(|q| q.get("Type")).and_then(Yaml::as_str) == Some("AWS::SQS::Queue");
    if !is_queue {
        return Err(format!("{function}: OnFailure names {queue}, which is not an AWS::SQS::Queue in the template"));
    }
    Ok(InvokeConfig { max_retries: n("MaximumRetryAttempts")?, max_event_age_s: n("MaximumEventAgeInSeconds")?, on_failure_queue: queue })
}

/// Invokes `handler` as Lambda invokes `function` asynchronously; returns
/// how many times it ran. On exhaustion the destination record is sent to
/// `queue_url`.
pub async fn invoke<F, Fut, E>(function: &str, event: &Value, handler: F, sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, E>>,
    E: std::fmt::Display,
{
    let config = invoke_config(&template(), function).unwrap_or_else(|e| panic!("{e}"));
    let mut last = String::new();
    for attempt in 1..=1 + config.max_retries {
        match handler(event.clone()).await {
            Ok(_) => return attempt,
            Err(e) => last = e.to_string(),
        }
    }
    let record = json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "requestContext": {
            "requestId": uuid::Uuid::now_v7().to_string(),
            "functionArn": format!("arn:aws:lambda:us-east-1:111122223333:function:{function}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1 + config.max_retries,
        },
        "requestPayload": event,
        "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
        "responsePayload": { "errorMessage": last, "errorType": "Rejected" },
    });
    sqs.send_message().queue_url(queue_url).message_body(record.to_string()).send().await.expect("send to the failure queue");
    1 + config.max_retries
}
