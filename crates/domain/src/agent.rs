//! Agent Bill's questions: the typed questions it answers, and the
//! deterministic parser that maps a sentence onto one of them.
//!
//! No model is involved: a sentence is matched by keywords, a workload's id
//! or name, and a period ("last week", "October", "this month", `2026-03`,
//! `2026-W10`). The answer says how the sentence was understood
//! ([`Understood::explanation`]), and a sentence that matches nothing is
//! refused with the list of what can be asked, never guessed at.
//!
//! Invariants:
//! - the same sentence, day and workloads always give the same question;
//! - periods are resolved against `today` when parsed, so an answer names
//!   the month or week it covers, not "last week";
//! - an action (suspend) is never inferred from a question about spend: it
//!   needs its own verb and a workload, and the service asks to confirm it.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ids::WorkloadId;
use crate::period::{BillingPeriod, IsoWeek};

/// The span a question covers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Span {
    Month(BillingPeriod),
    Week(IsoWeek),
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Span::Month(p) => write!(f, "{p}"),
            Span::Week(w) => write!(f, "{w} ({} to {})", w.monday(), w.sunday()),
        }
    }
}

/// What spend is broken down by.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Model,
    Region,
    TokenType,
    Workload,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ranking {
    Spend,
    Growth,
}

/// A question Agent Bill answers. `workload: None` means the asker's own
/// workloads (all of them, for the FinOps Lead).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "question", rename_all = "snake_case")]
pub enum Question {
    /// Over or under estimate.
    EstimateStatus { workload: Option<WorkloadId>, span: Span },
    /// Spend broken down by a dimension.
    SpendBy { dimension: Dimension, workload: Option<WorkloadId>, span: Span },
    /// Cache hit rate, and what more caching would save at catalogue prices.
    CacheHitRate { workload: Option<WorkloadId>, span: Span },
    /// The workloads that spend or grow most.
    TopWorkloads { by: Ranking, span: Span },
    /// Models in use that no approval covers (from the gaps).
    UnapprovedModels { span: Span },
    /// Spend on MAP-tagged workloads outside their application inference profiles.
    MapCreditsAtRisk { span: Span },
    /// Spend so far this month against estimate, projected to month end.
    MonthToDate { workload: Option<WorkloadId> },
    /// What nobody owns, and why (FinOps Lead and Finance).
    Unattributed { span: Span },
    /// Suspend a workload: an action, confirmed before it is carried out.
    Suspend { workload: WorkloadId },
}

impl Question {
    /// The stable name of the question (its tool name, its route).
    pub fn name(&self) -> &'static str {
        match self {
            Question::EstimateStatus { .. } => "estimate_status",
            Question::SpendBy { .. } => "spend_by",
            Question::CacheHitRate { .. } => "cache_hit_rate",
            Question::TopWorkloads { .. } => "top_workloads",
            Question::UnapprovedModels { .. } => "unapproved_models",
            Question::MapCreditsAtRisk { .. } => "map_credits_at_risk",
            Question::MonthToDate { .. } => "month_to_date",
            Question::Unattributed { .. } => "unattributed",
            Question::Suspend { .. } => "suspend",
        }
    }
}

/// What can be asked, in the words a refusal lists.
pub const CAN_ANSWER: &[&str] = &[
    "am I over or under estimate (for a workload, or for mine)?",
    "spend by model, region, token type or workload, for a month or a week",
    "what is my cache hit rate, and what would more caching save?",
    "which workloads spend the most, or grow the fastest?",
    "which unapproved models are in use?",
    "how much MAP credit is at risk?",
    "how much have we spent so far this month, and where will the month end?",
    "what is unattributed, and why? (FinOps Lead and Finance)",
    "suspend a workload (asks you to confirm)",
];

/// A sentence as understood.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Understood {
    pub question: Question,
    /// How the sentence was read, in words: what the answer covers.
    pub explanation: String,
}

/// Why a sentence was not mapped to a question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("that is not a question Agent Bill can answer; it can answer: {}", CAN_ANSWER.join("; "))]
    Unknown,
    #[error("suspending needs the workload's name or id")]
    SuspendWhich,
    #[error("the question is empty")]
    Empty,
}

