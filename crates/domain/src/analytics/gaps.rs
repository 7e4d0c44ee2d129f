//! Allocation gaps (PRODUCT.md "Allocation gaps"): spend nobody can own, found
//! from attribution's reasons and the governance state, each with a lifecycle.
//!
//! A gap is identified by its billing period, scenario and key, so detecting the
//! same month again finds the same gaps: their state (Actioned, the history) is
//! kept, a gap whose condition no longer holds is Resolved automatically, and a
//! Resolved gap that reappears is reopened with its history. Nothing is deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actor::{Actor, Persona};
use crate::arn::Principal;
use crate::cur::attribution::{Attributor, Outcome, Reason};
use crate::cur::facts::{outcome_runs, FactRef, FactValue, Facts};
use crate::cur::usage_type::{decode, Location, Usage};
use crate::governance::approval::ModelApprovalScope;
use crate::governance::catalog::PriceCatalog;
use crate::governance::request::{BusinessCase, ValueType};
use crate::ids::{AccountId, Region, UserId, WorkloadId};
use crate::money::Money;
use crate::period::BillingPeriod;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    AttributionNotEnabled,
    UnattributedSpend,
    NoBudgetAllocation,
    OutOfBudgetScope,
    UnclaimedWorkload,
    UnallocatedGuardrailCost,
    MissingBusinessCase,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::AttributionNotEnabled,
        Scenario::UnattributedSpend,
        Scenario::NoBudgetAllocation,
        Scenario::OutOfBudgetScope,
        Scenario::UnclaimedWorkload,
        Scenario::UnallocatedGuardrailCost,
        Scenario::MissingBusinessCase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AttributionNotEnabled => "attribution_not_enabled",
            Self::UnattributedSpend => "unattributed_spend",
            Self::NoBudgetAllocation => "no_budget_allocation",
            Self::OutOfBudgetScope => "out_of_budget_scope",
            Self::UnclaimedWorkload => "unclaimed_workload",
            Self::UnallocatedGuardrailCost => "unallocated_guardrail_cost",
            Self::MissingBusinessCase => "missing_business_case",
        }
    }

    /// The inline actions that fix this kind of gap (besides Resolve and Recall,
    /// which every gap has).
    pub fn actions(self) -> &'static [GapAction] {
        use GapAction::*;
        match self {
            Self::AttributionNotEnabled => &[GuidedSetup],
            Self::UnattributedSpend => &[CreateRequest],
            Self::NoBudgetAllocation => &[Approve, Block],
            Self::OutOfBudgetScope => &[AddScope, FlagMove, Block],
            Self::UnclaimedWorkload => &[NotifyOwner],
            Self::UnallocatedGuardrailCost => &[AssignToWorkload],
            Self::MissingBusinessCase => &[RequestBusinessCase],
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a gap stands. Recalling a decision sends it back to Active.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GapStatus {
    Active,
    Actioned,
    Resolved,
}

impl GapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Actioned => "Actioned",
            Self::Resolved => "Resolved",
        }
    }
}

/// A FinOps Lead's inline action on a gap.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapAction {
    /// The CUR 2.0 export steps that turn on IAM principal data.
    GuidedSetup,
    /// A Business Request pre-filled for a dedicated role, for the owner to complete.
    CreateRequest,
    /// Approve the usage: a request pre-filled with the model, account and region.
    Approve,
    /// Block the model in that account and region.
    Block,
    /// Extend the model's ModelApprovalScope to the account and region.
    AddScope,
    /// Ask the Cloud Engineer to move the usage into the approved scope (a task).
    FlagMove,
    /// Tell the Product Owner whose workflow built the role to claim it.
    NotifyOwner,
    /// Claim the guardrail for a workload.
    AssignToWorkload,
    /// Ask the workload's owner for a business case.
    RequestBusinessCase,
    /// Close the gap by decision (the condition may still hold).
    Resolve,
    /// Revisit a decision: back to Active.
    Recall,
}

