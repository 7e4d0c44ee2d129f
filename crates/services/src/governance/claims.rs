//! Stage 4: claims. One anchor (role, application inference profile, guardrail,
//! workspace) has at most one active claim: an `ACTIVE` lock item is written
//! must-not-exist (or over its released version), so two concurrent claims cannot
//! both win. Each claim period is a history item that is never deleted; releasing
//! stamps it. Attribution reads the periods through the `CLAIMS` index.

use chrono::NaiveDate;
use domain::governance::authz::Action;
use domain::governance::claims::{Claim, ClaimKind, ClaimTarget};
use domain::governance::workload::WorkloadStatus;
use domain::{Actor, EntityRef, NodeId, WorkloadId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::requests::workload_item;
use super::{decode, encode, events, get_typed, keys, put_new, put_over, query_index_all, Governance, GovernanceError, Result};
use crate::ports::store::{IndexKey, ItemData, ItemKey, WriteOp};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimInput {
    pub workload: WorkloadId,
    pub kind: ClaimKind,
    pub arn: String,
    /// Defaults to today; may not be in the future. A claim dates from when
    /// it is made: an earlier date moves attribution backwards, so it is the
    /// FinOps Lead's alone, with a rationale, and audited as a backdating.
    #[serde(default)]
    pub claimed_at: Option<NaiveDate>,
    /// Why a claim is backdated (required then).
    #[serde(default)]
    pub rationale: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    pub kind: ClaimKind,
    pub arn: String,
    pub rationale: String,
}

/// The lock on an anchor: who holds it now, and where that claim's history item is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ActiveLock {
    holder: Option<WorkloadId>,
    history_sk: Option<String>,
}

fn action_for(kind: ClaimKind) -> Action {
    match kind {
        ClaimKind::IamRole | ClaimKind::RoleSession => Action::ClaimRole,
        ClaimKind::InferenceProfile => Action::ClaimInferenceProfile,
        ClaimKind::Guardrail => Action::AssignGuardrail,
        ClaimKind::Workspace => Action::AssignWorkspace,
    }
}

fn history_item(claim: &Claim, sk: &str) -> Result<ItemData> {
    Ok(ItemData::new(ItemKey::new(keys::claim(&claim.target.key), sk), encode(claim)?)
        .with_index(IndexKey::new(keys::CLAIMS_INDEX, format!("{}#{sk}", claim.target.key))))
}

impl Governance {
    pub async fn claim(&self, actor: &Actor, input: ClaimInput) -> Result<Claim> {
        let target = ClaimTarget::parse(input.kind, &input.arn).map_err(GovernanceError::Invalid)?;
        let e = EntityRef::new("claim", &target.key);
        let today = self.clock.now().date_naive();
        let claimed_at = input.claimed_at.unwrap_or(today);
        let backdated = claimed_at < today;
        // Backdating re-attributes spend already reported: the FinOps Lead's
        // decision, not the claimant's.
        self.authorize(actor, if backdated { Action::BackdateClaim } else { action_for(input.kind) }, &e).await?;
        if claimed_at > today {
            return Err(GovernanceError::invalid("claimed_at", "may not be in the future: spend is attributed from the claim date forward, never ahead"));
        }
        let rationale = input.rationale.as_deref().map(str::trim).filter(|r| !r.is_empty());
        if backdated && rationale.is_none() {
            return Err(GovernanceError::invalid("rationale", "is required to backdate a claim: it moves attribution already reported"));
        }
        let (mut workload, wv) = self.load_workload(&input.workload).await.map_err(|err| match err {
            GovernanceError::NotFound { .. } => GovernanceError::invalid("workload", format!("workload {} does not exist", input.workload)),
            other => other,
        })?;
        let h = self.hierarchy().await?;
        self.require_scope(actor, &h, &NodeId::from(&workload.id), &e).await?;

        let lock_version = self.free_lock(&target).await?;
        let claim = Claim { target: target.clone(), workload: workload.id.clone(), claimed_at, claimed_by: actor.user.clone(), released_at: None, released_by: None };
        let correlation = self.ids.next_id();
        let mut ops = self.claim_ops(&claim, lock_version, actor, rationale, &correlation)?;
        if backdated {
            let states = (Some(today.to_string()), Some(claimed_at.to_string()));
            ops.push(self.audit(e.clone(), "claim_backdated", (states.0.as_deref(), states.1.as_deref()), actor, rationale, &correlation)?);
        }
        if workload.status == WorkloadStatus::ReadyToClaim {
            workload.status = WorkloadStatus::Live;
            ops.push(put_over(workload_item(&workload)?, wv));
            ops.push(self.audit(EntityRef::new("workload", workload.id.as_str()), "claim", (Some("ReadyToClaim"), Some("Live")), actor, None, &correlation)?);
        }
        self.store.transact(ops).await.map_err(|err| match err {
            crate::ports::store::StoreError::Conflict { .. } => GovernanceError::Conflict(format!("{} was claimed by someone else meanwhile", target.arn)),
            other => other.into(),
        })?;
        self.publish(vec![self.event(events::CLAIM_RECORDED, &correlation, json!({"claim": claim}))]).await;
        Ok(claim)
    }