/// A workload the parser can recognise: its id and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownWorkload {
    pub id: WorkloadId,
    pub name: String,
}

const MONTHS: [&str; 12] = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

/// Lower case, every character that is not a letter, digit or '-' a space,
/// padded with spaces so phrases match on word boundaries.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    for c in s.chars() {
        if c.is_alphanumeric() || c == '-' {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

fn has(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| text.contains(&format!(" {p} ")))
}

/// Any word of `text` that starts with one of `stems`.
fn has_stem(text: &str, stems: &[&str]) -> bool {
    text.split(' ').any(|w| stems.iter().any(|s| w.starts_with(s)))
}

/// The period a sentence names, and whether it named one.
fn span_of(text: &str, today: NaiveDate, default_week: bool) -> (Span, bool) {
    let this_month = BillingPeriod::of(today);
    for w in text.split(' ') {
        if let Ok(week) = IsoWeek::parse(&w.to_uppercase()) {
            return (Span::Week(week), true);
        }
        if let Ok(p) = BillingPeriod::parse(w) {
            return (Span::Month(p), true);
        }
    }
    if has(text, &["last week", "previous week", "past week"]) {
        return (Span::Week(IsoWeek::of(today).previous()), true);
    }
    if has(text, &["this week", "current week"]) {
        return (Span::Week(IsoWeek::of(today)), true);
    }
    if has(text, &["last month", "previous month", "past month"]) {
        return (Span::Month(this_month.previous()), true);
    }
    if has(text, &["this month", "current month", "month to date"]) {
        return (Span::Month(this_month), true);
    }
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    for (i, w) in words.iter().enumerate() {
        let Some(m) = MONTHS.iter().position(|name| *w == *name || (w.len() >= 3 && *w != "may" && name.starts_with(w) && w.len() == 3)) else { continue };
        let month = m as u32 + 1;
        // "may" alone is a verb as often as a month: only with a year.
        let year = words.get(i + 1).and_then(|y| y.parse::<i32>().ok()).filter(|y| (1970..=9999).contains(y));
        if *w == "may" && year.is_none() {
            continue;
        }
        let year = year.unwrap_or(if month > today.month() { today.year() - 1 } else { today.year() });
        if let Some(p) = BillingPeriod::new(year, month) {
            return (Span::Month(p), true);
        }
    }
    let default = if default_week { Span::Week(IsoWeek::of(today).previous()) } else { Span::Month(this_month) };
    (default, false)
}

/// The workload a sentence names: its id, or its name (the longest match wins).
fn workload_of(text: &str, workloads: &[KnownWorkload]) -> Option<WorkloadId> {
    let mut best: Option<(usize, &KnownWorkload)> = None;
    for w in workloads {
        for label in [normalise(w.id.as_str()), normalise(&w.name)] {
            let label = label.trim();
            if label.is_empty() || !text.contains(&format!(" {label} ")) {
                continue;
            }
            if best.is_none_or(|(n, _)| label.len() > n) {
                best = Some((label.len(), w));
            }
        }
    }
    best.map(|(_, w)| w.id.clone())
}

fn whose(workload: &Option<WorkloadId>) -> String {
    workload.as_ref().map_or_else(|| "your workloads".to_owned(), |w| format!("workload {w}"))
}

