//! Attribution of one AI line of CUR to a workload (PRODUCT.md "Attribution").
//!
//! First match wins: a claimed application inference profile (profile beats
//! principal: no double count), a claimed role by principal (sessions resolve to
//! their role), a claimed guardrail ARN (guardrail rows carry no principal), a
//! claimed Claude Platform workspace. Claims apply from their claim date forward
//! only. Otherwise the line is unattributed with exactly one reason, checked in
//! PRODUCT.md's order. Non-usage lines (tax, credits, refunds, discounts) are
//! adjustments: they are neither attributed nor unattributed spend.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::usage_type::Usage;
use crate::arn::{Principal, RoleKey, RolePattern};
use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
use crate::ids::WorkloadId;

/// Why a line of AI spend has no owner. The order of the variants is the order
/// in which they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Reason {
    /// No `line_item_iam_principal` column, or an empty principal, on a
    /// non-guardrail row (guardrail rows never carry a principal).
    AttributionNotEnabled,
    /// A guardrail row whose ARN nobody claimed.
    UnallocatedGuardrail,
    /// A broad shared role (SSO administrator, PowerUser, …).
    BroadRole,
    /// The role is claimed, but from a later day than this usage.
    BeforeClaim,
    /// A `finops-` role (made by the CE workflow) that nobody claimed.
    UnclaimedWorkload,
    /// Anything else: a principal with no claim.
    NoBudgetAllocation,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::AttributionNotEnabled,
        Reason::UnallocatedGuardrail,
        Reason::BroadRole,
        Reason::BeforeClaim,
        Reason::UnclaimedWorkload,
        Reason::NoBudgetAllocation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::AttributionNotEnabled => "attribution_not_enabled",
            Reason::UnallocatedGuardrail => "unallocated_guardrail",
            Reason::BroadRole => "broad_role",
            Reason::BeforeClaim => "before_claim",
            Reason::UnclaimedWorkload => "unclaimed_workload",
            Reason::NoBudgetAllocation => "no_budget_allocation",
        }
    }
}

/// Which claim carried the line to its workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    InferenceProfile,
    /// A claimed session of a role (ahead of a claim on the whole role).
    Session,
    Role,
    Guardrail,
    Workspace,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Attributed { workload: WorkloadId, anchor: Anchor },
    Unattributed { reason: Reason },
    Adjustment,
}

/// What attribution needs of one CUR line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiLine<'a> {
    pub usage_day: NaiveDate,
    /// `line_item_line_item_type`: `Usage`, `Tax`, `Credit`, …
    pub line_item_type: &'a str,
    pub operation: &'a str,
    pub usage: &'a Usage,
    /// `line_item_resource_id`.
    pub resource_id: Option<&'a str>,
    /// `line_item_iam_principal`; `None` when the column is absent from the file.
    pub principal: Option<&'a str>,
    /// The Claude Platform workspace of a CCU line, from its tags.
    pub workspace: Option<&'a str>,
}

/// Line item types that are usage; everything else is an adjustment to the bill.
pub fn is_usage(line_item_type: &str) -> bool {
    matches!(line_item_type, "Usage" | "DiscountedUsage" | "SavingsPlanCoveredUsage")
}

impl AiLine<'_> {
    fn is_guardrail(&self) -> bool {
        self.operation == "ApplyGuardrail" || matches!(self.usage, Usage::Guardrail { .. })
    }
}

/// Every claim period, indexed by anchor identity (`ClaimTarget::key`).
#[derive(Debug, Clone, Default)]
pub struct ClaimBook {
    by_key: HashMap<String, Vec<Claim>>,
}

impl ClaimBook {
    pub fn new(claims: impl IntoIterator<Item = Claim>) -> Self {
        let mut by_key: HashMap<String, Vec<Claim>> = HashMap::new();
        for c in claims {
            by_key.entry(c.target.key.clone()).or_default().push(c);
        }
        Self { by_key }
    }

    fn periods(&self, kind: ClaimKind, raw: &str) -> Option<&[Claim]> {
        let key = ClaimTarget::parse(kind, raw).ok()?.key;
        self.by_key.get(&key).map(Vec::as_slice)
    }

    fn session_periods(&self, role: &RoleKey, session: &str) -> Option<&[Claim]> {
        self.by_key.get(&ClaimTarget::session_key(role, session)).map(Vec::as_slice)
    }

}

/// The rules, with their configuration.
#[derive(Debug, Clone)]
pub struct Attributor {
    pub claims: ClaimBook,
    pub broad_roles: Vec<RolePattern>,
}

impl Attributor {
    pub fn attribute(&self, line: &AiLine) -> Outcome {
        self.prepare(line).at(line.usage_day)
    }

