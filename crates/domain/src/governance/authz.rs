//! Separation of duties: which persona may take which action (PRODUCT.md's table).
//! Scope (which part of the hierarchy) is checked separately, on the data.

use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Persona};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    SubmitRequest,
    ReviseRequest,
    ApproveRequest,
    RejectRequest,
    WorkTask,
    ClaimRole,
    ClaimInferenceProfile,
    AssignGuardrail,
    AssignWorkspace,
    ReleaseClaim,
    ManageHierarchy,
    /// Bulk onboarding of existing governance state (`finops import`).
    ImportState,
    /// The organisation-wide attribution and reconciliation reports.
    ViewAttribution,
    /// Record a claim from a date before today (re-attributes reported spend).
    BackdateClaim,
    /// Attributed spend of the workloads in one's own scope (the report routes,
    /// filtered by hierarchy for everyone but the FinOps Lead).
    ViewSpend,
    /// An inline action on an allocation gap (and recalling or resolving one).
    ActionGap,
    /// Assign, link or close an investigation (a signal from the live logs).
    ActionInvestigation,
    /// Accept or dispute a weekly spend card.
    ReviewCard,
    /// Resolve a disputed spend card.
    ResolveDispute,
    /// Approve a portfolio's weekly rollup of spend cards.
    ApproveRollup,
    /// Suspend or resume a workload (the kill switch): the owner for their
    /// own workload, the FinOps Lead for any.
    SuspendWorkload,
    Read,
}

impl Action {
    pub const ALL: [Action; 22] = [
        Action::SubmitRequest,
        Action::ReviseRequest,
        Action::ApproveRequest,
        Action::RejectRequest,
        Action::WorkTask,
        Action::ClaimRole,
        Action::ClaimInferenceProfile,
        Action::AssignGuardrail,
        Action::AssignWorkspace,
        Action::ReleaseClaim,
        Action::ManageHierarchy,
        Action::ImportState,
        Action::ViewAttribution,
        Action::ViewSpend,
        Action::BackdateClaim,
        Action::ActionGap,
        Action::ActionInvestigation,
        Action::ReviewCard,
        Action::ResolveDispute,
        Action::ApproveRollup,
        Action::SuspendWorkload,
        Action::Read,
    ];
}

/// Whether `persona` may take `action` at all.
pub fn permits(persona: Persona, action: Action) -> bool {
    use Action::*;
    use Persona::*;
    if !persona.is_human() {
        return false;
    }
    match action {
        Read => true,
        SubmitRequest | ReviseRequest | ClaimRole | ClaimInferenceProfile => persona == ProductOwner,
        ApproveRequest | RejectRequest | AssignGuardrail | AssignWorkspace | ManageHierarchy => persona == FinOpsLead,
        ReleaseClaim => matches!(persona, ProductOwner | FinOpsLead),
        WorkTask => persona == CloudEngineer,
        ImportState => persona == FinOpsLead,
        ViewAttribution => matches!(persona, FinOpsLead | Finance),
        ViewSpend => matches!(persona, FinOpsLead | Finance | ProductOwner | PortfolioOwner),
        BackdateClaim => persona == FinOpsLead,
        ActionGap | ActionInvestigation | ResolveDispute => persona == FinOpsLead,
        ReviewCard => persona == ProductOwner,
        ApproveRollup => persona == PortfolioOwner,
        SuspendWorkload => matches!(persona, ProductOwner | FinOpsLead),
    }
}

/// A refusal, with the reason shown to the caller and written to the audit record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Forbidden {
    pub persona: Persona,
    pub action: Action,
    pub reason: String,
}

fn owner_of(action: Action) -> &'static str {
    use Action::*;
    match action {
        SubmitRequest | ReviseRequest | ClaimRole | ClaimInferenceProfile => "the Product Owner",
        ApproveRequest | RejectRequest | AssignGuardrail | AssignWorkspace | ManageHierarchy => "the FinOps Lead",
        ReleaseClaim => "the Product Owner or the FinOps Lead",
        WorkTask => "the Cloud Engineer",
        ImportState => "the FinOps Lead",
        ViewAttribution => "the FinOps Lead or Finance",
        ViewSpend => "the FinOps Lead, Finance, Product and Portfolio Owners",
        BackdateClaim => "the FinOps Lead, with a rationale",
        ActionGap | ActionInvestigation | ResolveDispute => "the FinOps Lead",
        ReviewCard => "the Product Owner",
        ApproveRollup => "the Portfolio Owner",
        SuspendWorkload => "the workload's Product Owner or the FinOps Lead",
        Read => "everyone in scope",
    }
}

pub fn authorize(actor: &Actor, action: Action) -> Result<(), Forbidden> {
    if permits(actor.persona, action) {
        return Ok(());
    }
    Err(Forbidden {
        persona: actor.persona,
        action,
        reason: format!(
            "a {} may not {}: separation of duties gives it to {}",
            actor.persona,
            serde_json::to_value(action).ok().and_then(|v| v.as_str().map(|s| s.replace('_', " "))).unwrap_or_default(),
            owner_of(action)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    #[test]
    fn the_matrix_matches_product_md() {
        use Action::*;
        use Persona::*;
        let allowed: &[(Persona, &[Action])] = &[
            (ProductOwner, &[SubmitRequest, ReviseRequest, ClaimRole, ClaimInferenceProfile, ReleaseClaim, ReviewCard, ViewSpend, SuspendWorkload, Read]),
            (
                FinOpsLead,
                &[ApproveRequest, RejectRequest, AssignGuardrail, AssignWorkspace, ReleaseClaim, ManageHierarchy, ImportState, ViewAttribution, ViewSpend, BackdateClaim, ActionGap, ActionInvestigation, ResolveDispute, SuspendWorkload, Read],
            ),
            (CloudEngineer, &[WorkTask, Read]),
            (PortfolioOwner, &[ApproveRollup, ViewSpend, Read]),
            (Finance, &[ViewAttribution, ViewSpend, Read]),
            (System, &[]),
        ];
        for (persona, actions) in allowed {
            for action in Action::ALL {
                let actor = Actor::new(UserId::parse("u").unwrap(), *persona, vec![]);
                let r = authorize(&actor, action);
                assert_eq!(r.is_ok(), actions.contains(&action), "{persona} {action:?}");
                if let Err(f) = r {
                    assert!(f.reason.contains(persona.as_str()) && f.reason.contains("separation of duties"), "{}", f.reason);
                }
            }
        }
    }
}
