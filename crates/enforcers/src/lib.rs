//! The kill switch's adapters of [`services::ports::Enforcer`].
//!
//! - [`IamEnforcer`]: IAM itself. A role in the stack's own account is reached
//!   with the function's credentials; a role in a member account through the
//!   execution role the template names (`FINOPS_ENFORCER_ROLE`, default
//!   `FinOpsCenterEnforcer`), assumed with STS once per account and cached.
//! - [`LocalEnforcer`]: the local mode's record of what IAM would hold, kept
//!   in the store, so local mode and `finops demo` show the same states.

mod iam;
mod local;

pub use iam::{IamEnforcer, DEFAULT_EXECUTION_ROLE};
pub use local::LocalEnforcer;