impl GapAction {
    pub const ALL: [GapAction; 11] = [
        Self::GuidedSetup,
        Self::CreateRequest,
        Self::Approve,
        Self::Block,
        Self::AddScope,
        Self::FlagMove,
        Self::NotifyOwner,
        Self::AssignToWorkload,
        Self::RequestBusinessCase,
        Self::Resolve,
        Self::Recall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GuidedSetup => "guided_setup",
            Self::CreateRequest => "create_request",
            Self::Approve => "approve",
            Self::Block => "block",
            Self::AddScope => "add_scope",
            Self::FlagMove => "flag_move",
            Self::NotifyOwner => "notify_owner",
            Self::AssignToWorkload => "assign_to_workload",
            Self::RequestBusinessCase => "request_business_case",
            Self::Resolve => "resolve",
            Self::Recall => "recall",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// What the gap is about, for its actions (which request to pre-fill, whom to notify).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GapContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// The model id when the catalogue knows the CUR model token, else the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The principal's IAM ARN (sessions resolved to their role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserId>,
    /// Accounts and regions seen (a principal's spend may span several).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Region>,
    /// Spend this gap shares with other gaps (by gap id): a dollar of an
    /// unapproved region can also be unclaimed, say. The headline counts it
    /// once ([`headline`]); each gap still shows all of its own spend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<SharedSpend>,
}

/// Spend counted in this gap and in gap `gap` too.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedSpend {
    pub gap: String,
    pub spend: Money,
}

impl GapContext {
    /// Every account the gap's spend was seen in (the one account, for a gap
    /// keyed by it).
    pub fn accounts_seen(&self) -> Vec<AccountId> {
        if self.accounts.is_empty() { self.account.iter().cloned().collect() } else { self.accounts.clone() }
    }

    /// Every region the gap's spend was seen in.
    pub fn regions_seen(&self) -> Vec<Region> {
        if self.regions.is_empty() { self.region.iter().cloned().collect() } else { self.regions.clone() }
    }
}

/// One detection's finding: the condition holds for this key, with this spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub scenario: Scenario,
    pub key: String,
    pub spend: Money,
    pub first_seen: NaiveDate,
    pub last_seen: NaiveDate,
    pub context: GapContext,
}

