//! Stage 1 of the governed path: the Product Owner's Business Request.
//!
//! The PO describes the workload, not the infrastructure: no platform, model,
//! account or region is asked of them. Those are the FinOps Lead's decisions at
//! approval.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::FieldError;
use crate::ids::{NodeId, RequestId, UserId, WorkloadId};
use crate::money::Money;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseCase {
    Infrastructure,
    /// Developer productivity: the estimate follows from developers × share of workday.
    Coding,
    /// Customer support, automation, internal tools.
    Operations,
}

/// Where the workload's code runs; it decides the generated IAM trust policy.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    Lambda,
    Ecs,
    Ec2,
    Eks,
    Agentcore,
    AppRunner,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Standard,
    /// Production / HA: cross-region inference, which carries a price premium.
    HighAvailability,
}

/// The most tokens of one kind a monthly estimate may name: 10^15, a million
/// times a large estate's month, and small enough that three of them add up
/// inside `u64`.
pub const MAX_TOKENS: u64 = 1_000_000_000_000_000;

/// The PO's monthly budget, in dollars or in tokens.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EstimateInput {
    MonthlyDollars { amount: Money },
    MonthlyTokens { input: u64, output: u64, cache_read: u64 },
}

/// The inputs of a Coding estimate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodingProfile {
    pub developers: u32,
    /// Share of the workday spent using AI, in percent (0 < x ≤ 100).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub workday_share_pct: Decimal,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    CostSaving,
    RevenueDriving,
}

/// Declared, not realised, value: what the investment is funded to produce.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessCase {
    pub value_type: ValueType,
    pub annual_baseline: Money,
    /// Target improvement on the baseline, in percent.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub target_pct: Decimal,
}

impl BusinessCase {
    /// Declared annual opportunity = baseline × target %. Validated cases are
    /// far inside `Decimal`'s range; the checked product keeps a read view
    /// serving (saturated, never a panic) even for a record written before the
    /// bounds existed.
    pub fn annual_opportunity(&self) -> Money {
        let pct = self.target_pct.checked_div(Decimal::ONE_HUNDRED).unwrap_or(Decimal::MAX);
        Money::new(self.annual_baseline.amount().checked_mul(pct).unwrap_or(Decimal::MAX))
    }

    /// The bounds every business case keeps, wherever it enters (a request or
    /// an import): a baseline above 0 and within [`Money::MAX_INPUT`], a target
    /// above 0 and at most 1000 %. `at` prefixes the field names.
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        let amount = self.annual_baseline.amount();
        if amount <= Decimal::ZERO || amount > Money::MAX_INPUT.amount() {
            return Err(FieldError::new(format!("{at}.annual_baseline"), "must be more than 0 and at most 10^15"));
        }
        if self.target_pct <= Decimal::ZERO || self.target_pct > Decimal::from(1000) {
            return Err(FieldError::new(format!("{at}.target_pct"), "must be more than 0 and at most 1000"));
        }
        Ok(())
    }

    /// A month's share of the declared opportunity, to the cent.
    pub fn monthly_opportunity(&self) -> Money {
        Money::new(self.annual_opportunity().amount() / Decimal::from(12)).round_cents()
    }
}

/// A new workload, or an AI component added to an existing one (no new workload:
/// spend rolls up to the parent).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    NewWorkload { name: String, portfolio: NodeId },
    ExistingWorkload { workload: WorkloadId },
}

/// Everything the PO fills in; validated as a whole by [`RequestDraft::validate`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDraft {
    pub target: Target,
    pub use_case: UseCase,
    pub description: String,
    pub runtime: Runtime,
    pub availability: Availability,
    #[serde(default)]
    pub coding: Option<CodingProfile>,
    #[serde(default)]
    pub estimate: Option<EstimateInput>,
    #[serde(default)]
    pub business_case: Option<BusinessCase>,
}

pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_NAME_CHARS: usize = 100;