/// Maps a sentence to a question, given today's date and the workloads the
/// asker may name.
pub fn parse(sentence: &str, today: NaiveDate, workloads: &[KnownWorkload]) -> Result<Understood, Refusal> {
    let text = normalise(sentence);
    if text.trim().is_empty() {
        return Err(Refusal::Empty);
    }
    let workload = workload_of(&text, workloads);
    if has_stem(&text, &["suspend", "pause"]) || has(&text, &["kill switch", "turn off", "shut down", "switch off", "stop"]) {
        let Some(w) = workload else { return Err(Refusal::SuspendWhich) };
        let explanation = format!("suspend workload {w}: every model invocation of its claimed roles denied, after you confirm");
        return Ok(Understood { question: Question::Suspend { workload: w }, explanation });
    }
    let (span, named) = span_of(&text, today, false);
    let (question, explanation) = if has_stem(&text, &["unattributed", "unowned", "orphan"]) || has(&text, &["nobody owns", "no owner", "not attributed", "without an owner", "no one owns"]) {
        (Question::Unattributed { span }, format!("spend nobody owns in {span}, and why"))
    } else if has_stem(&text, &["unapproved"]) || has(&text, &["not approved", "without approval", "no approval"]) {
        (Question::UnapprovedModels { span }, format!("models in use without an approval in {span}"))
    } else if has(&text, &["map credit", "map credits", "migration acceleration"]) || (has(&text, &["map"]) && has_stem(&text, &["credit", "risk"])) {
        (Question::MapCreditsAtRisk { span }, format!("spend on MAP-tagged workloads outside their application inference profiles in {span}"))
    } else if has_stem(&text, &["cach"]) {
        (Question::CacheHitRate { workload: workload.clone(), span }, format!("the cache hit rate of {} in {span}, and what more caching would save", whose(&workload)))
    } else if has(&text, &["top", "biggest", "largest", "most expensive", "highest", "fastest growing", "grew the most", "growing fastest"]) || (has_stem(&text, &["grow", "grew"]) && has_stem(&text, &["workload"])) {
        let by = if has_stem(&text, &["grow", "grew", "increas"]) { Ranking::Growth } else { Ranking::Spend };
        let what = if by == Ranking::Growth { "grow the fastest" } else { "spend the most" };
        (Question::TopWorkloads { by, span }, format!("the workloads that {what} in {span}"))
    } else if has(&text, &["so far", "to date", "month to date", "month-to-date", "mtd", "on track", "end of the month", "end of month", "month end", "month-end"]) || has_stem(&text, &["project", "forecast"]) {
        (Question::MonthToDate { workload: workload.clone() }, format!("spend so far this month of {} against estimate, projected to month end", whose(&workload)))
    } else if has_stem(&text, &["estimate", "budget", "overspen", "overrun"]) || has(&text, &["over plan", "under plan"]) {
        let (span, _) = if named { (span, true) } else { span_of(&text, today, true) };
        (Question::EstimateStatus { workload: workload.clone(), span }, format!("whether {} {} over or under estimate in {span}", whose(&workload), if workload.is_some() { "is" } else { "are" }))
    } else if let Some(dimension) = dimension_of(&text, workload.is_some()) {
        let of = workload.as_ref().map_or_else(String::new, |w| format!(" of workload {w}"));
        let by = match dimension {
            Dimension::Model => "model",
            Dimension::Region => "region",
            Dimension::TokenType => "token type",
            Dimension::Workload => "workload",
        };
        (Question::SpendBy { dimension, workload: workload.clone(), span }, format!("spend{of} by {by} in {span}"))
    } else {
        return Err(Refusal::Unknown);
    };
    Ok(Understood { question, explanation })
}

/// A spend breakdown: an explicit dimension, or a workload's spend.
fn dimension_of(text: &str, names_workload: bool) -> Option<Dimension> {
    let spend = has_stem(text, &["spen", "cost", "bill", "charg"]) || has(text, &["how much"]);
    if has(text, &["token type", "token types", "input and output", "input vs output", "input versus output"]) || (has_stem(text, &["token"]) && spend) {
        return Some(Dimension::TokenType);
    }
    // "Which model is best?" is not about spend; "which models does X use" is.
    if has_stem(text, &["model"]) && (spend || has_stem(text, &["use", "using"])) {
        return Some(Dimension::Model);
    }
    if has_stem(text, &["region"]) && spend {
        return Some(Dimension::Region);
    }
    if spend && (has_stem(text, &["workload", "team"]) || names_workload) {
        return Some(Dimension::Workload);
    }
    if spend {
        return Some(Dimension::Workload);
    }
    None
}

#[path = "agent_answers.rs"]
pub mod answers;
#[path = "agent_tools.rs"]
pub mod tools;

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