/// One step of a gap's history (also written as an audit record).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapEntry {
    pub at: DateTime<Utc>,
    pub actor: UserId,
    pub persona: Persona,
    /// `detected`, `auto_resolved`, `reopened`, or an action's name.
    pub action: String,
    pub from: Option<GapStatus>,
    pub to: GapStatus,
    pub rationale: Option<String>,
    /// What the action did (the request it created, the claim, the setup steps).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Value>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub id: String,
    pub period: BillingPeriod,
    pub scenario: Scenario,
    pub key: String,
    pub spend: Money,
    pub first_seen: NaiveDate,
    pub last_seen: NaiveDate,
    pub status: GapStatus,
    pub context: GapContext,
    pub history: Vec<GapEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GapError {
    #[error("a rationale is required")]
    RationaleRequired,
    #[error("{action} does not apply to a {scenario} gap; it takes {allowed}")]
    NotForScenario { action: &'static str, scenario: Scenario, allowed: String },
    #[error("gap {id} is {status}; {action} needs it {needs}")]
    WrongStatus { id: String, status: &'static str, action: &'static str, needs: &'static str },
}

/// A stable id: the same period, scenario and key always give the same id (FNV-1a,
/// chosen because it is tiny, fixed forever and needs no dependency).
pub fn gap_id(period: BillingPeriod, scenario: Scenario, key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.as_str().bytes().chain([0u8]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("gap-{}-{h:016x}", period.to_string().replace('-', ""))
}

/// The period a gap id belongs to (`gap-202603-…` → 2026-03).
pub fn period_of_gap_id(id: &str) -> Option<BillingPeriod> {
    let rest = id.strip_prefix("gap-")?;
    let (ym, hash) = rest.split_once('-')?;
    if ym.len() != 6 || hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    BillingPeriod::parse(&format!("{}-{}", &ym[..4], &ym[4..])).ok()
}

fn system_entry(at: DateTime<Utc>, action: &str, from: Option<GapStatus>, to: GapStatus, rationale: &str) -> GapEntry {
    GapEntry {
        at,
        actor: UserId::parse("gap-detector").unwrap_or_else(|_| UserId::parse("system").expect("valid user id")),
        persona: Persona::System,
        action: action.into(),
        from,
        to,
        rationale: Some(rationale.into()),
        outcome: None,
    }
}

impl Gap {
    pub fn open(period: BillingPeriod, obs: Observation, at: DateTime<Utc>) -> Self {
        Self {
            id: gap_id(period, obs.scenario, &obs.key),
            period,
            scenario: obs.scenario,
            key: obs.key,
            spend: obs.spend,
            first_seen: obs.first_seen,
            last_seen: obs.last_seen,
            status: GapStatus::Active,
            context: obs.context,
            history: vec![system_entry(at, "detected", None, GapStatus::Active, "condition holds")],
        }
    }

    pub fn is_open(&self) -> bool {
        self.status != GapStatus::Resolved
    }

    /// The condition holds (again): figures refreshed; a Resolved gap reopens.
    /// Returns whether anything changed.
    pub fn observe(&mut self, obs: Observation, at: DateTime<Utc>) -> bool {
        let before = self.clone();
        self.spend = obs.spend;
        self.first_seen = obs.first_seen;
        self.last_seen = obs.last_seen;
        self.context = obs.context;
        if self.status == GapStatus::Resolved {
            self.history.push(system_entry(at, "reopened", Some(GapStatus::Resolved), GapStatus::Active, "condition holds again"));
            self.status = GapStatus::Active;
        }
        *self != before
    }

    /// The condition no longer holds. Returns whether the gap changed.
    pub fn auto_resolve(&mut self, at: DateTime<Utc>) -> bool {
        if self.status == GapStatus::Resolved {
            return false;
        }
        self.history.push(system_entry(at, "auto_resolved", Some(self.status), GapStatus::Resolved, "condition no longer holds"));
        self.status = GapStatus::Resolved;
        true
    }

    /// Checks that `action` may be taken now, before it is carried out.
    pub fn check(&self, action: GapAction, rationale: &str) -> Result<(), GapError> {
        if rationale.trim().is_empty() {
            return Err(GapError::RationaleRequired);
        }
        let wrong = |needs| GapError::WrongStatus { id: self.id.clone(), status: self.status.as_str(), action: action.as_str(), needs };
        match action {
            GapAction::Recall if self.status == GapStatus::Active => Err(wrong("Actioned or Resolved")),
            GapAction::Recall => Ok(()),
            _ if self.status == GapStatus::Resolved => Err(wrong("Active or Actioned (recall it first)")),
            GapAction::Resolve => Ok(()),
            a if !self.scenario.actions().contains(&a) => Err(GapError::NotForScenario {
                action: a.as_str(),
                scenario: self.scenario,
                allowed: self.scenario.actions().iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", "),
            }),
            _ => Ok(()),
        }
    }

    /// Records an action the FinOps Lead took (after it was carried out).
    pub fn apply(&mut self, action: GapAction, actor: &Actor, rationale: &str, at: DateTime<Utc>, outcome: Option<Value>) -> Result<(), GapError> {
        self.check(action, rationale)?;
        let to = match action {
            GapAction::Recall => GapStatus::Active,
            GapAction::Resolve => GapStatus::Resolved,
            _ => GapStatus::Actioned,
        };
        self.history.push(GapEntry {
            at,
            actor: actor.user.clone(),
            persona: actor.persona,
            action: action.as_str().into(),
            from: Some(self.status),
            to,
            rationale: Some(rationale.trim().to_owned()),
            outcome,
        });
        self.status = to;
        Ok(())
    }
}

/// Re-detection: the gaps of a period that changed (new, refreshed, reopened or
/// auto-resolved). Unchanged gaps are not returned, so a repeat detection writes
/// nothing.
pub fn reconcile(period: BillingPeriod, existing: &[Gap], observed: Vec<Observation>, at: DateTime<Utc>) -> Vec<Gap> {
    let mut by_id: BTreeMap<String, Gap> = existing.iter().map(|g| (g.id.clone(), g.clone())).collect();
    let mut seen = BTreeSet::new();
    let mut changed = Vec::new();
    for obs in observed {
        let id = gap_id(period, obs.scenario, &obs.key);
        seen.insert(id.clone());
        match by_id.remove(&id) {
            Some(mut g) => {
                if g.observe(obs, at) {
                    changed.push(g);
                }
            }
            None => changed.push(Gap::open(period, obs, at)),
        }
    }
    for (id, mut g) in by_id {
        if !seen.contains(&id) && g.auto_resolve(at) {
            changed.push(g);
        }
    }
    changed
}

/// A workload as gap detection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadFacts {
    pub id: WorkloadId,
    pub owner: UserId,
    /// The earliest claim date of its anchors, if any was ever claimed.
    pub claimed_since: Option<NaiveDate>,
    pub has_estimate: bool,
    pub business_case: Option<BusinessCase>,
}

/// Everything detection reads.
pub struct DetectionInput<'a> {
    pub period: BillingPeriod,
    pub facts: &'a Facts,
    pub attributor: &'a Attributor,
    pub scopes: &'a [ModelApprovalScope],
    pub catalog: &'a PriceCatalog,
    pub workloads: &'a [WorkloadFacts],
    /// The day detection runs (the last day seen for a gap without spend).
    pub as_of: NaiveDate,
}

