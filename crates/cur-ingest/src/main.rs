use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime_wiring::init_logging();
    let gov = runtime_wiring::governance_from_env().await?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let s3 = cur_s3::S3Cur::new(runtime_wiring::s3_client(&sdk));
    let cur = Arc::new(cur_ingest::CurConfig::from_env(|k| std::env::var(k).ok())?);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let backfill = Arc::new(cur.table.clone().map(|(database, table)| cur_ingest::Backfill {
        athena: cur_athena::AthenaCur::new(aws_sdk_athena::Client::new(&sdk), env("FINOPS_ATHENA_WORKGROUP").unwrap_or_else(|| "primary".into()), env("FINOPS_ATHENA_OUTPUT")),
        table: cur_athena::CurTable { database, table, period_column: "billing_period".into(), principal_column: true, cost_bases: true },
    }));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (gov, s3, cur, backfill) = (gov.clone(), s3.clone(), cur.clone(), backfill.clone());
        let span = runtime_wiring::invocation_span(&event.payload);
        runtime_wiring::in_span(span, async move { Ok::<Value, Error>(cur_ingest::handle_any(&gov, &s3, &cur, backfill.as_ref().as_ref(), &event.payload).await?) })
    }))
    .await
}
