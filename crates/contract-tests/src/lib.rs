//! One contract suite per port, run unchanged against every adapter.
//!
//! A suite is a set of async functions that take a fresh adapter and assert what
//! the port promises. The `store_contract_tests!` and `bus_contract_tests!` macros
//! turn each case into a `#[tokio::test]` in the calling test file, so the test
//! output names every case once per adapter (`store_embedded::…`,
//! `store_dynamodb::…`). Emulator-backed adapters reach DynamoDB Local and moto
//! through the real SDK clients with `endpoint_url` ([`emulators`]).

pub mod agent_suite;
pub mod analytics_suite;
pub mod attribution_suite;
pub mod bus_suite;
pub mod delivery_suite;
pub mod emulators;
pub mod governed_suite;
pub mod governed_world;
pub mod kill_switch_suite;
pub mod async_invoke;
pub mod race_suite;
pub mod ledger_suite;
pub mod usage_suite;
pub mod store_suite;

/// Expands every store contract case into a test. `$make` is an async expression
/// that yields a fresh, empty `Arc<dyn Store>`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@cases $make;
            get_of_a_missing_item_is_none,
            put_then_get_round_trips_attributes_and_version,
            a_failed_condition_writes_nothing,
            versions_go_up_by_one_per_write,
            a_transaction_with_one_failing_condition_writes_nothing,
            a_transaction_applies_puts_deletes_and_checks_together,
            queries_page_past_1000_items,
            queries_page_past_the_1mb_page,
            sort_key_prefix_and_range_queries,
            the_secondary_index_lists_follows_and_forgets_items,
            thirty_two_concurrent_creates_exactly_one_wins,
            thirty_two_concurrent_updates_exactly_one_wins,
            concurrent_transactions_on_one_item_commit_once,
            transactions_in_turn_stop_at_the_first_that_fails,
            malformed_requests_are_refused_and_write_nothing
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store: std::sync::Arc<dyn services::ports::Store> = $make.await;
                $crate::store_suite::$case(store).await;
            }
        )*
    };
}

/// Expands every event-bus contract case into a test. `$make` is an async
/// expression that yields a fresh `Box<dyn BusFixture>`.
#[macro_export]
macro_rules! bus_contract_tests {
    ($make:expr) => {
        $crate::bus_contract_tests!(@cases $make;
            twenty_five_events_arrive_as_twenty_five,
            only_routed_detail_types_are_delivered,
            an_invalid_event_publishes_nothing_of_its_batch,
            an_empty_batch_is_a_no_op
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: Box<dyn $crate::bus_suite::BusFixture> = $make.await;
                $crate::bus_suite::$case(fixture.as_ref()).await;
            }
        )*
    };
}

/// Expands every fact-ledger contract case into a test. `$make` is an async
/// expression that yields a fresh, empty ledger and whatever keeps it alive:
/// `(Arc<dyn FactLedger>, guard)`.
#[macro_export]
macro_rules! ledger_contract_tests {
    ($make:expr) => {
        $crate::ledger_contract_tests!(@cases $make;
            written_facts_read_back_exactly,
            equal_facts_have_equal_digests,
            a_large_source_spans_row_groups_and_reads_whole,
            a_missing_object_is_not_found,
            delete_is_idempotent,
            list_names_what_is_under_a_prefix,
            bad_keys_are_refused_and_write_nothing,
            unrepresentable_facts_are_refused,
            usage_facts_read_back_exactly_and_are_not_cur_facts,
            export_tables_are_written_whole_and_rewritten_in_place
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (ledger, _guard): (std::sync::Arc<dyn services::ports::FactLedger>, _) = $make.await;
                $crate::ledger_suite::$case(ledger.as_ref()).await;
            }
        )*
    };
}

/// Sample Lambda events from `events/`, adjusted per test.
pub mod lambda_events {
    use serde_json::Value;

    pub fn sample(function: &str, name: &str) -> Value {
        let path = format!("{}/../../events/{function}/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// An API Gateway HTTP API event for `method path`, with `body` (None keeps none).
    pub fn http(base: &Value, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut e = base.clone();
        e["routeKey"] = Value::String(format!("{method} {path}"));
        e["rawPath"] = Value::String(path.to_owned());
        e["requestContext"]["routeKey"] = e["routeKey"].clone();
        e["requestContext"]["http"]["method"] = Value::String(method.to_owned());
        e["requestContext"]["http"]["path"] = Value::String(path.to_owned());
        e["body"] = body.map(|b| Value::String(b.to_string())).unwrap_or(Value::Null);
        e
    }

    /// The response's status and JSON body.
    pub fn response(out: &Value) -> (u64, Value) {
        let status = out["statusCode"].as_u64().unwrap_or(0);
        let body = out["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
        (status, body)
    }
}

/// Expands every gaps / cards / maturity case into a test. `$make` builds a world.
#[macro_export]
macro_rules! analytics_tests {
    ($make:path) => {
        $crate::analytics_tests!(@cases $make;
            detected_gaps_match_attribution_and_redetection_writes_nothing,
            every_scenario_is_raised_and_its_action_does_the_real_thing,
            gap_actions_refuse_bad_input_and_other_personas,
            a_gap_that_stops_holding_resolves_and_reopens_with_its_history,
            cards_are_built_reviewed_and_rolled_up,
            late_data_leaves_settled_cards_alone_and_lands_on_the_next_card,
            maturity_reports_the_four_dimensions_from_state,
            gaps_and_maturity_follow_the_callers_scope,
            gap_actions_work_on_imported_state
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::analytics_suite::$case($make(false).await).await;
            }
        )*
    };
}