#[derive(Default)]
struct Acc {
    spend: Money,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
    context: GapContext,
    accounts: BTreeSet<AccountId>,
    regions: BTreeSet<Region>,
}

impl Acc {
    fn add(&mut self, day: NaiveDate, cost: Money, account: &AccountId, region: Option<&Region>) {
        self.spend += cost;
        self.first = Some(self.first.map_or(day, |f| f.min(day)));
        self.last = Some(self.last.map_or(day, |l| l.max(day)));
        if !self.accounts.contains(account) {
            self.accounts.insert(account.clone());
        }
        if let Some(r) = region.filter(|r| !self.regions.contains(*r)) {
            self.regions.insert(r.clone());
        }
    }

    /// Another share's sums for the same gap added to these (this context
    /// kept: a gap's context follows from its key, but for the account and
    /// region, which come from the sets at the end).
    fn merge(&mut self, other: Acc) {
        self.spend += other.spend;
        self.first = self.first.into_iter().chain(other.first).min();
        self.last = self.last.into_iter().chain(other.last).max();
        self.accounts.extend(other.accounts);
        self.regions.extend(other.regions);
    }
}

/// The model a token usage names: the catalogue's model id when it knows the CUR
/// token, else the token itself.
fn model_name(catalog: &PriceCatalog, usage: &Usage) -> Option<String> {
    match usage {
        Usage::Tokens { model, .. } | Usage::SearchUnits { model } => {
            Some(catalog.by_cur_token(model).map_or_else(|| model.clone(), |m| m.model_id.to_string()))
        }
        _ => None,
    }
}

/// Every gap's accumulator of one detection, found by a fact through the
/// addresses of the interned strings its gap key derives from (two words
/// hashed): only a gap's first such fact formats the key and looks it up
/// by text. A large month has a million facts and a few thousand gaps.
#[derive(Default)]
struct Slots {
    gaps: Vec<(Scenario, String, Acc)>,
    by_key: HashMap<(Scenario, String), usize, foldhash::fast::RandomState>,
    by_origin: HashMap<(Scenario, usize, usize), usize, foldhash::fast::RandomState>,
}

impl Slots {
    /// The slot of `scenario`'s gap for a fact whose key derives from the
    /// strings at `origin` (addresses; 0 for none), which must decide `key`.
    fn slot(&mut self, scenario: Scenario, origin: (usize, usize), key: impl FnOnce() -> String, context: impl FnOnce() -> GapContext) -> usize {
        if let Some(&i) = self.by_origin.get(&(scenario, origin.0, origin.1)) {
            return i;
        }
        let Slots { gaps, by_key, by_origin } = self;
        let i = *by_key.entry((scenario, key())).or_insert_with_key(|(_, key)| {
            gaps.push((scenario, key.clone(), Acc { context: context(), ..Acc::default() }));
            gaps.len() - 1
        });
        by_origin.insert((scenario, origin.0, origin.1), i);
        i
    }

