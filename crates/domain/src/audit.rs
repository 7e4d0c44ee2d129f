//! The governance record. Every state change appends one of these in the same
//! write as the change itself; none is ever updated or deleted.

use chrono::{DateTime, Utc};

use crate::actor::Actor;

/// The thing a record is about: a kind (`business_request`, `claim`, `gap`, …) and its id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EntityRef {
    pub kind: String,
    pub id: String,
}

impl EntityRef {
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self { kind: kind.into(), id: id.into() }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub entity: EntityRef,
    /// What was done (`approve`, `claim`, `forbidden`, …).
    pub action: String,
    /// The state before, where the entity has one (`Submitted`).
    pub from_state: Option<String>,
    /// The state after (`Approved`).
    pub to_state: Option<String>,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    /// Why, in the actor's words; required by the operations that demand it.
    pub rationale: Option<String>,
    /// Ties together the records and events of one request or one event chain.
    pub correlation_id: String,
}
