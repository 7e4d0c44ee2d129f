//! `finops import`: existing governance state written in one validated step.
//!
//! The whole document is validated (against itself and the stored hierarchy,
//! workloads and claim locks) before the first write, so a bad file stores
//! nothing. The writes then go out in transactions of at most 25 items with
//! must-not-exist conditions; only a concurrent writer racing the import between
//! validation and write can fail a later batch, and then the error names the
//! entity it collided with.

use std::collections::BTreeSet;

use domain::cur::attribution::Attributor;
use domain::governance::approval::{ModelApprovalScope, Platform, INVOKE_ACTIONS};
use domain::governance::authz::Action;
use domain::governance::claims::Claim;
use domain::governance::import::ImportDoc;
use domain::governance::workload::{Workload, WorkloadStatus};
use domain::{Actor, EntityRef, RequestId, RolePattern, WorkloadId};
use serde::{Deserialize, Serialize};

use super::requests::workload_item;
use super::{encode, get_typed, keys, node_item, put_new, put_over, query_index_all, Governance, GovernanceError, Result};
use crate::ports::store::{IndexKey, ItemData, ItemKey, WriteOp};

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub nodes: usize,
    pub workloads: usize,
    pub approvals: usize,
    pub claims: usize,
    pub broad_role_patterns: Option<usize>,
}

/// Attribution's configuration item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AttributionConfig {
    broad_role_patterns: Vec<RolePattern>,
}

fn config_key() -> ItemKey {
    ItemKey::new("CONFIG#attribution", keys::META)
}

impl Governance {
    pub async fn import(&self, actor: &Actor, doc: ImportDoc) -> Result<ImportSummary> {
        let entity = EntityRef::new("import", "governance");
        self.authorize(actor, Action::ImportState, &entity).await?;
        let existing_h = self.hierarchy().await?;
        let existing_w: BTreeSet<WorkloadId> =
            query_index_all(self.store.as_ref(), keys::WORKLOADS_INDEX).await?.iter().filter_map(|i| i.key.pk.strip_prefix("WL#").and_then(|id| WorkloadId::parse(id).ok())).collect();
        let now = self.clock.now();
        let valid = doc.validate(&existing_h, &existing_w, now.date_naive()).map_err(GovernanceError::Invalid)?;
        let mut lock_versions = Vec::new();
        for t in &valid.claim_targets {
            lock_versions.push(self.free_lock(t).await?);
        }
        let config: Option<(AttributionConfig, u64)> = get_typed(self.store.as_ref(), config_key()).await?;
        let doc = valid.doc;
        let correlation = self.ids.next_id();
        let mut groups: Vec<Vec<WriteOp>> = Vec::new();
        let known: BTreeSet<_> = existing_h.nodes().map(|n| n.id.clone()).collect();
        let new_nodes: Vec<_> = doc.hierarchy.iter().filter(|n| !known.contains(&n.id)).collect();
        for n in &new_nodes {
            groups.push(vec![
                put_new(node_item(n)?),
                self.audit(EntityRef::new("node", n.id.as_str()), "import", (None, Some(&n.level.to_string())), actor, None, &correlation)?,
            ]);
        }
        for w in &doc.workloads {
            let workload = Workload {
                id: w.id.clone(),
                name: w.name.trim().to_owned(),
                portfolio: w.node.clone(),
                owner: w.owner.clone(),
                status: WorkloadStatus::Live,
                requests: Vec::new(),
                role_name: None,
                handoff: None,
                created_at: now,
                monthly_estimate: w.monthly_estimate,
                business_case: w.business_case.clone(),
                map_migrated: w.map_migrated.clone(),
            };
            groups.push(vec![
                put_new(workload_item(&workload)?),
                put_new(node_item(&w.node_of())?),
                self.audit(EntityRef::new("workload", w.id.as_str()), "import", (None, Some("Live")), actor, None, &correlation)?,
            ]);
        }
        for (i, a) in doc.approvals.iter().enumerate() {
            let request = RequestId::parse(&format!("import-{}-{i}", a.workload)).map_err(|e| GovernanceError::invalid(&format!("approvals[{i}]"), e.rule))?;
            let scope = ModelApprovalScope {
                request: request.clone(),
                workload: a.workload.clone(),
                platform: Platform::Bedrock,
                model: a.model.clone(),
                accounts: a.accounts.clone(),
                regions: a.regions.clone(),
                allowed_actions: INVOKE_ACTIONS.iter().map(|s| s.to_string()).collect(),
                agentic_access: false,
                cross_region_geo: None,
                approved_at: now,
            };
            groups.push(vec![
                put_new(
                    ItemData::new(ItemKey::new(keys::scope(scope.model.as_str()), keys::request(&request)), encode(&scope)?)
                        .with_index(IndexKey::new(keys::SCOPES_INDEX, format!("{}#{request}", scope.model))),
                ),
                self.audit(EntityRef::new("scope", request.as_str()), "import", (None, Some(a.model.as_str())), actor, None, &correlation)?,
            ]);
        }
        for ((c, target), lock_version) in doc.claims.iter().zip(&valid.claim_targets).zip(lock_versions) {
            let claim = Claim {
                target: target.clone(),
                workload: c.workload.clone(),
                claimed_at: c.claimed_at,
                claimed_by: actor.user.clone(),
                released_at: None,
                released_by: None,
            };
            groups.push(self.claim_ops(&claim, lock_version, actor, Some("imported"), &correlation)?);
        }
        if let Some(patterns) = &doc.broad_role_patterns {
            let item = ItemData::new(config_key(), encode(&AttributionConfig { broad_role_patterns: patterns.clone() })?);
            groups.push(vec![
                match &config {
                    None => put_new(item),
                    Some((_, v)) => put_over(item, *v),
                },
                self.audit(EntityRef::new("config", "attribution"), "import", (None, Some("broad_role_patterns")), actor, None, &correlation)?,
            ]);
        }
        // Parents before children: nodes come first, and each batch is whole
        // entities (an entity's items and its audit record stay together).
        self.store.transact_each(crate::ports::store::pack_transactions(groups)).await?;
        Ok(ImportSummary {
            nodes: new_nodes.len() + doc.workloads.len(),
            workloads: doc.workloads.len(),
            approvals: doc.approvals.len(),
            claims: doc.claims.len(),
            broad_role_patterns: doc.broad_role_patterns.as_ref().map(Vec::len),
        })
    }

    /// The attribution rules as configured now: every claim period ever
    /// recorded, and the broad-role patterns (PRODUCT.md's defaults unless
    /// imported).
    pub async fn attributor(&self) -> Result<Attributor> {
        Ok(self.attribution_inputs().await?.0)
    }

    /// The attributor, and a fingerprint of the rules it was built from
    /// (every claim period and the broad-role patterns): equal fingerprints,
    /// equal attribution of the same facts.
    pub(crate) async fn attribution_inputs(&self) -> Result<(Attributor, u64)> {
        use std::hash::{Hash, Hasher};
        let config: Option<(AttributionConfig, u64)> = get_typed(self.store.as_ref(), config_key()).await?;
        let claims = self.all_claims().await?;
        let broad_roles = config.map_or_else(RolePattern::defaults, |(c, _)| c.broad_role_patterns);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(&claims).map_err(|e| GovernanceError::Internal(e.to_string()))?.hash(&mut h);
        serde_json::to_string(&broad_roles).map_err(|e| GovernanceError::Internal(e.to_string()))?.hash(&mut h);
        Ok((Attributor { claims: domain::cur::attribution::ClaimBook::new(claims), broad_roles }, h.finish()))
    }
}
