//! The `EventBus` port on Amazon EventBridge.
//!
//! PutEvents takes at most 10 entries and 256 KB per request and may accept some
//! entries while refusing others (throttling, internal failures). [`publish_via`]
//! is the transport-free core: it validates the whole batch, packs it into
//! requests, resends only the entries that failed with a retryable code, and in
//! the end names every event still not published. [`EventBridgeBus`] plugs the
//! SDK into it.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use services::ports::bus::{validate_event, DomainEvent, EventBus, FailedEvent, PublishError, EVENT_SOURCE, MAX_ENTRY_BYTES};

pub const MAX_ENTRIES_PER_REQUEST: usize = 10;
/// The environment variable naming the bus (set by the template's Globals).
pub const BUS_ENV: &str = "FINOPS_EVENT_BUS";

/// How often and how patiently failed entries are resent.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Sends in all, the first included.
    pub attempts: u32,
    /// Delay before the second send; doubled before each further one, with
    /// jitter so functions throttled together do not resend together.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 4, base_delay: Duration::from_millis(100) }
    }
}

/// Why an entry (or a whole request) was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// One PutEvents call. Returns one result per entry, in order.
#[async_trait]
pub trait EntrySender: Send + Sync {
    async fn send(&self, entries: &[&DomainEvent]) -> Result<Vec<Option<EntryFailure>>, EntryFailure>;
}

/// Packs events into requests of at most 10 entries and 256 KB.
pub fn chunk<'a>(events: &[&'a DomainEvent]) -> Vec<Vec<&'a DomainEvent>> {
    let mut out: Vec<Vec<&DomainEvent>> = Vec::new();
    let mut size = 0;
    for e in events {
        let s = e.entry_size();
        let full = out.last().is_none_or(|c| c.len() == MAX_ENTRIES_PER_REQUEST || size + s > MAX_ENTRY_BYTES);
        if full {
            out.push(Vec::new());
            size = 0;
        }
        size += s;
        if let Some(c) = out.last_mut() {
            c.push(e);
        }
    }
    out
}

/// Publishes through `sender`; see the module docs.
pub async fn publish_via(sender: &dyn EntrySender, events: &[DomainEvent], policy: RetryPolicy) -> Result<(), PublishError> {
    for e in events {
        validate_event(e)?;
    }
    let mut pending: Vec<&DomainEvent> = events.iter().collect();
    let mut last_failure: HashMap<&str, EntryFailure> = HashMap::new();
    let mut given_up: Vec<&DomainEvent> = Vec::new();
    // The delays between sends: backon's exponential backoff with jitter.
    // The resend itself stays here, since only the failed entries go again.
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(policy.base_delay)
        .with_max_times(policy.attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build();
    loop {
        let mut retry = Vec::new();
        for batch in chunk(&pending) {
            let results = match sender.send(&batch).await {
                Ok(r) if r.len() == batch.len() => r,
                Ok(r) => {
                    let f = EntryFailure {
                        code: "UnexpectedResponse".into(),
                        message: format!("{} results for {} entries", r.len(), batch.len()),
                        retryable: true,
                    };
                    vec![Some(f); batch.len()]
                }
                Err(f) => vec![Some(f); batch.len()],
            };
            for (event, result) in batch.into_iter().zip(results) {
                match result {
                    None => {
                        last_failure.remove(event.id.as_str());
                    }
                    Some(f) => {
                        let retryable = f.retryable;
                        last_failure.insert(event.id.as_str(), f);
                        if retryable {
                            retry.push(event);
                        } else {
                            given_up.push(event);
                        }
                    }
                }
            }
        }
        pending = retry;
        match delays.next() {
            Some(delay) if !pending.is_empty() => tokio::time::sleep(delay).await,
            _ => break,
        }
    }
    given_up.extend(pending);
    if given_up.is_empty() {
        return Ok(());
    }
    let failed: Vec<FailedEvent> = given_up
        .iter()
        .map(|e| {
            let f = last_failure.get(e.id.as_str());
            FailedEvent {
                event_id: e.id.clone(),
                detail_type: e.detail_type.clone(),
                code: f.map(|f| f.code.clone()).unwrap_or_default(),
                message: f.map(|f| f.message.clone()).unwrap_or_default(),
            }
        })
        .collect();
    Err(PublishError::NotPublished { published: events.len() - failed.len(), failed })
}

/// Entry error codes worth resending: EventBridge's transient ones.
fn retryable_code(code: &str) -> bool {
    matches!(code, "InternalFailure" | "InternalException" | "ThrottlingException" | "ServiceUnavailable")
}

pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
    policy: RetryPolicy,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into(), policy: RetryPolicy::default() }
    }

    /// The bus named by `FINOPS_EVENT_BUS`.
    pub fn from_env(client: Client) -> Result<Self, String> {
        std::env::var(BUS_ENV)
            .ok()
            .filter(|b| !b.is_empty())
            .map(|b| Self::new(client, b))
            .ok_or_else(|| format!("{BUS_ENV} is not set"))
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    /// The bus's ARN, for `finops doctor`; an error names what is wrong.
    pub async fn describe(&self) -> Result<String, String> {
        let out = self
            .client
            .describe_event_bus()
            .name(&self.bus_name)
            .send()
            .await
            .map_err(|e| format!("event bus {}: {}", self.bus_name, DisplayErrorContext(&e)))?;
        Ok(out.arn().unwrap_or_default().to_owned())
    }
}

