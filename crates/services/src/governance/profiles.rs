//! What gaps, cards and maturity need to know about each workload, gathered once
//! from the workload, its requests, their approvals and the claims.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain::governance::approval::ModelApprovalScope;
use domain::governance::request::{BusinessCase, BusinessRequest, EstimateInput};
use domain::governance::workload::Workload;
use domain::{Money, UserId};
use serde_json::Value;

use super::{decode, encode, get_typed, keys, put_new, query_index_all, Governance, InboxItem, Result};
use crate::ports::store::{ItemData, ItemKey, WriteOp};

/// A workload with the figures analytics reads.
#[derive(Debug, Clone)]
pub struct WorkloadProfile {
    pub workload: Workload,
    /// The earliest claim date of any of its anchors.
    pub claimed_since: Option<NaiveDate>,
    /// The sum of its approvals' FA Confirmed Estimates (monthly).
    pub confirmed_estimate: Option<Money>,
    /// The Product Owner's own monthly estimate (imported, or a dollar budget on a request).
    pub po_estimate: Option<Money>,
    pub business_case: Option<BusinessCase>,
}

impl WorkloadProfile {
    /// The estimate cards compare with: FA Confirmed, else the PO's.
    pub fn estimate(&self) -> Option<(Money, domain::analytics::cards::EstimateSource)> {
        use domain::analytics::cards::EstimateSource;
        self.confirmed_estimate
            .map(|m| (m, EstimateSource::FaConfirmed))
            .or_else(|| self.po_estimate.map(|m| (m, EstimateSource::ProductOwner)))
    }

    pub fn has_estimate(&self) -> bool {
        self.confirmed_estimate.is_some() || self.po_estimate.is_some()
    }
}

impl Governance {
    /// Every workload's profile, by id.
    pub async fn workload_profiles(&self) -> Result<BTreeMap<domain::WorkloadId, WorkloadProfile>> {
        let workloads: Vec<Workload> = query_index_all(self.store.as_ref(), keys::WORKLOADS_INDEX).await?.iter().map(|i| decode(&i.attrs)).collect::<Result<_>>()?;
        let mut since: BTreeMap<domain::WorkloadId, NaiveDate> = BTreeMap::new();
        for c in self.all_claims().await? {
            let e = since.entry(c.workload.clone()).or_insert(c.claimed_at);
            *e = (*e).min(c.claimed_at);
        }
        let mut out = BTreeMap::new();
        for w in workloads {
            let (confirmed, po, case) = self.estimates_of(&w).await?;
            out.insert(
                w.id.clone(),
                WorkloadProfile { claimed_since: since.get(&w.id).copied(), confirmed_estimate: confirmed, po_estimate: po, business_case: case, workload: w },
            );
        }
        Ok(out)
    }

    /// A workload's FA Confirmed estimate (the sum of its approvals'), the
    /// Product Owner's own (imported, or dollar budgets on its requests) and
    /// its business case.
    pub(crate) async fn estimates_of(&self, w: &Workload) -> Result<(Option<Money>, Option<Money>, Option<BusinessCase>)> {
        let mut confirmed: Option<Money> = None;
        let mut po = w.monthly_estimate;
        let mut case = w.business_case.clone();
        for r in &w.requests {
            if let Some(a) = self.approval(r).await? {
                confirmed = Some(confirmed.unwrap_or(Money::ZERO) + a.confirmed_estimate);
            }
            if let Some((req, _)) = get_typed::<BusinessRequest>(self.store.as_ref(), ItemKey::new(keys::request(r), keys::META)).await? {
                if let Some(EstimateInput::MonthlyDollars { amount }) = req.draft.estimate {
                    po = Some(po.unwrap_or(Money::ZERO) + amount);
                }
                case = case.or(req.draft.business_case);
            }
        }
        Ok((confirmed, po, case))
    }

    pub async fn approval_scopes(&self) -> Result<Vec<ModelApprovalScope>> {
        query_index_all(self.store.as_ref(), keys::SCOPES_INDEX).await?.iter().map(|i| decode(&i.attrs)).collect()
    }

    /// A new message in a user's inbox, as a write to put in a transaction.
    pub(crate) fn inbox_op(&self, user: &UserId, kind: &str, subject: String, body: Value) -> Result<WriteOp> {
        let note = InboxItem { id: self.ids.next_id(), at: self.clock.now(), kind: kind.into(), subject, body };
        Ok(put_new(ItemData::new(ItemKey::new(keys::inbox(user), format!("{}#{}", note.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"), note.id)), encode(&note)?)))
    }
}