impl RequestDraft {
    /// Every rule a draft must meet to be submitted; the first broken rule is
    /// returned, naming its field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Target::NewWorkload { name, .. } = &self.target {
            let n = name.trim().chars().count();
            if n == 0 || name.chars().count() > MAX_NAME_CHARS {
                return Err(FieldError::new("target.name", format!("must be 1 to {MAX_NAME_CHARS} characters")));
            }
        }
        let d = self.description.trim().chars().count();
        if d == 0 || self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(FieldError::new("description", format!("must be 1 to {MAX_DESCRIPTION_CHARS} characters")));
        }
        match (&self.use_case, &self.coding) {
            (UseCase::Coding, None) => {
                return Err(FieldError::new("coding", "is required for the Coding use case (developers and workday share)"))
            }
            (UseCase::Coding, Some(c)) => {
                if c.developers == 0 || c.developers > 100_000 {
                    return Err(FieldError::new("coding.developers", "must be 1 to 100000"));
                }
                if c.workday_share_pct <= Decimal::ZERO || c.workday_share_pct > Decimal::ONE_HUNDRED {
                    return Err(FieldError::new("coding.workday_share_pct", "must be more than 0 and at most 100"));
                }
            }
            (_, Some(_)) => return Err(FieldError::new("coding", "applies only to the Coding use case")),
            (_, None) => {}
        }
        match &self.estimate {
            None if self.use_case != UseCase::Coding => {
                return Err(FieldError::new("estimate", "a monthly budget in dollars or tokens is required"))
            }
            Some(EstimateInput::MonthlyDollars { amount }) if amount.amount() <= Decimal::ZERO || *amount > Money::MAX_INPUT => {
                return Err(FieldError::new("estimate.amount", "must be more than 0 and at most 10^15"))
            }
            Some(EstimateInput::MonthlyTokens { input, output, cache_read }) => {
                for (name, n) in [("input", input), ("output", output), ("cache_read", cache_read)] {
                    if *n > MAX_TOKENS {
                        return Err(FieldError::new(format!("estimate.{name}"), "must be at most 10^15 tokens a month"));
                    }
                }
                if input + output + cache_read == 0 {
                    return Err(FieldError::new("estimate", "at least one token count must be more than 0"));
                }
            }
            _ => {}
        }
        if let Some(bc) = &self.business_case {
            bc.validate("business_case")?;
        }
        Ok(())
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequestStatus {
    Draft,
    Submitted,
    Approved,
    Rejected,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Submitted => "Submitted",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
        }
    }
}

/// An action that the request's current status does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("business request {request} is {status:?}; it cannot be {action}")]
pub struct TransitionError {
    pub request: RequestId,
    pub status: RequestStatus,
    pub action: &'static str,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessRequest {
    pub id: RequestId,
    pub requester: UserId,
    pub draft: RequestDraft,
    pub status: RequestStatus,
    /// Goes up each time a rejected request is revised.
    pub revision: u32,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The FinOps Lead's reason, for approvals and rejections.
    pub decision_rationale: Option<String>,
}

impl BusinessRequest {
    pub fn new(id: RequestId, requester: UserId, draft: RequestDraft, at: DateTime<Utc>) -> Self {
        Self {
            id,
            requester,
            draft,
            status: RequestStatus::Draft,
            revision: 0,
            created_at: at,
            submitted_at: None,
            decided_at: None,
            decision_rationale: None,
        }
    }

    fn refuse(&self, action: &'static str) -> TransitionError {
        TransitionError { request: self.id.clone(), status: self.status, action }
    }

    /// Draft → Submitted. The draft must be valid.
    pub fn submit(&mut self, at: DateTime<Utc>) -> Result<(), SubmitError> {
        if self.status != RequestStatus::Draft {
            return Err(SubmitError::Transition(self.refuse("submitted")));
        }
        self.draft.validate().map_err(SubmitError::Invalid)?;
        self.status = RequestStatus::Submitted;
        self.submitted_at = Some(at);
        Ok(())
    }

    /// Replaces the draft. A rejected request goes back to Draft as a new revision.
    pub fn revise(&mut self, draft: RequestDraft) -> Result<(), TransitionError> {
        match self.status {
            RequestStatus::Draft => {}
            RequestStatus::Rejected => {
                self.revision += 1;
                self.status = RequestStatus::Draft;
                self.submitted_at = None;
                self.decided_at = None;
            }
            _ => return Err(self.refuse("revised")),
        }
        self.draft = draft;
        Ok(())
    }

