//! Agent Bill: exact, scoped answers to typed questions about AI spend, and
//! the sentence entry (`ask`) that maps a question in words onto one of them
//! with `domain::agent::parse`. The HTTP routes, `finops ask` and the MCP
//! tools all call these two functions, so every entry point answers the
//! same numbers under the same scope rules.
//!
//! Scope is the report routes' (`spend_scope`): the FinOps Lead sees the
//! organisation, Finance its subtree plus what nobody owns, Product and
//! Portfolio Owners their workloads. Naming a workload outside one's scope
//! is refused naming the scope, and the refusal is audited; so is asking
//! for unattributed spend or unapproved models without the persona for it.
//!
//! Answers read a span's [`SpendCube`], built from the ledger once and kept
//! while the span's fact manifests and the attribution rules (claims,
//! broad-role patterns) are unchanged: a later question on the same month
//! is a store read of manifests and claims and a lookup, not a re-read of
//! a million facts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use domain::agent::answers::{self, Figures, SpendCube, Visible};
use domain::agent::{parse, KnownWorkload, Question, Refusal, Span, Understood, CAN_ANSWER};
use domain::analytics::gaps::{GapStatus, Scenario};
use domain::governance::authz::Action;
use domain::governance::workload::Workload;
use domain::{Actor, BillingPeriod, EntityRef, Money, Persona, WorkloadId};
use serde::{Deserialize, Serialize};

use super::enforcement::{EnforcementOutcome, SuspendInput};
use super::reports::Scope;
use super::{decode, keys, query_index_all, Governance, GovernanceError, Result};

/// Built cubes by span, with the fingerprint of what each was built from.
#[derive(Default)]
pub(crate) struct CubeCache(Mutex<HashMap<Span, (u64, Arc<SpendCube>)>>);

/// `POST /ask`'s body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskInput {
    pub question: String,
    /// Confirms an action the sentence asks for (suspending a workload).
    #[serde(default)]
    pub confirm: bool,
}

/// What an answer covers: whose spend, as the caller's persona sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerScope {
    pub persona: Persona,
    /// The hierarchy nodes the caller sees (absent: the organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<domain::NodeId>>,
    /// The workloads the figures cover.
    pub workloads: Vec<WorkloadId>,
}

/// An answer: the question as typed, the numbers, and one paragraph.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub question: Question,
    /// The span the figures cover, in words (`2026-03`, `2026-W10 (…)`).
    pub covers: String,
    pub scope: AnswerScope,
    pub figures: Figures,
    /// The answer in one paragraph, from templates (no model involved).
    pub text: String,
    /// What a confirmed suspension did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<EnforcementOutcome>,
}

/// `POST /ask`'s answer: how the sentence was understood and the answer,
/// or why it was not understood and what can be asked instead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    pub understood: bool,
    /// How the sentence was read (present when understood).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// Why the sentence was not mapped to a question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// What can be asked (when not understood).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub can_answer: Vec<String>,
}

fn span_of(q: &Question, today: chrono::NaiveDate) -> Span {
    match q {
        Question::EstimateStatus { span, .. }
        | Question::SpendBy { span, .. }
        | Question::CacheHitRate { span, .. }
        | Question::TopWorkloads { span, .. }
        | Question::UnapprovedModels { span }
        | Question::MapCreditsAtRisk { span }
        | Question::Unattributed { span } => *span,
        Question::MonthToDate { .. } | Question::Suspend { .. } => Span::Month(BillingPeriod::of(today)),
    }
}

fn asked_workload(q: &Question) -> Option<&WorkloadId> {
    match q {
        Question::EstimateStatus { workload, .. } | Question::SpendBy { workload, .. } | Question::CacheHitRate { workload, .. } | Question::MonthToDate { workload } => workload.as_ref(),
        Question::Suspend { workload } => Some(workload),
        _ => None,
    }
}

/// The answer's wrapping: what it covers, whose, and the paragraph.
fn answered(actor: &Actor, question: Question, span: Span, scope: &Scope, workloads: Vec<WorkloadId>, figures: Figures) -> Answer {
    let whose = match (asked_workload(&question), scope) {
        (Some(w), _) => format!("workload {w}"),
        (None, Scope::Organisation) => "the organisation".to_owned(),
        (None, Scope::Nodes { .. }) => "your workloads".to_owned(),
    };
    let covers = span.to_string();
    let text = answers::render(&figures, &covers, &whose);
    Answer { question, covers, scope: AnswerScope { persona: actor.persona, nodes: scope.nodes(), workloads }, figures, text, action: None }
}

