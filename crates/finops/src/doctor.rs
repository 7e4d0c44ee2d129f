//! `finops doctor`: which AWS identity and adapters are configured, whether
//! they work, and what the facts say (the last ingested period, and whether
//! its CUR has the principal column attribution needs).

use serde::Serialize;
use services::ports::store::{ItemKey, Store};
use services::routing::ROUTES;

use crate::config::{BusChoice, Config, StoreChoice};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

fn check(name: &str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check { check: name.into(), ok: true, detail },
        Err(detail) => Check { check: name.into(), ok: false, detail },
    }
}

/// How far back `doctor` looks for the last ingested period.
const LOOK_BACK_MONTHS: u32 = 24;

/// What the facts say: the newest period ingested, and whether its CUR
/// carries `line_item_iam_principal`, without which AI spend cannot be
/// attributed to principals (Data Exports' "include caller identity").
async fn data_checks(store: &dyn Store, checks: &mut Vec<Check>) {
    let now = domain::BillingPeriod::of(chrono::Utc::now().date_naive());
    match services::governance::ledger::last_ingested(store, now, LOOK_BACK_MONTHS).await {
        Err(e) => checks.push(check("last ingested period", Err(e))),
        Ok(None) => {
            checks.push(check("last ingested period", Ok(format!("nothing ingested in the last {LOOK_BACK_MONTHS} months: run `finops ingest FILE`, or wait for Data Exports' first delivery"))));
            checks.push(check("principal column", Ok("not known until a CUR file is ingested".into())));
        }
        Ok(Some((period, sources))) => {
            let latest = sources.iter().map(|m| m.ingested_at).max().map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default();
            checks.push(check("last ingested period", Ok(format!("{period}: {} source(s), last read {latest}", sources.len()))));
            let without: Vec<&str> = sources.iter().filter(|m| !m.principal_column).map(|m| m.source.as_str()).collect();
            checks.push(check(
                "principal column",
                match without.first() {
                    None => Ok(format!("line_item_iam_principal in every source of {period}")),
                    Some(first) => Err(format!(
                        "{} of {} source(s) of {period} have no line_item_iam_principal (first: {first}), so their AI spend cannot be attributed to principals: turn on \"Include caller identity (IAM principal) allocation data\" in the Data Export",
                        without.len(),
                        sources.len()
                    )),
                },
            ));
        }
    }
}

/// The AWS account and region the CLI acts in, from the standard chain: a
/// stack's table in the wrong account or region is the commonest mistake.
async fn aws_identity(sdk: &aws_config::SdkConfig) -> Result<String, String> {
    let region = sdk.region().map(ToString::to_string).ok_or_else(|| "no AWS region configured (AWS_REGION or a profile's region)".to_owned())?;
    let who = aws_sdk_sts::Client::new(sdk).get_caller_identity().send().await.map_err(|e| format!("sts:GetCallerIdentity in {region}: {}", aws_sdk_sts::error::DisplayErrorContext(&e)))?;
    Ok(format!("account {} as {} in {region}", who.account().unwrap_or("?"), who.arn().unwrap_or("?")))
}

/// A read of a key nobody writes: proves the store answers without changing it.
async fn probe(store: &dyn Store) -> Result<(), String> {
    store.get(&ItemKey::new("DOCTOR", "probe")).await.map(|_| ()).map_err(|e| e.to_string())
}

pub async fn run(config: &Config) -> Report {
    let mut checks = Vec::new();
    let uses_aws = !matches!(config.store, StoreChoice::Embedded { .. }) || !matches!(config.bus, BusChoice::Local);
    if uses_aws {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        checks.push(check("AWS identity", aws_identity(&sdk).await));
    } else {
        checks.push(check("AWS identity", Ok("not needed: the embedded mode makes no AWS calls".into())));
    }
    match &config.store {
        StoreChoice::Embedded { home } => {
            let path = home.join(store_embedded::STORE_FILE);
            checks.push(check("store adapter", Ok(format!("embedded (redb) at {}", path.display()))));
            match store_embedded::EmbeddedStore::open(&path) {
                Ok(store) => {
                    let read = probe(&store).await;
                    let ok = read.is_ok();
                    checks.push(check("store opens", read.map(|()| "opened and read".to_owned())));
                    if ok {
                        data_checks(&store, &mut checks).await;
                    }
                }
                Err(e) => checks.push(check("store opens", Err(e.to_string()))),
            }
        }
        StoreChoice::DynamoDb { table } => {
            checks.push(check("store adapter", Ok(format!("dynamodb table {table}"))));
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let store = store_dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
            let opened = match store.status().await {
                Ok(status) => probe(&store).await.map(|()| format!("table {status}, read ok")),
                Err(e) => Err(e.to_string()),
            };
            let ok = opened.is_ok();
            checks.push(check("store opens", opened));
            if ok {
                data_checks(&store, &mut checks).await;
            }
        }
    }
    match &config.bus {
        BusChoice::Local => {
            checks.push(check("event bus", Ok(format!("local (in-process), {} routes", ROUTES.len()))));
        }
        BusChoice::EventBridge { bus } => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let eb = bus_eventbridge::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus);
            checks.push(check("event bus", eb.describe().await.map(|arn| format!("eventbridge {arn}, {} routes", ROUTES.len()))));
        }
    }
    Report { checks }
}