    /// The writes that record a claim: the anchor's lock (over `lock_version`
    /// when a released lock exists), the claim period's history item and its
    /// audit record.
    pub(crate) fn claim_ops(&self, claim: &Claim, lock_version: Option<u64>, actor: &Actor, rationale: Option<&str>, correlation: &str) -> Result<Vec<WriteOp>> {
        let history_sk = format!("H#{}#{}", claim.claimed_at, self.ids.next_id());
        let lock = ActiveLock { holder: Some(claim.workload.clone()), history_sk: Some(history_sk.clone()) };
        let lock_item = ItemData::new(ItemKey::new(keys::claim(&claim.target.key), keys::ACTIVE), encode(&lock)?);
        Ok(vec![
            match lock_version {
                None => put_new(lock_item),
                Some(v) => put_over(lock_item, v),
            },
            put_new(history_item(claim, &history_sk)?),
            self.audit(EntityRef::new("claim", &claim.target.key), "claim", (None, Some(claim.workload.as_str())), actor, rationale, correlation)?,
        ])
    }

    /// Whether an anchor is free to claim: `Ok(None)` never claimed,
    /// `Ok(Some(version))` released, `Err(Conflict)` held.
    pub(crate) async fn free_lock(&self, target: &ClaimTarget) -> Result<Option<u64>> {
        let existing: Option<(ActiveLock, u64)> = get_typed(self.store.as_ref(), ItemKey::new(keys::claim(&target.key), keys::ACTIVE)).await?;
        match existing {
            Some((ActiveLock { holder: Some(holder), .. }, _)) => {
                Err(GovernanceError::Conflict(format!("{} is already claimed by workload {holder}; release it first", target.arn)))
            }
            Some((_, v)) => Ok(Some(v)),
            None => Ok(None),
        }
    }

    /// Ends the active claim on an anchor from today. The claim period stays in
    /// the record; spend before today stays with the workload.
    pub async fn release_claim(&self, actor: &Actor, input: ReleaseInput) -> Result<Claim> {
        let target = ClaimTarget::parse(input.kind, &input.arn).map_err(GovernanceError::Invalid)?;
        let e = EntityRef::new("claim", &target.key);
        self.authorize(actor, Action::ReleaseClaim, &e).await?;
        if input.rationale.trim().is_empty() {
            return Err(GovernanceError::invalid("rationale", "is required"));
        }
        let lock_key = ItemKey::new(keys::claim(&target.key), keys::ACTIVE);
        let not_claimed = || GovernanceError::Conflict(format!("{} has no active claim", target.arn));
        let (lock, lv): (ActiveLock, u64) = get_typed(self.store.as_ref(), lock_key.clone()).await?.ok_or_else(not_claimed)?;
        let (Some(holder), Some(sk)) = (lock.holder, lock.history_sk) else { return Err(not_claimed()) };
        let h = self.hierarchy().await?;
        self.require_scope(actor, &h, &NodeId::from(&holder), &e).await?;
        let (mut claim, hv): (Claim, u64) = get_typed(self.store.as_ref(), ItemKey::new(keys::claim(&target.key), sk.as_str()))
            .await?
            .ok_or_else(|| GovernanceError::Internal(format!("claim history {sk} missing")))?;
        claim.released_at = Some(self.clock.now().date_naive());
        claim.released_by = Some(actor.user.clone());
        let correlation = self.ids.next_id();
        self.store
            .transact(vec![
                put_over(ItemData::new(lock_key, encode(&ActiveLock { holder: None, history_sk: None })?), lv),
                put_over(history_item(&claim, &sk)?, hv),
                self.audit(e, "release", (Some(holder.as_str()), None), actor, Some(&input.rationale), &correlation)?,
            ])
            .await?;
        self.publish(vec![self.event(events::CLAIM_RELEASED, &correlation, json!({"claim": claim}))]).await;
        Ok(claim)
    }

    /// Every claim period ever recorded (active and released), for attribution.
    pub async fn all_claims(&self) -> Result<Vec<Claim>> {
        let items = query_index_all(self.store.as_ref(), keys::CLAIMS_INDEX).await?;
        items.iter().map(|i| decode(&i.attrs)).collect()
    }

    /// A workload's claims (active and released), in the caller's scope.
    pub async fn claims_of(&self, actor: &Actor, workload: &WorkloadId) -> Result<Vec<Claim>> {
        self.get_workload(actor, workload).await?;
        Ok(self.all_claims().await?.into_iter().filter(|c| &c.workload == workload).collect())
    }
}