impl Governance {
    /// Maps a sentence to a question and answers it. A sentence that maps to
    /// nothing is answered with what can be asked, never a guess; a question
    /// the caller may not ask is refused (audited) as its typed form is.
    pub async fn ask(&self, actor: &Actor, input: AskInput) -> Result<Asked> {
        if input.question.chars().count() > 1000 {
            return Err(GovernanceError::invalid("question", "is over 1000 characters"));
        }
        let all = self.all_workloads().await?;
        let known: Vec<KnownWorkload> = all.iter().map(|w| KnownWorkload { id: w.id.clone(), name: w.name.clone() }).collect();
        match parse(&input.question, self.clock.now().date_naive(), &known) {
            Ok(Understood { question, explanation }) => {
                let answer = self.answer_among(actor, question, input.confirm, all).await?;
                Ok(Asked { understood: true, explanation: Some(explanation), answer: Some(answer), refusal: None, can_answer: Vec::new() })
            }
            Err(r) => Ok(Asked {
                understood: false,
                explanation: None,
                answer: None,
                refusal: Some(match r {
                    Refusal::Unknown => "that is not a question Agent Bill can answer".to_owned(),
                    other => other.to_string(),
                }),
                can_answer: CAN_ANSWER.iter().map(|s| (*s).to_owned()).collect(),
            }),
        }
    }

    /// Answers a tool's arguments (MCP's, a GET route's query): the same
    /// typed question, parsed from the tool table, so both read alike.
    pub async fn answer_tool(&self, actor: &Actor, name: &str, args: &serde_json::Map<String, serde_json::Value>) -> Result<Answer> {
        let tool = domain::agent::tools::tool(name).ok_or_else(|| GovernanceError::NotFound { what: "question", id: name.to_owned() })?;
        let (question, confirm) = tool.question(args, self.clock.now().date_naive()).map_err(GovernanceError::Invalid)?;
        self.answer(actor, question, confirm).await
    }

    /// Answers a typed question for `actor`, in its scope. `confirm` must be
    /// true for an action (suspend), which is refused without it.
    pub async fn answer(&self, actor: &Actor, question: Question, confirm: bool) -> Result<Answer> {
        let all = self.all_workloads().await?;
        self.answer_among(actor, question, confirm, all).await
    }

    /// `answer`, with every workload already read.
    async fn answer_among(&self, actor: &Actor, question: Question, confirm: bool, all: Vec<Workload>) -> Result<Answer> {
        let today = self.clock.now().date_naive();
        let span = span_of(&question, today);
        let period = span.periods().first().copied().unwrap_or_else(|| BillingPeriod::of(today));
        if let Question::Suspend { workload } = &question {
            return self.suspend_by_agent(actor, &question, workload, confirm, span).await;
        }
        if matches!(question, Question::Unattributed { .. } | Question::UnapprovedModels { .. }) && actor.persona != Persona::System {
            self.authorize(actor, Action::ViewAttribution, &EntityRef::new("agent", question.name())).await?;
        }
        let scope = self.spend_scope(actor, "agent", period).await?;
        let visible: BTreeSet<WorkloadId> = match asked_workload(&question) {
            Some(w) => {
                let Some(found) = all.iter().find(|x| &x.id == w) else {
                    return Err(GovernanceError::NotFound { what: "workload", id: w.to_string() });
                };
                if !scope.sees(&found.id) {
                    let nodes = scope.nodes().unwrap_or_default().iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
                    let reason = format!("workload {w} is outside your scope ({nodes}); Agent Bill answers about the workloads under it");
                    return Err(self.audit_refusal(actor, &EntityRef::new("workload", w.as_str()), "ViewSpend", &reason).await);
                }
                [found.id.clone()].into_iter().collect()
            }
            None => all.iter().filter(|w| scope.sees(&w.id)).map(|w| w.id.clone()).collect(),
        };
        let workloads: Vec<WorkloadId> = visible.iter().cloned().collect();
        let v = Visible { workloads: &visible };
        // Unapproved models come from the stored gaps; every other answer from the span's cube.
        if matches!(question, Question::UnapprovedModels { .. }) {
            let figures = self.unapproved_models(actor, span).await?;
            return Ok(answered(actor, question, span, &scope, workloads, figures));
        }
        let rules = self.attribution_inputs().await?;
        let cube = self.spend_cube(span, &rules).await?;
        let figures = match &question {
            Question::EstimateStatus { .. } => answers::estimate_status(&cube, &workloads, &self.estimates(&all, &visible).await?, &self.card_thresholds),
            Question::SpendBy { dimension, .. } => answers::spend_by(&cube, *dimension, &v),
            Question::CacheHitRate { .. } => answers::cache_hit_rate(&cube, &v, &self.catalog),
            Question::TopWorkloads { by, .. } => answers::top_workloads(&cube, &*self.spend_cube(span.previous(), &rules).await?, *by, &v),
            Question::MapCreditsAtRisk { .. } => {
                let engagements: BTreeMap<WorkloadId, String> = all.iter().filter_map(|w| w.map_migrated.clone().map(|m| (w.id.clone(), m))).collect();
                answers::map_credits_at_risk(&cube, &engagements, &v)
            }
            Question::MonthToDate { .. } => answers::month_to_date(&cube, &workloads, &self.estimates(&all, &visible).await?),
            Question::Unattributed { .. } => {
                if !scope.sees_unattributed() {
                    let reason = "unattributed spend is the FinOps Lead's and Finance's view";
                    return Err(self.audit_refusal(actor, &EntityRef::new("agent", "unattributed"), "ViewAttribution", reason).await);
                }
                answers::unattributed(&cube)
            }
            Question::UnapprovedModels { .. } | Question::Suspend { .. } => return Err(GovernanceError::Internal(format!("{} is answered above", question.name()))),
        };
        Ok(answered(actor, question, span, &scope, workloads, figures))
    }

