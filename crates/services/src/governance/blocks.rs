//! Model blocks in force: a gap's Block action records a `ModelBlock` and
//! publishes `ModelBlocked`; the kill switch makes IAM deny the model in the
//! block's accounts, and lifting the block (the FinOps Lead, with a
//! rationale) takes the deny away and publishes `ModelUnblocked`.
//!
//! Invariants:
//! - state is the truth: the desired deny of each account is computed from
//!   every block in the store (lifted ones contribute nothing), so applying
//!   twice changes nothing, a lost `ModelBlocked` is repaired by the nightly
//!   reconciler, and lifting one of two blocks on an account keeps the other;
//! - where Organizations is available (an SCP target installed), one SCP
//!   (`finops-model-blocks`) denies each blocked model to the accounts that
//!   block it; otherwise the deny is one inline policy (`finops-model-blocks`)
//!   on every role that runs AI in the account: the roles claimed there and
//!   the principals the blocks were raised on (a gap's principal is usually
//!   unclaimed);
//! - a block is never deleted: lifting stamps it, audited, in one write.

use std::collections::{BTreeMap, BTreeSet};

use domain::governance::authz::Action;
use domain::governance::claims::ClaimKind;
use domain::governance::enforcement::{model_block_deny, model_block_scp, plan_policy, plan_scp, IamCall, OrgCall, RoleRef, MODEL_BLOCK_POLICY, MODEL_BLOCK_SCP_NAME, SCP_MAX_CHARS};
use domain::{AccountId, Actor, EntityRef, Principal};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gaps::{BlockLift, ModelBlock};
use super::{decode, encode, events, keys, put_over, query_index_all, Governance, GovernanceError, Result};
use crate::ports::store::{Item, ItemData};
use crate::ports::EnforcerError;

/// What applying the blocks changed: IAM inline denies (no Organizations) or
/// the block SCP (once an SCP target is installed).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlockCalls {
    pub iam: Vec<IamCall>,
    pub org: Vec<OrgCall>,
}

impl BlockCalls {
    pub fn is_empty(&self) -> bool {
        self.iam.is_empty() && self.org.is_empty()
    }

    pub fn len(&self) -> usize {
        self.iam.len() + self.org.len()
    }

    /// Each call in its AWS CLI form.
    pub fn cli(&self) -> Vec<String> {
        self.iam.iter().map(IamCall::cli).chain(self.org.iter().map(OrgCall::cli)).collect()
    }
}

/// Why a block is lifted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftInput {
    pub rationale: String,
    /// Plan and return the exact calls; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The block's id when it was stored before blocks had one: from its key
/// (`BLOCK#{gap}#{n}`).
fn with_id(item: &Item) -> Result<ModelBlock> {
    let mut b: ModelBlock = decode(&item.attrs)?;
    if b.id.is_empty() {
        let mut parts = item.key.sk.splitn(3, '#').skip(1);
        if let (Some(gap), Some(n)) = (parts.next(), parts.next()) {
            b.id = format!("{gap}.b{n}");
        }
    }
    Ok(b)
}

impl Governance {
    /// Every model block, lifted or not (the FinOps Lead's and Finance's view).
    pub async fn list_blocks(&self, actor: &Actor) -> Result<Vec<ModelBlock>> {
        self.authorize(actor, Action::ViewAttribution, &EntityRef::new("block", "all")).await?;
        Ok(self.blocks().await?.into_iter().map(|(b, _)| b).collect())
    }

    async fn blocks(&self) -> Result<Vec<(ModelBlock, Item)>> {
        let mut out = Vec::new();
        for item in query_index_all(self.store.as_ref(), keys::BLOCKS_INDEX).await? {
            out.push((with_id(&item)?, item));
        }
        Ok(out)
    }

    /// Lifts a block: the FinOps Lead's decision, with a rationale. Lifting a
    /// lifted block changes nothing. The deny comes off at once.
    pub async fn lift_block(&self, actor: &Actor, id: &str, input: LiftInput) -> Result<(ModelBlock, BlockCalls)> {
        let e = EntityRef::new("block", id);
        self.authorize(actor, Action::ActionGap, &e).await?;
        if input.rationale.trim().is_empty() {
            return Err(GovernanceError::invalid("rationale", "is required: say why the model may run again"));
        }
        let (mut block, item) = self.blocks().await?.into_iter().find(|(b, _)| b.id == id).ok_or_else(|| GovernanceError::NotFound { what: "block", id: id.to_owned() })?;
        if input.dry_run {
            let calls = self.plan_model_blocks(Some(id)).await?;
            if block.lifted.is_none() {
                block.lifted = Some(BlockLift { by: actor.user.clone(), at: self.clock.now(), rationale: input.rationale.clone() });
            }
            return Ok((block, calls));
        }
        if block.lifted.is_none() {
            block.lifted = Some(BlockLift { by: actor.user.clone(), at: self.clock.now(), rationale: input.rationale.clone() });
            let correlation = self.ids.next_id();
            let mut data = ItemData::new(item.key.clone(), encode(&block)?);
            data.index = item.index.clone();
            self.store
                .transact(vec![put_over(data, item.version), self.audit(e, "lift", (Some("Blocked"), Some("Lifted")), actor, Some(&input.rationale), &correlation)?])
                .await
                .map_err(|err| match err {
                    crate::ports::StoreError::Conflict { .. } => GovernanceError::Conflict(format!("block {id} changed meanwhile; look again")),
                    other => other.into(),
                })?;
            self.publish(vec![self.event(events::MODEL_UNBLOCKED, &correlation, json!({"block": block}))]).await;
        }
        let calls = self.apply_model_blocks().await?;
        Ok((block, calls))
    }