#[async_trait]
impl EntrySender for EventBridgeBus {
    async fn send(&self, entries: &[&DomainEvent]) -> Result<Vec<Option<EntryFailure>>, EntryFailure> {
        let request: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(EVENT_SOURCE)
                    .detail_type(&e.detail_type)
                    .detail(e.envelope_json())
                    .time(DateTime::from_millis(e.time.timestamp_millis()))
                    .build()
            })
            .collect();
        match self.client.put_events().set_entries(Some(request)).send().await {
            Ok(out) => Ok(out
                .entries()
                .iter()
                .map(|r| {
                    r.error_code().map(|code| EntryFailure {
                        code: code.to_owned(),
                        message: r.error_message().unwrap_or_default().to_owned(),
                        retryable: retryable_code(code),
                    })
                })
                .collect()),
            Err(err) => {
                let (code, retryable) = match &err {
                    SdkError::ServiceError(se) => {
                        let code = se.err().code().unwrap_or("Unknown").to_owned();
                        let retryable = retryable_code(&code);
                        (code, retryable)
                    }
                    SdkError::ConstructionFailure(_) => ("InvalidRequest".to_owned(), false),
                    _ => ("Unreachable".to_owned(), true),
                };
                Err(EntryFailure { code, message: DisplayErrorContext(&err).to_string(), retryable })
            }
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        publish_via(self, events, self.policy).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Fails the named events a given number of times (`u32::MAX` = always), or
    /// whole requests while `fail_requests` lasts; records every request.
    #[derive(Default)]
    struct Fake {
        fail_entries: Mutex<HashMap<String, (u32, bool)>>,
        fail_requests: Mutex<u32>,
        requests: Mutex<Vec<Vec<String>>>,
    }

    #[async_trait]
    impl EntrySender for Fake {
        async fn send(&self, entries: &[&DomainEvent]) -> Result<Vec<Option<EntryFailure>>, EntryFailure> {
            self.requests.lock().unwrap().push(entries.iter().map(|e| e.id.clone()).collect());
            {
                let mut whole = self.fail_requests.lock().unwrap();
                if *whole > 0 {
                    *whole -= 1;
                    return Err(EntryFailure { code: "Unreachable".into(), message: "connection refused".into(), retryable: true });
                }
            }
            let mut fails = self.fail_entries.lock().unwrap();
            Ok(entries
                .iter()
                .map(|e| match fails.get_mut(&e.id) {
                    Some((n, retryable)) if *n > 0 => {
                        *n = n.saturating_sub(1);
                        let code = if *retryable { "ThrottlingException" } else { "MalformedDetail" };
                        Some(EntryFailure { code: code.into(), message: "no".into(), retryable: *retryable })
                    }
                    _ => None,
                })
                .collect())
        }
    }

    fn events(n: usize, detail_bytes: usize) -> Vec<DomainEvent> {
        (0..n)
            .map(|i| DomainEvent {
                id: format!("e{i:02}"),
                detail_type: "Happened".into(),
                time: Utc::now(),
                correlation_id: "c".into(),
                detail: serde_json::json!({ "pad": "x".repeat(detail_bytes) }),
            })
            .collect()
    }

    const NOW: RetryPolicy = RetryPolicy { attempts: 3, base_delay: Duration::ZERO };

    #[tokio::test]
    async fn twenty_five_events_go_in_requests_of_ten() {
        let fake = Fake::default();
        publish_via(&fake, &events(25, 10), NOW).await.unwrap();
        let sizes: Vec<usize> = fake.requests.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
    }

    #[tokio::test]
    async fn requests_stay_under_256_kb() {
        let evs = events(5, 100 * 1024);
        let fake = Fake::default();
        publish_via(&fake, &evs, NOW).await.unwrap();
        let sizes: Vec<usize> = fake.requests.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[tokio::test]
    async fn only_failed_entries_are_resent() {
        let fake = Fake::default();
        fake.fail_entries.lock().unwrap().insert("e03".into(), (1, true));
        publish_via(&fake, &events(12, 10), NOW).await.unwrap();
        let reqs = fake.requests.lock().unwrap();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[2], ["e03"]);
    }

    #[tokio::test]
    async fn a_final_partial_failure_names_the_events() {
        let fake = Fake::default();
        fake.fail_entries.lock().unwrap().insert("e07".into(), (u32::MAX, true));
        fake.fail_entries.lock().unwrap().insert("e09".into(), (u32::MAX, false));
        let err = publish_via(&fake, &events(25, 10), NOW).await.unwrap_err();
        let PublishError::NotPublished { failed, published } = &err else { panic!("{err}") };
        assert_eq!(*published, 23);
        let mut ids: Vec<&str> = failed.iter().map(|f| f.event_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["e07", "e09"]);
        assert!(err.to_string().contains("ThrottlingException") && err.to_string().contains("MalformedDetail"), "{err}");
        // The non-retryable one was sent once; the retryable one on every attempt.
        let reqs = fake.requests.lock().unwrap();
        assert_eq!(reqs.iter().filter(|r| r.contains(&"e09".to_string())).count(), 1);
        assert_eq!(reqs.iter().filter(|r| r.contains(&"e07".to_string())).count(), 3);
    }

    #[tokio::test]
    async fn a_failed_request_is_resent_whole() {
        let fake = Fake::default();
        *fake.fail_requests.lock().unwrap() = 1;
        publish_via(&fake, &events(3, 10), NOW).await.unwrap();
        assert_eq!(fake.requests.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn an_invalid_event_stops_the_batch_before_anything_is_sent() {
        let fake = Fake::default();
        let mut evs = events(3, 10);
        evs[2].detail_type = "not pascal".into();
        let err = publish_via(&fake, &evs, NOW).await.unwrap_err();
        assert!(matches!(err, PublishError::Invalid { ref event_id, .. } if event_id == "e02"));
        assert!(fake.requests.lock().unwrap().is_empty());
    }
}
