//! The kill-switch function's logs, in a test binary of its own: tracing
//! caches each log statement's interest process-wide, so a test that installs
//! a capturing subscriber must not race other tests hitting the same
//! statements without one.

use contract_tests::governed_world::aws;
use contract_tests::lambda_events::sample;

/// Log lines written while one event is handled, as the function writes them.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A handled `ModelBlocked` event's log lines carry its correlation id and
/// detail-type, in the JSON format every function writes, so one governed
/// action can be followed across functions in CloudWatch.
#[tokio::test]
async fn a_handled_events_log_lines_carry_its_correlation_id() {
    let w = aws(true).await;
    contract_tests::kill_switch_suite::blocked(&w).await;
    let logs = Capture::default();
    let _guard = tracing::subscriber::set_default(runtime_wiring::json_logs(logs.clone(), "info"));
    tracing::callsite::rebuild_interest_cache();
    let event = sample("kill-switch", "model-blocked.json");
    let span = runtime_wiring::invocation_span(&event);
    runtime_wiring::in_span(span, kill_switch::handle(&w.gov, &event)).await.expect("handled");
    let text = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let ours: Vec<&serde_json::Value> = lines.iter().filter(|l| l["fields"]["message"] == "model blocks applied").collect();
    assert_eq!(ours.len(), 1, "{text}");
    let span = ours[0]["spans"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "invocation")).expect("the invocation span");
    assert_eq!(span["correlation_id"], event["detail"]["correlation_id"]);
    assert_eq!(span["event"], "ModelBlocked");
}