    /// Makes IAM or Organizations deny exactly the models blocked in each
    /// account (nothing once all its blocks are lifted) and returns the calls
    /// it made. Where the organisation allows an SCP (a target installed), one SCP
    /// carries every block, above every role, claimed or not, and any inline
    /// block deny left from before comes off; otherwise each AI role of the
    /// account carries the inline deny. A role that no longer exists is
    /// skipped: nothing can run as it.
    pub async fn apply_model_blocks(&self) -> Result<BlockCalls> {
        let calls = self.plan_model_blocks(None).await?;
        let enforcer = self.enforcer()?;
        for c in &calls.org {
            enforcer.org_call(c).await.map_err(super::enforcement::unavailable)?;
        }
        for c in &calls.iam {
            enforcer.call(c).await.map_err(super::enforcement::unavailable)?;
        }
        Ok(calls)
    }

    /// The calls [`apply_model_blocks`](Self::apply_model_blocks) would make,
    /// with the block `lifting` taken as lifted (a lift's dry run); changes
    /// nothing.
    pub async fn plan_model_blocks(&self, lifting: Option<&str>) -> Result<BlockCalls> {
        let blocks = self.blocks().await?;
        if blocks.is_empty() {
            return Ok(BlockCalls::default());
        }
        let enforcer = self.enforcer()?;
        // Per account: the models blocked there now, and every role to hold it.
        let mut models: BTreeMap<AccountId, BTreeSet<String>> = BTreeMap::new();
        let mut by_model: BTreeMap<String, BTreeSet<AccountId>> = BTreeMap::new();
        let mut roles: BTreeMap<AccountId, BTreeSet<RoleRef>> = BTreeMap::new();
        for (b, _) in &blocks {
            for a in &b.accounts {
                let m = models.entry(a.clone()).or_default();
                let accounts = by_model.entry(b.model.clone()).or_default();
                if b.lifted.is_none() && lifting != Some(b.id.as_str()) {
                    m.insert(b.model.clone());
                    accounts.insert(a.clone());
                }
            }
            if let Some(Ok(Principal::Role { partition: p, account, name, .. })) = b.principal.as_deref().map(Principal::parse) {
                roles.entry(account.clone()).or_default().insert(RoleRef::role(account, name, p));
            }
        }
        let mut calls = BlockCalls::default();
        let scp_targets = self.scp_targets_in_force().await?;
        let through_scp = !scp_targets.is_empty();
        if through_scp {
            let desired = model_block_scp(self.partition, &by_model);
            if let Some(d) = &desired {
                let size = serde_json::to_string(d).map_or(0, |t| t.len());
                if size > SCP_MAX_CHARS {
                    return Err(GovernanceError::Conflict(format!(
                        "the {} blocked model(s) need an SCP of {size} characters, over Organizations' {SCP_MAX_CHARS}: lift some blocks"
                    , by_model.values().filter(|a| !a.is_empty()).count())));
                }
            }
            let now = enforcer.observe_scp(MODEL_BLOCK_SCP_NAME).await.map_err(super::enforcement::unavailable)?;
            let description = "FinOps Center: models blocked from allocation gaps, denied to the accounts that block them";
            calls.org = plan_scp(MODEL_BLOCK_SCP_NAME, description, now.as_ref(), desired.as_ref(), &scp_targets);
        }
        let today = self.clock.now().date_naive();
        for c in self.all_claims().await? {
            if c.target.kind != ClaimKind::IamRole || c.released_at.is_some_and(|r| r <= today) {
                continue;
            }
            if let Ok(Principal::Role { partition: p, account, name, .. }) = Principal::parse(&c.target.arn) {
                if models.contains_key(&account) {
                    roles.entry(account.clone()).or_default().insert(RoleRef::role(account, name, p));
                }
            }
        }
        for (account, refs) in &roles {
            let blocked: Vec<String> = if through_scp { Vec::new() } else { models.get(account).map(|m| m.iter().cloned().collect()).unwrap_or_default() };
            for role in refs {
                let desired = model_block_deny(role.partition, &blocked);
                let now = match enforcer.observe(role).await {
                    Ok(now) => now,
                    Err(EnforcerError::NoSuchRole(r)) => {
                        tracing::info!(role = %r, "model block: role gone, skipped");
                        continue;
                    }
                    Err(e) => return Err(super::enforcement::unavailable(e)),
                };
                calls.iam.extend(plan_policy(role, &now, MODEL_BLOCK_POLICY, desired.as_ref()));
            }
        }
        Ok(calls)
    }
}

/// The kill switch's logical id: it consumes `ModelBlocked`.
pub const KILL_SWITCH: &str = "KillSwitchFunction";

/// The kill switch as an event consumer (`ModelBlocked`): applies every
/// account's blocks from the store, so a duplicate or late delivery changes
/// nothing and a lost one is repaired by the nightly reconciler.
pub struct ModelBlockHandler(pub std::sync::Arc<Governance>);

#[async_trait::async_trait]
impl crate::ports::bus::EventHandler for ModelBlockHandler {
    async fn handle(&self, event: &crate::ports::bus::DomainEvent) -> std::result::Result<(), crate::ports::bus::HandlerError> {
        let fail = |message: String| crate::ports::bus::HandlerError { consumer: KILL_SWITCH.into(), event_id: event.id.clone(), message };
        if event.detail_type != events::MODEL_BLOCKED {
            return Err(fail(format!("does not handle {}", event.detail_type)));
        }
        let calls = self.0.apply_model_blocks().await.map_err(|e| fail(e.to_string()))?;
        tracing::info!(iam = calls.iam.len(), org = calls.org.len(), event = %event.id, "model blocks applied");
        Ok(())
    }
}