    /// Everything attribution decides about a line except what depends on its
    /// day: which claim periods may carry it, in order, and the reason when none
    /// covers the day. A month's facts share few shapes (a role's sessions, its
    /// usage types and days differ, its claims do not), so callers prepare once
    /// per distinct (line type, guardrail, resource, principal, workspace) and
    /// call [`Prepared::at`] per fact: ARNs are parsed and claims looked up once,
    /// not once per fact. `line.usage_day` is not read.
    pub fn prepare(&self, line: &AiLine) -> Prepared<'_> {
        if !is_usage(line.line_item_type) {
            return Prepared { adjustment: true, anchors: Vec::new(), reason: Unclaimed::Fixed(Reason::NoBudgetAllocation) };
        }
        let mut anchors = Vec::new();
        if let Some(res) = line.resource_id.filter(|r| r.contains(":application-inference-profile/")) {
            if let Some(p) = self.claims.periods(ClaimKind::InferenceProfile, res) {
                anchors.push((Anchor::InferenceProfile, p));
            }
        }
        let principal = line.principal.filter(|p| !p.trim().is_empty()).map(Principal::parse);
        let role = match &principal {
            Some(Ok(p)) => p.role_key().map(|k| (k, p.normalized_arn())),
            _ => None,
        };
        // A claimed session of the role is more specific than the role: it goes first.
        let session = match (&principal, &role) {
            (Some(Ok(p)), Some((k, _))) => p.session().and_then(|s| self.claims.session_periods(k, s)),
            _ => None,
        };
        if let Some(p) = session {
            anchors.push((Anchor::Session, p));
        }
        let role_periods = role.as_ref().and_then(|(_, arn)| self.claims.periods(ClaimKind::IamRole, arn));
        if let Some(p) = role_periods {
            anchors.push((Anchor::Role, p));
        }
        if line.is_guardrail() {
            if let Some(p) = line.resource_id.and_then(|r| self.claims.periods(ClaimKind::Guardrail, r)) {
                anchors.push((Anchor::Guardrail, p));
            }
        }
        if let Some(p) = line.workspace.and_then(|ws| self.claims.periods(ClaimKind::Workspace, ws)) {
            anchors.push((Anchor::Workspace, p));
        }
        // Guardrail rows carry no principal even when IAM data is on, so an
        // unclaimed guardrail is always `unallocated_guardrail` (PRODUCT.md),
        // never `attribution_not_enabled`, whether or not the column exists.
        let reason = if line.is_guardrail() {
            Unclaimed::Fixed(Reason::UnallocatedGuardrail)
        } else if line.principal.is_none_or(|p| p.trim().is_empty()) {
            Unclaimed::Fixed(Reason::AttributionNotEnabled)
        } else {
            match &role {
                None => Unclaimed::Fixed(Reason::NoBudgetAllocation),
                Some((k, _)) if self.broad_roles.iter().any(|p| p.matches(&k.name)) => Unclaimed::Fixed(Reason::BroadRole),
                Some((k, _)) => Unclaimed::Role { periods: role_periods, finops: k.name.starts_with("finops-") },
            }
        };
        Prepared { adjustment: false, anchors, reason }
    }
}

/// A line's attribution up to its day (see [`Attributor::prepare`]).
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    adjustment: bool,
    /// Claim periods in PRODUCT.md's order: profile, role, guardrail, workspace.
    anchors: Vec<(Anchor, &'a [Claim])>,
    reason: Unclaimed<'a>,
}

#[derive(Debug, Clone)]
enum Unclaimed<'a> {
    Fixed(Reason),
    /// A role that is neither broad nor covered on the day: before its claim,
    /// an unclaimed `finops-` role, or no budget allocation.
    Role { periods: Option<&'a [Claim]>, finops: bool },
}

