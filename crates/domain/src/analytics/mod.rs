//! Governance analytics over attribution and the governed path: allocation gaps,
//! weekly spend cards and governance maturity. Pure rules; the services crate
//! gathers their inputs from the store.

pub mod cards;
pub mod chargeback;
pub mod gaps;
pub mod investigations;
pub mod live_vs_billed;
pub mod maturity;