    /// Submitted → Approved or Rejected, with the FinOps Lead's rationale.
    pub fn decide(&mut self, approve: bool, rationale: &str, at: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.status != RequestStatus::Submitted {
            return Err(self.refuse(if approve { "approved" } else { "rejected" }));
        }
        self.status = if approve { RequestStatus::Approved } else { RequestStatus::Rejected };
        self.decided_at = Some(at);
        self.decision_rationale = Some(rationale.trim().to_owned());
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Transition(TransitionError),
    #[error(transparent)]
    Invalid(FieldError),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn draft() -> RequestDraft {
        RequestDraft {
            target: Target::NewWorkload { name: "Support Chatbot".into(), portfolio: NodeId::parse("assist").unwrap() },
            use_case: UseCase::Operations,
            description: "Answers tier-1 support questions".into(),
            runtime: Runtime::Lambda,
            availability: Availability::Standard,
            coding: None,
            estimate: Some(EstimateInput::MonthlyDollars { amount: Money::parse("1200").unwrap() }),
            business_case: Some(BusinessCase {
                value_type: ValueType::CostSaving,
                annual_baseline: Money::parse("500000").unwrap(),
                target_pct: Decimal::from(12),
            }),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn opportunity_is_baseline_times_target() {
        assert_eq!(draft().business_case.unwrap().annual_opportunity(), Money::parse("60000").unwrap());
        // A record from before the bounds saturates instead of panicking every
        // caller of the gaps and maturity views.
        let huge = BusinessCase { value_type: ValueType::CostSaving, annual_baseline: Money::new(Decimal::MAX), target_pct: Decimal::from(1000) };
        assert_eq!(huge.annual_opportunity().amount(), Decimal::MAX);
        assert!(huge.monthly_opportunity().amount() > Decimal::ZERO);
    }

    #[test]
    fn validation_names_the_field() {
        type Mutation = Box<dyn Fn(&mut RequestDraft)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|d| d.description = "x".repeat(501)), "description"),
            (Box::new(|d| d.description = "  ".into()), "description"),
            (Box::new(|d| d.target = Target::NewWorkload { name: "".into(), portfolio: NodeId::parse("p").unwrap() }), "target.name"),
            (Box::new(|d| d.estimate = None), "estimate"),
            (Box::new(|d| d.estimate = Some(EstimateInput::MonthlyDollars { amount: Money::ZERO })), "estimate.amount"),
            (Box::new(|d| d.estimate = Some(EstimateInput::MonthlyTokens { input: 0, output: 0, cache_read: 0 })), "estimate"),
            (Box::new(|d| d.use_case = UseCase::Coding), "coding"),
            (Box::new(|d| d.coding = Some(CodingProfile { developers: 3, workday_share_pct: Decimal::TEN })), "coding"),
            (
                Box::new(|d| {
                    d.use_case = UseCase::Coding;
                    d.coding = Some(CodingProfile { developers: 0, workday_share_pct: Decimal::TEN });
                }),
                "coding.developers",
            ),
            (
                Box::new(|d| {
                    d.use_case = UseCase::Coding;
                    d.coding = Some(CodingProfile { developers: 5, workday_share_pct: Decimal::from(101) });
                }),
                "coding.workday_share_pct",
            ),
            (Box::new(|d| d.business_case.as_mut().unwrap().target_pct = Decimal::ZERO), "business_case.target_pct"),
            (Box::new(|d| d.business_case.as_mut().unwrap().annual_baseline = Money::ZERO), "business_case.annual_baseline"),
            (Box::new(|d| d.business_case.as_mut().unwrap().annual_baseline = Money::new(Decimal::MAX)), "business_case.annual_baseline"),
            (Box::new(|d| d.business_case.as_mut().unwrap().target_pct = Decimal::MAX), "business_case.target_pct"),
            (Box::new(|d| d.estimate = Some(EstimateInput::MonthlyDollars { amount: Money::new(Decimal::MAX) })), "estimate.amount"),
            // u64::MAX + 1 wrapped to a misleading "at least one must be more than 0".
            (Box::new(|d| d.estimate = Some(EstimateInput::MonthlyTokens { input: u64::MAX, output: 1, cache_read: 0 })), "estimate.input"),
            (Box::new(|d| d.estimate = Some(EstimateInput::MonthlyTokens { input: 1, output: 1, cache_read: MAX_TOKENS + 1 })), "estimate.cache_read"),
        ];
        for (mutate, field) in cases {
            let mut d = draft();
            mutate(&mut d);
            assert_eq!(d.validate().unwrap_err().field, field);
        }
        assert!(draft().validate().is_ok());
        let mut coding = draft();
        coding.use_case = UseCase::Coding;
        coding.estimate = None;
        coding.coding = Some(CodingProfile { developers: 40, workday_share_pct: Decimal::from(25) });
        assert!(coding.validate().is_ok(), "a Coding estimate is derived, not typed");
    }

    #[test]
    fn status_machine() {
        let t = at("2026-03-02T09:00:00Z");
        let mut r = BusinessRequest::new(RequestId::parse("br-1").unwrap(), UserId::parse("po").unwrap(), draft(), t);
        assert!(r.decide(true, "ok", t).is_err(), "a draft cannot be approved");
        r.submit(t).unwrap();
        assert!(matches!(r.submit(t), Err(SubmitError::Transition(_))));
        assert!(r.revise(draft()).is_err(), "a submitted request is not revised in place");
        r.decide(false, "too expensive", t).unwrap();
        assert_eq!(r.status, RequestStatus::Rejected);
        r.revise(draft()).unwrap();
        assert_eq!((r.status, r.revision), (RequestStatus::Draft, 1));
        r.submit(t).unwrap();
        r.decide(true, "fits the budget", t).unwrap();
        assert_eq!(r.status, RequestStatus::Approved);
        assert!(r.revise(draft()).is_err());

        let mut bad = BusinessRequest::new(RequestId::parse("br-2").unwrap(), UserId::parse("po").unwrap(), draft(), t);
        bad.draft.description.clear();
        assert!(matches!(bad.submit(t), Err(SubmitError::Invalid(e)) if e.field == "description"));
        assert_eq!(bad.status, RequestStatus::Draft);
    }
}