impl<'a> Prepared<'a> {
    /// The workload that owns the line on `day`, borrowed from the claims:
    /// a fold over a large estate's facts asks this per fact, and `at` would
    /// clone the id each time. `Some` exactly when `at` is `Attributed`.
    pub fn workload_at(&self, day: NaiveDate) -> Option<&'a WorkloadId> {
        if self.adjustment {
            return None;
        }
        self.anchors.iter().find_map(|(_, periods)| periods.iter().find(|c| c.covers(day)).map(|c| &c.workload))
    }

    pub fn at(&self, day: NaiveDate) -> Outcome {
        if self.adjustment {
            return Outcome::Adjustment;
        }
        for (anchor, periods) in &self.anchors {
            if let Some(c) = periods.iter().find(|c| c.covers(day)) {
                return Outcome::Attributed { workload: c.workload.clone(), anchor: *anchor };
            }
        }
        let reason = match &self.reason {
            Unclaimed::Fixed(r) => *r,
            Unclaimed::Role { periods: Some(p), .. } if p.iter().any(|c| c.claimed_at > day) => Reason::BeforeClaim,
            Unclaimed::Role { periods: None, finops: true } => Reason::UnclaimedWorkload,
            Unclaimed::Role { .. } => Reason::NoBudgetAllocation,
        };
        Outcome::Unattributed { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cur::usage_type::decode;
    use crate::ids::UserId;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn claim(kind: ClaimKind, arn: &str, workload: &str, from: &str, until: Option<&str>) -> Claim {
        Claim {
            target: ClaimTarget::parse(kind, arn).unwrap(),
            workload: WorkloadId::parse(workload).unwrap(),
            claimed_at: d(from),
            claimed_by: UserId::parse("po").unwrap(),
            released_at: until.map(d),
            released_by: None,
        }
    }

    const ROLE: &str = "arn:aws:iam::111122223333:role/finops-chat-ab12";
    const PROFILE: &str = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123def456";
    const GUARDRAIL: &str = "arn:aws:bedrock:us-east-1:111122223333:guardrail/gr0123abcd";

    fn attributor() -> Attributor {
        Attributor {
            claims: ClaimBook::new([
                claim(ClaimKind::IamRole, ROLE, "chat", "2026-03-10", None),
                claim(ClaimKind::InferenceProfile, PROFILE, "search", "2026-03-01", None),
                claim(ClaimKind::Guardrail, GUARDRAIL, "chat", "2026-03-01", Some("2026-03-20")),
                claim(ClaimKind::Workspace, "wrkspc_claims", "claims", "2026-03-01", None),
            ]),
            broad_roles: RolePattern::defaults(),
        }
    }

    fn line<'a>(day: &str, usage: &'a Usage, principal: Option<&'a str>, resource: Option<&'a str>) -> AiLine<'a> {
        AiLine { usage_day: d(day), line_item_type: "Usage", operation: "InvokeModel", usage, resource_id: resource, principal, workspace: None }
    }

    fn session(role: &str) -> String {
        format!("arn:aws:sts::111122223333:assumed-role/{role}/alice@example.com")
    }

    #[test]
    fn a_claim_applies_from_its_date_never_before() {
        let a = attributor();
        let u = decode("USE1-Claude3Haiku-input-tokens").usage;
        let s = session("finops-chat-ab12");
        assert_eq!(a.attribute(&line("2026-03-09", &u, Some(&s), None)), Outcome::Unattributed { reason: Reason::BeforeClaim });
        assert_eq!(
            a.attribute(&line("2026-03-10", &u, Some(&s), None)),
            Outcome::Attributed { workload: WorkloadId::parse("chat").unwrap(), anchor: Anchor::Role }
        );
    }

    #[test]
    fn a_claimed_profile_beats_the_principal() {
        let a = attributor();
        let u = decode("USE1-Claude3Haiku-input-tokens").usage;
        let s = session("finops-chat-ab12");
        assert_eq!(
            a.attribute(&line("2026-03-15", &u, Some(&s), Some(PROFILE))),
            Outcome::Attributed { workload: WorkloadId::parse("search").unwrap(), anchor: Anchor::InferenceProfile }
        );
    }

    #[test]
    fn guardrails_and_workspaces_attribute_by_their_own_anchor() {
        let a = attributor();
        let g = decode("USE1-Guardrail-ContentPolicyUnitsConsumed").usage;
        let mut l = line("2026-03-15", &g, Some(""), Some(GUARDRAIL));
        l.operation = "ApplyGuardrail";
        assert!(matches!(a.attribute(&l), Outcome::Attributed { anchor: Anchor::Guardrail, .. }));
        l.usage_day = d("2026-03-20");
        assert_eq!(a.attribute(&l), Outcome::Unattributed { reason: Reason::UnallocatedGuardrail }, "released on the 20th");
        let u = decode("USE1-MP:USE1_InputTokenCount-Units").usage;
        let mut ccu = line("2026-03-15", &u, Some(""), None);
        ccu.workspace = Some("wrkspc_claims");
        assert!(matches!(a.attribute(&ccu), Outcome::Attributed { anchor: Anchor::Workspace, .. }));
    }

    #[test]
    fn a_claimed_session_of_a_shared_role_carries_only_that_session() {
        let sso = "AWSReservedSSO_AdministratorAccess_0123abcd";
        let dev = format!("arn:aws:sts::111122223333:assumed-role/{sso}/dev001@example.com");
        let mut claims: Vec<Claim> = vec![claim(ClaimKind::RoleSession, &dev, "coding", "2026-03-05", None)];
        // A session of a claimed role goes to its own claim first, then the role's.
        let on_role = "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/batch-7";
        claims.push(claim(ClaimKind::RoleSession, on_role, "batch", "2026-03-01", None));
        claims.push(claim(ClaimKind::IamRole, ROLE, "chat", "2026-03-01", None));
        let a = Attributor { claims: ClaimBook::new(claims), broad_roles: RolePattern::defaults() };
        let u = decode("USE1-Claude3Haiku-input-tokens").usage;
        let coding = WorkloadId::parse("coding").unwrap();
        assert_eq!(a.attribute(&line("2026-03-15", &u, Some(&dev), None)), Outcome::Attributed { workload: coding, anchor: Anchor::Session });
        let other = format!("arn:aws:sts::111122223333:assumed-role/{sso}/dev002@example.com");
        assert_eq!(a.attribute(&line("2026-03-15", &u, Some(&other), None)), Outcome::Unattributed { reason: Reason::BroadRole }, "another session of the shared role is not claimed");
        assert_eq!(a.attribute(&line("2026-03-04", &u, Some(&dev), None)), Outcome::Unattributed { reason: Reason::BroadRole }, "never before the claim");
        assert!(matches!(a.attribute(&line("2026-03-15", &u, Some(on_role), None)), Outcome::Attributed { anchor: Anchor::Session, ref workload } if workload.as_str() == "batch"));
        let rest = session("finops-chat-ab12");
        assert!(matches!(a.attribute(&line("2026-03-15", &u, Some(&rest), None)), Outcome::Attributed { anchor: Anchor::Role, ref workload } if workload.as_str() == "chat"));
    }

    #[test]
    fn every_reason_in_order() {
        let a = attributor();
        let u = decode("USE1-Claude3Haiku-input-tokens").usage;
        let g = decode("USE1-Guardrail-ContentPolicyUnitsConsumed").usage;
        let broad = session("AWSReservedSSO_AdministratorAccess_0123abcd");
        let broad_finops = session("finops-AdministratorAccess");
        let unclaimed = session("finops-search-zz99");
        let other = session("MyAppRole");
        let user = "arn:aws:iam::111122223333:user/alice";
        let cases: Vec<(AiLine, Reason)> = vec![
            (line("2026-03-15", &u, None, None), Reason::AttributionNotEnabled),
            (line("2026-03-15", &u, Some(" "), None), Reason::AttributionNotEnabled),
            (line("2026-03-15", &g, Some(""), Some("arn:aws:bedrock:us-east-1:111122223333:guardrail/unclaimed1")), Reason::UnallocatedGuardrail),
            (line("2026-03-15", &u, Some(&broad), None), Reason::BroadRole),
            // Not broad under the default (exact) patterns: an unclaimed finops- role.
            (line("2026-03-15", &u, Some(&broad_finops), None), Reason::UnclaimedWorkload),
            (line("2026-03-15", &u, Some(&unclaimed), None), Reason::UnclaimedWorkload),
            (line("2026-03-15", &u, Some(&other), None), Reason::NoBudgetAllocation),
            (line("2026-03-15", &u, Some(user), None), Reason::NoBudgetAllocation),
            (line("2026-03-15", &u, Some("not an arn"), None), Reason::NoBudgetAllocation),
        ];
        for (l, want) in cases {
            assert_eq!(a.attribute(&l), Outcome::Unattributed { reason: want }, "{:?}", l.principal);
        }
        // Configured wider, the same role is broad: broad_role is checked before
        // the finops- prefix.
        let wide = Attributor { broad_roles: vec![RolePattern::parse("*AdministratorAccess*").unwrap()], ..attributor() };
        assert_eq!(wide.attribute(&line("2026-03-15", &u, Some(&broad_finops), None)), Outcome::Unattributed { reason: Reason::BroadRole });
    }

    /// A guardrail row in a file without the principal column is still an
    /// unallocated guardrail (it was `attribution_not_enabled`).
    #[test]
    fn guardrail_rows_never_take_attribution_not_enabled() {
        let a = attributor();
        let g = decode("USE1-Guardrail-ContentPolicyUnitsConsumed").usage;
        let unclaimed = "arn:aws:bedrock:us-east-1:111122223333:guardrail/unclaimed1";
        for principal in [None, Some(""), Some(" ")] {
            let mut l = line("2026-03-15", &g, principal, Some(unclaimed));
            l.operation = "ApplyGuardrail";
            assert_eq!(a.attribute(&l), Outcome::Unattributed { reason: Reason::UnallocatedGuardrail }, "{principal:?}");
        }
    }

    #[test]
    fn non_usage_lines_are_adjustments() {
        let a = attributor();
        let u = decode("USE1-Claude3Haiku-input-tokens").usage;
        for t in ["Tax", "Credit", "Refund", "BundledDiscount", "EdpDiscount"] {
            let mut l = line("2026-03-15", &u, None, None);
            l.line_item_type = t;
            assert_eq!(a.attribute(&l), Outcome::Adjustment, "{t}");
        }
    }
}