    /// Suspends through the kill switch, which checks who may (the owner or
    /// the FinOps Lead) and audits; without `confirm` nothing happens.
    async fn suspend_by_agent(&self, actor: &Actor, question: &Question, workload: &WorkloadId, confirm: bool, span: Span) -> Result<Answer> {
        if !confirm {
            return Err(GovernanceError::invalid(
                "confirm",
                format!("suspending workload {workload} denies every model call of its claimed roles; ask again with confirm: true. Nothing was changed"),
            ));
        }
        let input = SuspendInput { rationale: format!("suspended through Agent Bill by {}", actor.user), whole_role: false, dry_run: false };
        let outcome = self.suspend_workload(actor, workload, input).await?;
        let figures = Figures::Suspend { workload: workload.clone(), state: format!("{:?}", outcome.enforcement.state).to_lowercase(), calls: outcome.calls.len(), dry_run: outcome.dry_run };
        let covers = span.to_string();
        let text = answers::render(&figures, &covers, "");
        Ok(Answer {
            question: question.clone(),
            covers,
            scope: AnswerScope { persona: actor.persona, nodes: (actor.persona != Persona::FinOpsLead).then(|| actor.scope.clone()), workloads: vec![workload.clone()] },
            figures,
            text,
            action: Some(outcome),
        })
    }

    /// Every workload, in id order.
    pub(crate) async fn all_workloads(&self) -> Result<Vec<Workload>> {
        let mut all: Vec<Workload> = query_index_all(self.store.as_ref(), keys::WORKLOADS_INDEX).await?.iter().map(|i| decode(&i.attrs)).collect::<Result<_>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// The monthly estimates (FA Confirmed, else the Product Owner's) of some workloads.
    async fn estimates(&self, all: &[Workload], of: &BTreeSet<WorkloadId>) -> Result<BTreeMap<WorkloadId, Money>> {
        let mut out = BTreeMap::new();
        for w in all.iter().filter(|w| of.contains(&w.id)) {
            let (confirmed, po, _) = self.estimates_of(w).await?;
            if let Some(m) = confirmed.or(po) {
                out.insert(w.id.clone(), m);
            }
        }
        Ok(out)
    }

    /// Models in use outside every approval (the `out_of_budget_scope` gaps
    /// still open), as the gaps view scopes them.
    async fn unapproved_models(&self, actor: &Actor, span: Span) -> Result<Figures> {
        let mut rows = Vec::new();
        for p in span.periods() {
            let (_, gaps) = self.visible_gaps(actor, p).await?;
            for g in gaps.into_iter().filter(|g| g.scenario == Scenario::OutOfBudgetScope && g.status != GapStatus::Resolved) {
                rows.push(answers::UnapprovedLine {
                    model: g.context.model.clone().unwrap_or_else(|| "-".into()),
                    account: g.context.account.as_ref().map_or_else(|| "-".into(), |a| a.to_string()),
                    region: g.context.region.as_ref().map_or_else(|| "-".into(), |r| r.to_string()),
                    spend: g.spend,
                    gap: g.id.clone(),
                    status: g.status.as_str().to_owned(),
                });
            }
        }
        rows.sort_by(|a, b| b.spend.cmp(&a.spend).then_with(|| a.gap.cmp(&b.gap)));
        let total = rows.iter().map(|r| r.spend).sum();
        Ok(Figures::UnapprovedModels { rows, total })
    }

    /// The span's cube: from the cache while the span's manifests and the
    /// attribution rules are those it was built from, else built and kept.
    /// `rules` is `attribution_inputs()`: the attributor and its fingerprint.
    pub(crate) async fn spend_cube(&self, span: Span, rules: &(domain::cur::attribution::Attributor, u64)) -> Result<Arc<SpendCube>> {
        let (attributor, rules) = rules;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        rules.hash(&mut h);
        let periods = span.periods();
        for p in &periods {
            for m in self.period_sources(*p).await? {
                (m.source, m.generation).hash(&mut h);
            }
        }
        let fingerprint = h.finish();
        if let Some((f, cube)) = self.cubes.0.lock().map_err(|_| GovernanceError::Internal("the answer cache is poisoned".into()))?.get(&span) {
            if *f == fingerprint {
                return Ok(cube.clone());
            }
        }
        let mut facts = domain::cur::facts::Facts::default();
        for p in &periods {
            facts.absorb(self.period_facts(*p).await?);
        }
        let cube = Arc::new(SpendCube::build(span, &facts, attributor, &self.catalog));
        let mut cache = self.cubes.0.lock().map_err(|_| GovernanceError::Internal("the answer cache is poisoned".into()))?;
        // Bounded: a month and its neighbours are what people ask about.
        if cache.len() >= 24 {
            cache.clear();
        }
        cache.insert(span, (fingerprint, cube.clone()));
        Ok(cube)
    }
}
