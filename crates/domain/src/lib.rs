//! The pure core of FinOps Center.
//!
//! Everything here is a value or a rule: no I/O, no async, no AWS SDK types.
//! Identifiers are validated newtypes built with `parse`, so a value that exists is
//! a value that is valid; code further out never re-checks them.

mod error;
mod ids;
mod arn;
mod money;
mod period;
mod hierarchy;
mod actor;
mod audit;
pub mod analytics;
pub mod cur;
pub mod governance;
pub mod invocations;
pub mod agent;
pub mod exports;

pub use actor::{Actor, Persona};
pub use arn::{
    GuardrailArn, IamRoleArn, InferenceProfileArn, InferenceProfileKind, Partition, Principal,
    RoleKey, RolePattern,
};
pub use audit::{AuditRecord, EntityRef};
pub use error::ParseError;
pub use hierarchy::{Hierarchy, HierarchyError, HierarchyNode, Level};
pub use ids::{AccountId, ModelId, NodeId, Region, RequestId, UserId, WorkloadId};
pub use money::Money;
pub use period::{BillingPeriod, IsoWeek};
