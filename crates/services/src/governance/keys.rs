//! Where each governance entity lives in the single table. One place, so the
//! layout can be read (and changed) as a whole.

use domain::{NodeId, RequestId, UserId, WorkloadId};

pub const META: &str = "META";
pub const APPROVAL: &str = "APPROVAL";
pub const TASKSET: &str = "TASKSET";
pub const ACTIVE: &str = "ACTIVE";
pub const NODES_INDEX: &str = "NODES";
pub const WORKLOADS_INDEX: &str = "WORKLOADS";
pub const CLAIMS_INDEX: &str = "CLAIMS";
pub const SCOPES_INDEX: &str = "SCOPES";
/// Models blocked from an allocation gap (read by the kill switch).
pub const BLOCKS_INDEX: &str = "BLOCKS";
/// Spend cards whose dispute waits for the FinOps Lead.
pub const DISPUTES_INDEX: &str = "DISPUTES#open";

pub fn request(id: &RequestId) -> String {
    format!("REQ#{id}")
}
/// Requests by status, for the FinOps Lead's queue and the task reconciler.
pub fn requests_index(status: &str) -> String {
    format!("REQUESTS#{status}")
}
pub fn task_sk(task_id: &str) -> String {
    format!("TASK#{task_id}")
}
/// Open (not Implemented) or done tasks, sorted by SLA due date.
pub fn tasks_index(open: bool) -> &'static str {
    if open {
        "TASKS#open"
    } else {
        "TASKS#done"
    }
}
pub fn workload(id: &WorkloadId) -> String {
    format!("WL#{id}")
}
pub fn node(id: &NodeId) -> String {
    format!("NODE#{id}")
}
/// Role names are unique: one reservation item per name.
pub fn role_name(name: &str) -> String {
    format!("ROLENAME#{name}")
}
pub fn claim(key: &str) -> String {
    format!("CLAIM#{key}")
}
pub fn scope(model: &str) -> String {
    format!("SCOPE#{model}")
}
pub fn inbox(user: &UserId) -> String {
    format!("INBOX#{user}")
}
/// Recovers the request from a task id (`domain::governance::tasks::task_id`).
pub fn request_of_task(task_id: &str) -> Option<RequestId> {
    domain::governance::tasks::parse_task_id(task_id).map(|(r, _)| r)
}
