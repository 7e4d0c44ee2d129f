//! A suspension whose policy write fails is completed by a retry, and by the
//! reconciler: the desired state was stored first, and the calls are planned
//! from what IAM holds, so only what is missing is done again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use contract_tests::governed_suite::approved;
use contract_tests::governed_world::{embedded_with_enforcer, finops_lead, product_owner};
use domain::governance::claims::ClaimKind;
use domain::governance::enforcement::{EnforcementState, IamCall, RoleRef, RoleState};
use services::governance::{ClaimInput, GovernanceError, SuspendInput};
use services::ports::{Enforcer, EnforcerError};

/// IAM that throttles the first `fail` policy writes.
struct Throttled {
    inner: Arc<dyn Enforcer>,
    fail: AtomicUsize,
}

#[async_trait]
impl Enforcer for Throttled {
    async fn observe(&self, role: &RoleRef) -> Result<RoleState, EnforcerError> {
        self.inner.observe(role).await
    }
    async fn call(&self, call: &IamCall) -> Result<(), EnforcerError> {
        if matches!(call, IamCall::PutRolePolicy { .. }) && self.fail.load(Ordering::SeqCst) > 0 {
            self.fail.fetch_sub(1, Ordering::SeqCst);
            return Err(EnforcerError::Unavailable("Throttling: rate exceeded".into()));
        }
        self.inner.call(call).await
    }
    async fn role_id(&self, role: &RoleRef) -> Result<String, EnforcerError> {
        self.inner.role_id(role).await
    }
    async fn observe_scp(&self, name: &str) -> Result<Option<domain::governance::enforcement::ScpState>, EnforcerError> {
        self.inner.observe_scp(name).await
    }
    async fn org_call(&self, call: &domain::governance::enforcement::OrgCall) -> Result<(), EnforcerError> {
        self.inner.org_call(call).await
    }
}

async fn world(fail: usize) -> (contract_tests::governed_world::World, domain::WorkloadId, RoleRef) {
    let w = embedded_with_enforcer(|inner| Arc::new(Throttled { inner, fail: AtomicUsize::new(fail) })).await;
    let (_, a) = approved(&w, "Chat").await;
    w.gov
        .claim(&product_owner(), ClaimInput { workload: a.workload.clone(), kind: ClaimKind::IamRole, arn: "arn:aws:iam::111122223333:role/finops-chat-x1".into(), claimed_at: None, rationale: None })
        .await
        .expect("claim");
    let role = RoleRef::role(domain::AccountId::parse("111122223333").unwrap(), "finops-chat-x1", domain::Partition::Aws);
    (w, a.workload, role)
}

#[tokio::test]
async fn a_failed_policy_write_is_completed_by_the_retry() {
    let (w, id, role) = world(1).await;
    let input = SuspendInput { rationale: "runaway".into(), ..Default::default() };
    let first = w.gov.suspend_workload(&product_owner(), &id, input.clone()).await;
    assert!(matches!(first, Err(GovernanceError::Unavailable(_))), "{first:?}");
    // The desired state stands, audited once.
    assert_eq!(w.gov.enforcement_status(&finops_lead()).await.unwrap()[0].state, EnforcementState::Suspended);
    assert!(w.enforcer.observe(&role).await.unwrap().policies.is_empty(), "IAM does not hold it yet");
    let retry = w.gov.suspend_workload(&product_owner(), &id, input).await.expect("the retry");
    assert_eq!(retry.calls.len(), 2, "{:?}", retry.calls);
    let held = w.enforcer.observe(&role).await.unwrap();
    assert!(!held.policies.is_empty() && held.suspended_tag);
    let trail = w.gov.audit_trail(&finops_lead(), "workload", id.as_str()).await.unwrap();
    assert_eq!(trail.iter().filter(|r| r.action == "suspend").count(), 1, "one decision, one record");
}

#[tokio::test]
async fn the_reconciler_completes_what_a_failure_left() {
    let (w, id, role) = world(1).await;
    assert!(w.gov.suspend_workload(&finops_lead(), &id, SuspendInput { rationale: "stop".into(), ..Default::default() }).await.is_err());
    let repaired = w.gov.reconcile_enforcement().await.expect("reconcile");
    assert_eq!(repaired.len(), 2, "{repaired:?}");
    assert!(w.enforcer.observe(&role).await.unwrap().policies.contains_key(domain::governance::enforcement::KILL_SWITCH_POLICY));
    assert!(w.gov.reconcile_enforcement().await.expect("again").is_empty());
}