    /// The slot of `scenario`'s gap `key` holding `acc` too: merged into the
    /// gap's slot if it has one, else made its own.
    fn adopt(&mut self, scenario: Scenario, key: String, acc: Acc) -> usize {
        match self.by_key.entry((scenario, key)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let i = *e.get();
                self.gaps[i].2.merge(acc);
                i
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                self.gaps.push((scenario, e.key().1.clone(), acc));
                *e.insert(self.gaps.len() - 1)
            }
        }
    }
}

/// Where an interned string (or account) of the facts lives, as a number:
/// [`Facts`] interns every string and account once, so a per-fact cache
/// keyed by address hashes a word instead of a principal ARN for each of a
/// million facts. (Empty strings may share an address; they share the text.)
fn addr<T: ?Sized>(s: &T) -> usize {
    std::ptr::from_ref(s).cast::<u8>() as usize
}

/// What a usage type says, worked out once per distinct string: a large month has a million facts but a few dozen usage types.
struct UsageInfo<'s> {
    region: Option<Region>,
    model: Option<String>,
    /// The catalogue model of a token usage, and the scopes approving it.
    scoped_model: Option<(String, &'s [&'s ModelApprovalScope])>,
    guardrail: bool,
}

/// What a principal says, worked out once per distinct string.
struct RoleInfo {
    arn: Option<String>,
    role_name: Option<String>,
    /// Not blank: the row names who called.
    named: bool,
}

type Fast = foldhash::fast::RandomState;

/// What one pass over a share of the facts found. Every part of it merges
/// ([`Found::merge`]), so shares of one period's facts gone through apart
/// (on several threads) find what one pass over all of them finds.
#[derive(Default)]
struct Found {
    slots: Slots,
    /// Hashed, not ordered: it is only looked up (per attributed fact) and
    /// taken from by workload, never iterated.
    attributed: HashMap<WorkloadId, Acc, Fast>,
    /// The accounts with a named principal, by address (see `addr`).
    with_principal: HashSet<usize, Fast>,
    /// Out-of-scope spend that another gap counts too, by (out-of-scope slot,
    /// other slot); and what is attributed to a workload, which takes a
    /// Missing Business Case gap only once every fact is seen.
    shared: HashMap<(usize, usize), Money, Fast>,
    shared_with_workload: HashMap<(usize, WorkloadId), Money, Fast>,
}

impl Found {
    /// `other`'s findings added to these: its gaps joined to these by key
    /// (their slots numbered anew), its sums added.
    fn merge(mut self, other: Found) -> Found {
        let Slots { gaps, by_origin, .. } = other.slots;
        let renumbered: Vec<usize> = gaps.into_iter().map(|(scenario, key, acc)| self.slots.adopt(scenario, key, acc)).collect();
        for ((scenario, a, b), i) in by_origin {
            self.slots.by_origin.entry((scenario, a, b)).or_insert(renumbered[i]);
        }
        for (workload, acc) in other.attributed {
            self.attributed.entry(workload).or_default().merge(acc);
        }
        self.with_principal.extend(other.with_principal);
        for ((i, o), spend) in other.shared {
            *self.shared.entry((renumbered[i], renumbered[o])).or_default() += spend;
        }
        for ((i, workload), spend) in other.shared_with_workload {
            *self.shared_with_workload.entry((renumbered[i], workload)).or_default() += spend;
        }
        self
    }
}

/// Facts below which detection runs on one thread: a thread costs more than
/// a small month's whole detection.
const PARALLEL_FROM: usize = 1 << 16;

/// The seven scenarios' findings for one period. A large month's facts are
/// gone through in shares on up to `threads` threads (detection follows an
/// ingest, whose caller waits on it) and what they find is merged; the
/// caller, which knows the machine, says how many.
pub fn detect(input: &DetectionInput, threads: usize) -> Vec<Observation> {
    detect_in(input, if input.facts.len() < PARALLEL_FROM { 1 } else { threads.max(1) })
}

