//! The governed path (PRODUCT.md stages 1–4): requests, estimates, approvals,
//! Cloud Engineer tasks, claims, and who may do what.

pub mod approval;
pub mod authz;
pub mod catalog;
pub mod claims;
pub mod enforcement;
pub mod estimate;
pub mod iam;
pub mod import;
pub mod request;
pub mod tasks;
pub mod workload;

/// A rule broken by one field of an input; APIs return it as
/// `{"error": "invalid", "field": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct FieldError {
    pub field: String,
    pub rule: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self { field: field.into(), rule: rule.into() }
    }
}
