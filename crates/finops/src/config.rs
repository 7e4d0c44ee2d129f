//! Which adapters this process uses, from the environment.
//!
//! The default is the local embedded mode: the redb store under `FINOPS_HOME` and
//! the in-process bus. `FINOPS_STORE=dynamodb` + `FINOPS_TABLE`, and
//! `FINOPS_BUS=eventbridge` + `FINOPS_EVENT_BUS`, point the CLI at a deployed
//! stack (the same variables the template gives its functions). AWS endpoints,
//! region and credentials come from the standard AWS configuration chain
//! (including `AWS_ENDPOINT_URL_DYNAMODB`, which is how tests aim it at emulators).

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    Embedded { home: PathBuf },
    DynamoDb { table: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusChoice {
    Local,
    EventBridge { bus: String },
}

/// Where the fact ledger's objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerChoice {
    /// `HOME/facts/…`, beside the embedded store.
    Local { home: PathBuf },
    /// The stack's ledger bucket (its `LedgerBucketName` output).
    S3 { bucket: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub store: StoreChoice,
    pub bus: BusChoice,
    pub ledger: LedgerChoice,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("FINOPS_STORE must be `embedded` or `dynamodb`, not {0:?}")]
    UnknownStore(String),
    #[error("FINOPS_STORE=dynamodb needs FINOPS_TABLE, the table's name")]
    MissingTable,
    #[error("FINOPS_BUS must be `local` or `eventbridge`, not {0:?}")]
    UnknownBus(String),
    #[error("FINOPS_BUS=eventbridge needs FINOPS_EVENT_BUS, the bus's name")]
    MissingBus,
    #[error("FINOPS_STORE=dynamodb needs FINOPS_LEDGER_BUCKET, the stack's fact-ledger bucket (output LedgerBucketName): the table's manifests point into it")]
    MissingLedgerBucket,
}

impl Config {
    /// Reads the configuration through `var` (the process environment in
    /// production, a map in tests).
    pub fn from_env(home: PathBuf, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let store = match get("FINOPS_STORE").as_deref().map(str::trim) {
            None | Some("embedded") => StoreChoice::Embedded { home },
            Some("dynamodb") => StoreChoice::DynamoDb { table: get("FINOPS_TABLE").ok_or(ConfigError::MissingTable)? },
            Some(other) => return Err(ConfigError::UnknownStore(other.to_owned())),
        };
        let bus = match get("FINOPS_BUS").as_deref().map(str::trim) {
            None | Some("local") => BusChoice::Local,
            Some("eventbridge") => BusChoice::EventBridge { bus: get("FINOPS_EVENT_BUS").ok_or(ConfigError::MissingBus)? },
            Some(other) => return Err(ConfigError::UnknownBus(other.to_owned())),
        };
        let ledger = match (get("FINOPS_LEDGER_BUCKET"), &store) {
            (Some(bucket), _) => LedgerChoice::S3 { bucket: bucket.trim().to_owned() },
            (None, StoreChoice::DynamoDb { .. }) => return Err(ConfigError::MissingLedgerBucket),
            (None, StoreChoice::Embedded { home }) => LedgerChoice::Local { home: home.clone() },
        };
        Ok(Self { store, bus, ledger })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(PathBuf::from("/h"), |k| env.get(k).cloned())
    }

    #[test]
    fn defaults_to_the_embedded_mode() {
        assert_eq!(
            cfg(&[]).unwrap(),
            Config { store: StoreChoice::Embedded { home: "/h".into() }, bus: BusChoice::Local, ledger: LedgerChoice::Local { home: "/h".into() } }
        );
    }

    #[test]
    fn aws_adapters_need_their_names() {
        let c = cfg(&[("FINOPS_STORE", "dynamodb"), ("FINOPS_TABLE", "t"), ("FINOPS_BUS", "eventbridge"), ("FINOPS_EVENT_BUS", "b"), ("FINOPS_LEDGER_BUCKET", "l")]).unwrap();
        assert_eq!(c.store, StoreChoice::DynamoDb { table: "t".into() });
        assert_eq!(c.bus, BusChoice::EventBridge { bus: "b".into() });
        assert_eq!(c.ledger, LedgerChoice::S3 { bucket: "l".into() });
        assert_eq!(cfg(&[("FINOPS_STORE", "dynamodb")]).unwrap_err(), ConfigError::MissingTable);
        assert_eq!(cfg(&[("FINOPS_STORE", "dynamodb"), ("FINOPS_TABLE", "t")]).unwrap_err(), ConfigError::MissingLedgerBucket);
        assert_eq!(cfg(&[("FINOPS_BUS", "eventbridge")]).unwrap_err(), ConfigError::MissingBus);
    }

    #[test]
    fn unknown_values_are_named() {
        let e = cfg(&[("FINOPS_STORE", "postgres")]).unwrap_err();
        assert!(e.to_string().contains("FINOPS_STORE") && e.to_string().contains("postgres"), "{e}");
        assert!(cfg(&[("FINOPS_BUS", "kafka")]).unwrap_err().to_string().contains("kafka"));
    }
}