/// [`detect`] in `threads` shares of the facts.
fn detect_in(input: &DetectionInput, threads: usize) -> Vec<Observation> {
    // Scopes by the base model they approve.
    let mut scoped: BTreeMap<&str, Vec<&ModelApprovalScope>> = BTreeMap::new();
    for s in input.scopes {
        scoped.entry(s.model.base_model()).or_default().push(s);
    }
    let scoped = &scoped;
    let mut runs = outcome_runs(input.period, input.facts, input.attributor, threads);
    let found = std::thread::scope(|scope| {
        let first = runs.next();
        let others: Vec<_> = runs.map(|run| scope.spawn(move || find(input, scoped, run))).collect();
        let mut found = first.map(|run| find(input, scoped, run)).unwrap_or_default();
        for other in others {
            found = found.merge(other.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        found
    });
    settle(input, found)
}

/// One share of the facts gone through: each fact's outcome to its gaps.
fn find<'a>(input: &DetectionInput<'a>, scoped: &BTreeMap<&str, Vec<&'a ModelApprovalScope>>, facts: impl Iterator<Item = (FactRef<'a>, &'a FactValue, Outcome)>) -> Found {
    let Found { mut slots, mut attributed, mut with_principal, mut shared, mut shared_with_workload } = Found::default();
    // By address (see `addr`): usage types, principals.
    let mut usage_info: HashMap<usize, UsageInfo<'_>, Fast> = HashMap::default();
    let mut role_info: HashMap<usize, RoleInfo, Fast> = HashMap::default();
    for (k, v, outcome) in facts {
        let ut = usage_info.entry(addr(k.usage_type)).or_insert_with(|| {
            let d = decode(k.usage_type);
            let region = match &d.location {
                Location::Region(r) => Some(r.clone()),
                _ => None,
            };
            let scoped_model = match &d.usage {
                Usage::Tokens { model: token, .. } => input.catalog.by_cur_token(token).map(|e| e.model_id.to_string()),
                _ => None,
            };
            let scoped_model = scoped_model.and_then(|m| scoped.get(m.as_str()).map(|s| (m, s.as_slice())));
            UsageInfo { region, model: model_name(input.catalog, &d.usage), scoped_model, guardrail: matches!(d.usage, Usage::Guardrail { .. }) }
        });
        let role = k.principal.map(|p| {
            &*role_info.entry(addr(p)).or_insert_with(|| {
                let parsed = Principal::parse(p).ok();
                RoleInfo { arn: parsed.as_ref().map(Principal::normalized_arn), role_name: parsed.as_ref().and_then(|x| x.role_name().map(String::from)), named: !p.trim().is_empty() }
            })
        });
        // Attribution Not Enabled is an account's condition: raised only where
        // no non-guardrail AI row of the account has a principal.
        if !ut.guardrail && role.is_some_and(|r| r.named) && k.operation != "ApplyGuardrail" {
            with_principal.insert(addr(k.account));
        }
        let region = ut.region.as_ref();
        let principal_at = k.principal.map_or(0, addr);
        let role_ctx = || GapContext {
            principal: role.and_then(|r| r.arn.clone()),
            role_name: role.and_then(|r| r.role_name.clone()),
            account: Some(k.account.clone()),
            ..GapContext::default()
        };
        let role_key = || role.and_then(|r| r.arn.clone()).unwrap_or_default();
        let other = match &outcome {
            Outcome::Adjustment => continue,
            Outcome::Attributed { workload, .. } => {
                match attributed.get_mut(workload) {
                    Some(a) => a.add(k.usage_day, v.cost, k.account, region),
                    None => attributed.entry(workload.clone()).or_default().add(k.usage_day, v.cost, k.account, region),
                }
                None
            }
            Outcome::Unattributed { reason } => match reason {
                Reason::AttributionNotEnabled => {
                    Some(slots.slot(Scenario::AttributionNotEnabled, (addr(k.account), 0), || k.account.to_string(), || GapContext { account: Some(k.account.clone()), ..GapContext::default() }))
                }
                Reason::BroadRole => Some(slots.slot(Scenario::UnattributedSpend, (principal_at, 0), role_key, role_ctx)),
                Reason::UnclaimedWorkload => Some(slots.slot(Scenario::UnclaimedWorkload, (principal_at, 0), role_key, role_ctx)),
                Reason::NoBudgetAllocation => {
                    let m = ut.model.as_deref().unwrap_or(k.usage_type);
                    let key = || format!("{}|{m}", role.and_then(|r| r.arn.as_deref()).or(k.principal).unwrap_or_default());
                    Some(slots.slot(Scenario::NoBudgetAllocation, (principal_at, addr(k.usage_type)), key, || GapContext { model: Some(m.to_owned()), region: region.cloned(), ..role_ctx() }))
                }
                Reason::UnallocatedGuardrail => {
                    let g = || k.resource_id.map(str::to_owned).unwrap_or_else(|| format!("(no guardrail ARN in {})", k.account));
                    let origin = k.resource_id.map_or((0, addr(k.account)), |r| (addr(r), 0));
                    Some(slots.slot(Scenario::UnallocatedGuardrailCost, origin, g, || GapContext { guardrail: Some(g()), account: Some(k.account.clone()), ..GapContext::default() }))
                }
                Reason::BeforeClaim => None,
            },
        };
        if let Some(i) = other {
            slots.gaps[i].2.add(k.usage_day, v.cost, k.account, region);
        }
        // Out of scope: the model is approved somewhere, but not here (attributed or not).
        if let (Some((m, scopes)), Some(r)) = (ut.scoped_model.as_ref(), region) {
            if !scopes.iter().any(|s| s.covers(k.account, r)) {
                let key = || format!("{m}|{}|{r}", k.account);
                let context = || GapContext { model: Some(m.clone()), account: Some(k.account.clone()), region: Some(r.clone()), ..GapContext::default() };
                let i = slots.slot(Scenario::OutOfBudgetScope, (addr(k.account), addr(k.usage_type)), key, context);
                slots.gaps[i].2.add(k.usage_day, v.cost, k.account, region);
                match (other, &outcome) {
                    (Some(o), _) => *shared.entry((i, o)).or_default() += v.cost,
                    (None, Outcome::Attributed { workload, .. }) => *shared_with_workload.entry((i, workload.clone())).or_default() += v.cost,
                    (None, _) => {}
                }
            }
        }
    }
    Found { slots, attributed, with_principal, shared, shared_with_workload }
}

/// The gaps of what the facts showed, with the workloads' own (Missing
/// Business Case), each with the spend it shares with another.
fn settle(input: &DetectionInput, found: Found) -> Vec<Observation> {
    let Found { slots, mut attributed, with_principal, shared, shared_with_workload } = found;
    let mut missing_case: HashMap<String, Acc, Fast> = HashMap::default();
    for w in input.workloads {
        let Some(since) = w.claimed_since else { continue };
        if w.business_case.is_some() || since > input.period.last_day() {
            continue;
        }
        let spent = attributed.remove(&w.id);
        let has_spend = spent.as_ref().is_some_and(|a| !a.spend.is_zero());
        if !has_spend && !w.has_estimate {
            continue;
        }
        let mut a = spent.unwrap_or_default();
        a.first = a.first.or(Some(since.max(input.period.first_day())));
        a.last = a.last.or(Some(input.as_of.min(input.period.last_day()).max(input.period.first_day())));
        a.context = GapContext { workload: Some(w.id.clone()), owner: Some(w.owner.clone()), ..GapContext::default() };
        missing_case.insert(w.id.to_string(), a);
    }
    // What each out-of-scope gap shares, by the other gap's id.
    let mut sharing: HashMap<usize, BTreeMap<String, Money>, Fast> = HashMap::default();
    for ((i, o), spend) in shared {
        let (scenario, key, _) = &slots.gaps[o];
        *sharing.entry(i).or_default().entry(gap_id(input.period, *scenario, key)).or_default() += spend;
    }
    for ((i, workload), spend) in shared_with_workload {
        if missing_case.contains_key(workload.as_str()) {
            *sharing.entry(i).or_default().entry(gap_id(input.period, Scenario::MissingBusinessCase, workload.as_str())).or_default() += spend;
        }
    }
    // Attribution Not Enabled gaps of accounts that do name principals.
    let named: HashSet<usize, Fast> = with_principal.iter().filter_map(|a| slots.by_origin.get(&(Scenario::AttributionNotEnabled, *a, 0)).copied()).collect();
    let mut acc: BTreeMap<Scenario, Vec<(String, Acc)>> = BTreeMap::new();
    for (i, (scenario, key, mut a)) in slots.gaps.into_iter().enumerate() {
        if named.contains(&i) {
            continue;
        }
        if let Some(with) = sharing.remove(&i) {
            a.context.shared = with.into_iter().map(|(gap, spend)| SharedSpend { gap, spend }).collect();
        }
        acc.entry(scenario).or_default().push((key, a));
    }
    if !missing_case.is_empty() {
        acc.entry(Scenario::MissingBusinessCase).or_default().extend(missing_case);
    }
    acc.into_iter()
        .flat_map(|(scenario, mut by_key)| {
            by_key.sort_by(|x, y| x.0.cmp(&y.0));
            by_key.into_iter().map(move |(key, a)| (scenario, key, a))
        })
        .map(|(scenario, key, a)| {
            let mut context = a.context;
            // A gap's one account and region are the first of those its
            // spend spans, not those of whichever fact came first: detection
            // then says the same over the same facts in any order (the
            // reader's order, or a ledger object's canonical one).
            if context.account.is_some() {
                context.account = a.accounts.first().cloned().or(context.account);
            }
            if context.region.is_some() {
                context.region = a.regions.first().cloned().or(context.region);
            }
            context.accounts = a.accounts.into_iter().collect();
            context.regions = a.regions.into_iter().collect();
            let day = input.period.first_day();
            Observation { scenario, key, spend: a.spend, first_seen: a.first.unwrap_or(day), last_seen: a.last.unwrap_or(day), context }
        })
        .collect()
}

/// One scenario's open gaps and their spend.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioSpend {
    pub scenario: Scenario,
    pub open: usize,
    pub spend: Money,
}

