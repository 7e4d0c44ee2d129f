//! `finops import`: existing governance state (hierarchy, workloads, approvals,
//! claims, broad-role patterns), because real users have workloads before they
//! adopt the tool. The document is validated as a whole before anything is
//! written; every error names the entry and field (`claims[2].arn`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::claims::{ClaimKind, ClaimTarget};
use super::request::BusinessCase;
use super::FieldError;
use crate::arn::RolePattern;
use crate::hierarchy::{Hierarchy, HierarchyNode, Level};
use crate::ids::{AccountId, ModelId, NodeId, Region, UserId, WorkloadId};
use crate::money::Money;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportDoc {
    #[serde(default)]
    pub hierarchy: Vec<HierarchyNode>,
    #[serde(default)]
    pub workloads: Vec<ImportWorkload>,
    #[serde(default)]
    pub approvals: Vec<ImportApproval>,
    #[serde(default)]
    pub claims: Vec<ImportClaim>,
    #[serde(default)]
    pub broad_role_patterns: Option<Vec<RolePattern>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportWorkload {
    pub id: WorkloadId,
    pub name: String,
    /// The E3 portfolio the workload (an E4 product) belongs to.
    pub node: NodeId,
    pub owner: UserId,
    #[serde(default)]
    pub monthly_estimate: Option<Money>,
    #[serde(default)]
    pub business_case: Option<BusinessCase>,
    /// The workload's `map-migrated` tag value, when it is in a MAP engagement.
    #[serde(default)]
    pub map_migrated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportApproval {
    pub workload: WorkloadId,
    pub model: ModelId,
    pub accounts: Vec<AccountId>,
    pub regions: Vec<Region>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportClaim {
    pub workload: WorkloadId,
    pub arn: String,
    pub kind: ClaimKind,
    pub claimed_at: NaiveDate,
}

impl ImportWorkload {
    pub fn node_of(&self) -> HierarchyNode {
        HierarchyNode { id: NodeId::from(&self.id), level: Level::Product, name: self.name.clone(), parent: Some(self.node.clone()) }
    }
}

/// A validated import: the merged hierarchy it leads to, and the claim targets
/// parsed.
#[derive(Debug, Clone)]
pub struct ValidImport {
    pub doc: ImportDoc,
    pub hierarchy: Hierarchy,
    pub claim_targets: Vec<ClaimTarget>,
}

impl ImportDoc {
    /// Checks the document against itself and the existing hierarchy and
    /// workloads: nodes form a valid E1–E4 tree; workloads hang under E3
    /// portfolios; approvals and claims name known workloads; no anchor is
    /// claimed twice; claim dates are not after `today`.
    pub fn validate(self, existing: &Hierarchy, existing_workloads: &BTreeSet<WorkloadId>, today: NaiveDate) -> Result<ValidImport, FieldError> {
        let mut nodes: Vec<HierarchyNode> = existing.nodes().cloned().collect();
        let known: BTreeMap<NodeId, HierarchyNode> = nodes.iter().map(|n| (n.id.clone(), n.clone())).collect();
        for (i, n) in self.hierarchy.iter().enumerate() {
            match known.get(&n.id) {
                Some(same) if same == n => {}
                Some(_) => return Err(FieldError::new(format!("hierarchy[{i}]"), format!("node {} already exists with a different definition", n.id))),
                None => nodes.push(n.clone()),
            }
        }
        let portfolios = Hierarchy::build(nodes.clone()).map_err(|e| FieldError::new("hierarchy", e.to_string()))?;
        let hierarchy = &portfolios;
        let mut workloads = existing_workloads.clone();
        for (i, w) in self.workloads.iter().enumerate() {
            let at = |f: &str| format!("workloads[{i}].{f}");
            if w.name.trim().is_empty() {
                return Err(FieldError::new(at("name"), "is required"));
            }
            match hierarchy.node(&w.node) {
                None => return Err(FieldError::new(at("node"), format!("node {} is not in the hierarchy", w.node))),
                Some(n) if n.level != Level::Portfolio => {
                    return Err(FieldError::new(at("node"), format!("node {} is E{}; a workload belongs to an E3 portfolio", w.node, n.level.number())))
                }
                Some(_) => {}
            }
            if hierarchy.node(&NodeId::from(&w.id)).is_some() {
                return Err(FieldError::new(at("id"), format!("{} is already a hierarchy node", w.id)));
            }
            if w.monthly_estimate.is_some_and(|m| m.is_negative() || m > Money::MAX_INPUT) {
                return Err(FieldError::new(at("monthly_estimate"), "must be 0 to 10^15"));
            }
            if let Some(bc) = &w.business_case {
                bc.validate(&at("business_case"))?;
            }
            if let Some(tag) = &w.map_migrated {
                crate::governance::workload::check_map_tag(tag).map_err(|rule| FieldError::new(at("map_migrated"), rule))?;
            }
            if !workloads.insert(w.id.clone()) {
                return Err(FieldError::new(at("id"), format!("workload {} exists already or appears twice", w.id)));
            }
        }
        // Each workload is also its E4 node, under its portfolio.
        nodes.extend(self.workloads.iter().map(|w| w.node_of()));
        let hierarchy = Hierarchy::build(nodes).map_err(|e| FieldError::new("workloads", e.to_string()))?;
        for (i, a) in self.approvals.iter().enumerate() {
            let at = |f: &str| format!("approvals[{i}].{f}");
            if !workloads.contains(&a.workload) {
                return Err(FieldError::new(at("workload"), format!("workload {} is neither imported nor existing", a.workload)));
            }
            if a.accounts.is_empty() {
                return Err(FieldError::new(at("accounts"), "needs at least one account"));
            }
            if a.regions.is_empty() {
                return Err(FieldError::new(at("regions"), "needs at least one region"));
            }
        }
        let mut claim_targets = Vec::new();
        let mut anchors = BTreeSet::new();
        for (i, c) in self.claims.iter().enumerate() {
            let at = |f: &str| format!("claims[{i}].{f}");
            if !workloads.contains(&c.workload) {
                return Err(FieldError::new(at("workload"), format!("workload {} is neither imported nor existing", c.workload)));
            }
            let target = ClaimTarget::parse(c.kind, &c.arn).map_err(|e| FieldError::new(at("arn"), e.rule))?;
            if !anchors.insert(target.key.clone()) {
                return Err(FieldError::new(at("arn"), format!("{} is claimed twice in this file; one anchor has one workload", c.arn)));
            }
            if c.claimed_at > today {
                return Err(FieldError::new(at("claimed_at"), "may not be in the future"));
            }
            claim_targets.push(target);
        }
        Ok(ValidImport { doc: self, hierarchy, claim_targets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::json!({
            "hierarchy": [
                {"id": "retail", "level": 1, "name": "Retail", "parent": null},
                {"id": "digital", "level": 2, "name": "Digital", "parent": "retail"},
                {"id": "assistants", "level": 3, "name": "Assistants", "parent": "digital"}
            ],
            "workloads": [{"id": "chat", "name": "Chat", "node": "assistants", "owner": "po@example.com", "monthly_estimate": "1200.50",
                           "business_case": {"value_type": "cost_saving", "annual_baseline": "100000", "target_pct": "10"}}],
            "approvals": [{"workload": "chat", "model": "anthropic.claude-3-haiku-20240307-v1:0", "accounts": ["111122223333"], "regions": ["us-east-1"]}],
            "claims": [{"workload": "chat", "arn": "arn:aws:iam::111122223333:role/finops-chat-ab12", "kind": "iam_role", "claimed_at": "2026-03-10"}],
            "broad_role_patterns": ["AWSReservedSSO_*AdministratorAccess*", "ops-admin"]
        })
    }

    fn validate(v: serde_json::Value) -> Result<ValidImport, FieldError> {
        let d: ImportDoc = serde_json::from_value(v).map_err(|e| FieldError::new("document", e.to_string()))?;
        d.validate(&Hierarchy::build([]).unwrap(), &BTreeSet::new(), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap())
    }

    #[test]
    fn a_complete_document_validates() {
        let v = validate(doc()).unwrap();
        assert_eq!(v.claim_targets.len(), 1);
        assert_eq!(v.doc.broad_role_patterns.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn each_mistake_is_named_by_entry_and_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("/workloads/0/node", serde_json::json!("retail"), "workloads[0].node"),
            ("/workloads/0/name", serde_json::json!(" "), "workloads[0].name"),
            ("/approvals/0/workload", serde_json::json!("nope"), "approvals[0].workload"),
            ("/approvals/0/regions", serde_json::json!([]), "approvals[0].regions"),
            ("/claims/0/workload", serde_json::json!("nope"), "claims[0].workload"),
            ("/claims/0/arn", serde_json::json!("arn:aws:iam::1:role/x"), "claims[0].arn"),
            ("/claims/0/claimed_at", serde_json::json!("2026-05-01"), "claims[0].claimed_at"),
            ("/hierarchy/2/parent", serde_json::json!("ghost"), "hierarchy"),
            ("/workloads/0/business_case/target_pct", serde_json::json!("79228162514264337593543950335"), "workloads[0].business_case.target_pct"),
            ("/workloads/0/business_case/annual_baseline", serde_json::json!("0"), "workloads[0].business_case.annual_baseline"),
            ("/workloads/0/monthly_estimate", serde_json::json!("-1"), "workloads[0].monthly_estimate"),
        ];
        for (pointer, value, field) in cases {
            let mut d = doc();
            *d.pointer_mut(pointer).unwrap() = value;
            assert_eq!(validate(d).unwrap_err().field, field, "{pointer}");
        }
        for bad in ["", "mig<1>"] {
            let mut d = doc();
            d["workloads"][0]["map_migrated"] = serde_json::json!(bad);
            assert_eq!(validate(d).unwrap_err().field, "workloads[0].map_migrated", "{bad:?}");
        }
        let mut ok = doc();
        ok["workloads"][0]["map_migrated"] = serde_json::json!("migABCDE12345");
        assert!(validate(ok).is_ok());
        let mut twice = doc();
        let c = twice["claims"][0].clone();
        twice["claims"].as_array_mut().unwrap().push(c);
        assert_eq!(validate(twice).unwrap_err().field, "claims[1].arn");
    }

    #[test]
    fn money_must_be_a_decimal_string_and_unknown_fields_are_refused() {
        let mut d = doc();
        d["workloads"][0]["monthly_estimate"] = serde_json::json!(1200.5);
        assert!(validate(d).is_err());
        // The baseline that once took the gaps and maturity views down.
        let mut d = doc();
        d["workloads"][0]["business_case"]["annual_baseline"] = serde_json::json!("79228162514264337593543950335");
        assert!(validate(d).unwrap_err().rule.contains("10^15"));
        let mut d = doc();
        d["workloads"][0]["colour"] = serde_json::json!("blue");
        assert!(validate(d).unwrap_err().rule.contains("colour"));
    }
}
