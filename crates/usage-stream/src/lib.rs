//! What the usage-stream function does with one invocation.
//!
//! Three triggers, one service:
//! - an S3 "Object Created" event (EventBridge, or an S3 notification) for a
//!   Bedrock invocation-log object (`AWSLogs/ACCOUNT/BedrockModelInvocationLogs/…`,
//!   `.json.gz`): the object is read and stored as one source;
//! - a CloudWatch Logs subscription delivery (`awslogs.data`: gzipped base64
//!   JSON, decoded by `aws_lambda_events`), each log event one record;
//! - the hourly schedule: detection over the current and the previous day,
//!   so a lost event or a claim made since is reflected within the hour.
//!
//! After each delivery the detectors run on the days it covered. Storing is
//! idempotent per source and detection writes only what changed, so
//! duplicate deliveries are harmless. It is a function of its own rather than
//! a trigger of cur-ingest: logs arrive every few minutes and are small, CUR a
//! few times a day and large, so their memory, timeout and failure alarms
//! differ, and neither should wait behind the other.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

use chrono::Duration;
use domain::analytics::investigations::DetectorConfig;
use runtime_wiring::{created_objects, schedule_time, ObjectRef, Rejected};
use serde_json::{json, Value};
use services::governance::usage::LogRead;
use services::governance::Governance;

/// Only keys of Bedrock's invocation-log layout are log objects; anything
/// else an over-broad rule delivers (its own `…-permission-check` object,
/// other logs) is skipped, not failed.
pub fn is_log_key(key: &str) -> bool {
    key.contains("/BedrockModelInvocationLogs/") && (key.ends_with(".json.gz") || key.ends_with(".json"))
}

fn rejected(what: impl std::fmt::Display) -> Rejected {
    Rejected(format!("usage-stream: {what}"))
}

/// The text of a log object (gunzipped when its key says `.gz`).
async fn object_text(s3: &aws_sdk_s3::Client, o: &ObjectRef) -> Result<String, Rejected> {
    let location = format!("s3://{}/{}", o.bucket, o.key);
    let got = s3.get_object().bucket(&o.bucket).key(&o.key).send().await.map_err(|e| rejected(format!("reading {location}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))))?;
    let bytes = got.body.collect().await.map_err(|e| rejected(format!("reading {location}: {e}")))?.into_bytes();
    if o.key.ends_with(".gz") {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text).map_err(|e| rejected(format!("{location} is not gzipped UTF-8 text: {e}")))?;
        Ok(text)
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|e| rejected(format!("{location} is not UTF-8 text: {e}")))
    }
}

async fn store(gov: &Governance, source: &str, read: LogRead, days: &mut BTreeSet<chrono::NaiveDate>) -> Result<Value, Rejected> {
    let done = gov.ingest_usage(source, read).await.map_err(rejected)?;
    if done.unreadable > 0 {
        tracing::warn!(%source, unreadable = done.unreadable, first = ?done.errors.first(), "invocation log records that could not be read");
    }
    tracing::info!(%source, records = done.records, duplicate = done.duplicate, "invocation logs stored");
    days.extend(done.days.iter().copied());
    serde_json::to_value(&done).map_err(rejected)
}

async fn detect(gov: &Governance, days: &BTreeSet<chrono::NaiveDate>) -> Result<Value, Rejected> {
    let run = gov.detect_investigations(days, &DetectorConfig::default()).await.map_err(rejected)?;
    if !run.opened.is_empty() || !run.alerted.is_empty() {
        tracing::info!(opened = ?run.opened, alerted = ?run.alerted, "investigations raised");
    }
    serde_json::to_value(&run).map_err(rejected)
}

pub async fn handle(gov: &Arc<Governance>, s3: &aws_sdk_s3::Client, event: &Value) -> Result<Value, Rejected> {
    let mut days = BTreeSet::new();
    if let Some(time) = schedule_time(event) {
        let today = time.date_naive();
        days.extend([today - Duration::days(1), today]);
        return Ok(json!({"detection": detect(gov, &days).await?}));
    }
    if event.get("awslogs").is_some() {
        // aws_lambda_events decodes the gzipped base64 from a borrowed string,
        // which a `Value` cannot lend: it reads the delivery's text.
        let logs: aws_lambda_events::event::cloudwatch_logs::LogsEvent = serde_json::from_str(&event.to_string()).map_err(|e| rejected(format!("not a CloudWatch Logs delivery: {e}")))?;
        let data = logs.aws_logs.data;
        if data.message_type == "CONTROL_MESSAGE" {
            return Ok(json!({"skipped": "control message"}));
        }
        // A delivery's first event id is unique to it: a redelivery is the same source.
        let first = data.log_events.first().map_or("", |e| e.id.as_str());
        let source = format!("cwl:{}/{}/{first}", data.log_group, data.log_stream);
        let read = gov.read_log_messages(data.log_events.iter().map(|e| e.message.as_str())).await.map_err(rejected)?;
        let stored = store(gov, &source, read, &mut days).await?;
        return Ok(json!({"objects": [stored], "detection": detect(gov, &days).await?}));
    }
    let objects = created_objects(event).map_err(rejected)?;
    let reader = gov.log_reader().await.map_err(rejected)?;
    let mut stored = Vec::new();
    for o in objects {
        if !is_log_key(&o.key) {
            tracing::info!(bucket = %o.bucket, key = %o.key, "not an invocation log object; skipped");
            stored.push(json!({"object": format!("s3://{}/{}", o.bucket, o.key), "skipped": true}));
            continue;
        }
        let text = object_text(s3, &o).await?;
        let read = reader.read_text(&text);
        stored.push(store(gov, &format!("s3://{}/{}", o.bucket, o.key), read, &mut days).await?);
    }
    Ok(json!({"objects": stored, "detection": detect(gov, &days).await?}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bedrock_invocation_log_keys_are_read() {
        assert!(is_log_key("AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/10/14/09/20261014T0921Z_abc.json.gz"));
        assert!(is_log_key("logs/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/10/14/09/x.json"));
        assert!(!is_log_key("AWSLogs/111122223333/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check"));
        assert!(!is_log_key("AWSLogs/111122223333/CloudTrail/us-east-1/2026/10/14/x.json.gz"));
    }
}