/// The open gaps in one figure that counts each dollar once, and each
/// scenario's open spend (which, summed, may count a dollar twice: a dollar
/// can be out of budget scope and unclaimed at once).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapsHeadline {
    pub open: usize,
    /// Open spend, each dollar once.
    pub open_spend: Money,
    pub by_scenario: Vec<ScenarioSpend>,
}

/// Open spend counted once: every open gap's spend, less what an open gap
/// shares with another open gap (a fact lies in at most one gap besides an
/// out-of-scope one, so subtracting each shared amount once is exact).
pub fn headline<'a>(gaps: impl IntoIterator<Item = &'a Gap>) -> GapsHeadline {
    let open: Vec<&Gap> = gaps.into_iter().filter(|g| g.is_open()).collect();
    let open_ids: BTreeSet<&str> = open.iter().map(|g| g.id.as_str()).collect();
    let mut by: BTreeMap<Scenario, (usize, Money)> = BTreeMap::new();
    let mut once = Money::ZERO;
    for g in &open {
        let e = by.entry(g.scenario).or_default();
        e.0 += 1;
        e.1 += g.spend;
        once += g.spend;
        for s in g.context.shared.iter().filter(|s| open_ids.contains(s.gap.as_str())) {
            once -= s.spend;
        }
    }
    GapsHeadline { open: open.len(), open_spend: once, by_scenario: by.into_iter().map(|(scenario, (open, spend))| ScenarioSpend { scenario, open, spend }).collect() }
}

/// Declared value at stake: the annual opportunity of the business cases, Cost
/// Saving and Revenue Driving apart (they are different kinds of money).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValueAtStake {
    pub cost_saving: Money,
    pub revenue_driving: Money,
}

pub fn value_at_stake<'a>(cases: impl IntoIterator<Item = &'a BusinessCase>) -> ValueAtStake {
    let mut v = ValueAtStake::default();
    for c in cases {
        match c.value_type {
            ValueType::CostSaving => v.cost_saving = v.cost_saving.saturating_add(c.annual_opportunity()),
            ValueType::RevenueDriving => v.revenue_driving = v.revenue_driving.saturating_add(c.annual_opportunity()),
        }
    }
    v
}

#[cfg(test)]
#[path = "gaps_tests.rs"]
mod tests;
