//! Agent Bill's typed questions as tools: one table names each question, says
//! what it answers and for whom, and lists its parameters. The MCP tools'
//! JSON Schemas, the GET routes' query parameters and the argument parsing
//! of both come from it, so a question cannot be offered one way and read
//! another.

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::{Dimension, Question, Ranking, Span};
use crate::governance::FieldError;
use crate::ids::WorkloadId;
use crate::period::{BillingPeriod, IsoWeek};

/// A tool parameter's kind: how it is described and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A workload id; absent means the caller's own workloads.
    Workload,
    /// `YYYY-MM`.
    Period,
    /// `YYYY-Www`.
    Week,
    Dimension,
    Ranking,
    Confirm,
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// The MCP tool name and `Question::name`.
    pub name: &'static str,
    /// The HTTP route that answers it.
    pub route: &'static str,
    pub description: &'static str,
    pub params: &'static [Param],
}

const WORKLOAD: Param = Param { name: "workload", kind: Kind::Workload, required: false, description: "A workload id; leave out for all the workloads you see (your own, as a Product Owner)." };
const PERIOD: Param = Param { name: "period", kind: Kind::Period, required: false, description: "A billing month, YYYY-MM (default: this month). Give period or week, not both." };
const WEEK: Param = Param { name: "week", kind: Kind::Week, required: false, description: "An ISO week, YYYY-Www (e.g. 2026-W10). Give period or week, not both." };

/// Every question, in the order tools are listed.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "estimate_status",
        route: "/agent/estimate-status",
        description: "Is a workload (or are my workloads) over or under estimate? Actual attributed spend against the FA Confirmed estimate (else the Product Owner's), prorated to a week. For Product Owners (their workloads), Finance and the FinOps Lead.",
        params: &[WORKLOAD, PERIOD, WEEK],
    },
    Tool {
        name: "spend_by",
        route: "/agent/spend-by",
        description: "AI spend broken down by model, region, token type or workload, for a month or a week, over the workloads the caller sees. For every persona that sees spend, in its scope.",
        params: &[
            Param { name: "dimension", kind: Kind::Dimension, required: true, description: "model, region, token_type or workload." },
            WORKLOAD,
            PERIOD,
            WEEK,
        ],
    },
    Tool {
        name: "cache_hit_rate",
        route: "/agent/cache-hit-rate",
        description: "Prompt-cache hit rate (cache reads over all input-side tokens) per model, and what serving ten more points of input from cache would save at catalogue prices. For Product Owners, Finance and the FinOps Lead, in scope.",
        params: &[WORKLOAD, PERIOD, WEEK],
    },
    Tool {
        name: "top_workloads",
        route: "/agent/top-workloads",
        description: "The ten workloads that spend the most, or grew the most against the previous month or week, among those the caller sees.",
        params: &[Param { name: "by", kind: Kind::Ranking, required: false, description: "spend (default) or growth." }, PERIOD, WEEK],
    },
    Tool {
        name: "unapproved_models",
        route: "/agent/unapproved-models",
        description: "Models in use in an account or region no approval covers, from the open allocation gaps. For the FinOps Lead and Finance.",
        params: &[PERIOD, WEEK],
    },
    Tool {
        name: "map_credits_at_risk",
        route: "/agent/map-credits-at-risk",
        description: "MAP credit at risk: spend of workloads tagged map-migrated that did not go through their application inference profiles, so carries no tag. In the caller's scope.",
        params: &[PERIOD, WEEK],
    },
    Tool {
        name: "month_to_date",
        route: "/agent/month-to-date",
        description: "Spend so far this month against estimate, with a straight-line projection to month end from the days the bill covers. For a workload or the caller's workloads.",
        params: &[WORKLOAD],
    },
    Tool {
        name: "unattributed",
        route: "/agent/unattributed",
        description: "AI spend nobody owns, and why (by reason). For the FinOps Lead and Finance only.",
        params: &[PERIOD, WEEK],
    },
    Tool {
        name: "suspend",
        route: "/agent/suspend",
        description: "Suspend a workload through the kill switch: deny every model call of its claimed roles. An action, not a question: refused unless confirm is true. Its owner or the FinOps Lead.",
        params: &[
            Param { name: "workload", kind: Kind::Workload, required: true, description: "The workload id to suspend." },
            Param { name: "confirm", kind: Kind::Confirm, required: true, description: "Must be true: suspending stops the workload's model calls." },
        ],
    },
];

pub fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

fn schema_of(p: &Param) -> Value {
    let mut s = match p.kind {
        Kind::Workload => json!({"type": "string", "minLength": 1, "maxLength": 128}),
        Kind::Period => json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}),
        Kind::Week => json!({"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"}),
        Kind::Dimension => json!({"type": "string", "enum": ["model", "region", "token_type", "workload"]}),
        Kind::Ranking => json!({"type": "string", "enum": ["spend", "growth"]}),
        Kind::Confirm => json!({"type": "boolean"}),
    };
    s["description"] = Value::String(p.description.to_owned());
    s
}

impl Tool {
    /// The JSON Schema of the tool's arguments (an object).
    pub fn input_schema(&self) -> Map<String, Value> {
        let properties: Map<String, Value> = self.params.iter().map(|p| (p.name.to_owned(), schema_of(p))).collect();
        let required: Vec<&str> = self.params.iter().filter(|p| p.required).map(|p| p.name).collect();
        let mut m = Map::new();
        m.insert("type".into(), json!("object"));
        m.insert("properties".into(), Value::Object(properties));
        m.insert("additionalProperties".into(), json!(false));
        if !required.is_empty() {
            m.insert("required".into(), json!(required));
        }
        m
    }

    /// The question the arguments ask, and whether an action is confirmed.
    /// Unknown arguments, bad values, or a period and a week together are
    /// refused naming the argument.
    pub fn question(&self, args: &Map<String, Value>, today: NaiveDate) -> Result<(Question, bool), FieldError> {
        for k in args.keys() {
            if !self.params.iter().any(|p| p.name == k) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name).collect();
                return Err(FieldError::new(k.clone(), format!("{} takes no such argument; it takes {}", self.name, known.join(", "))));
            }
        }
        for p in self.params.iter().filter(|p| p.required) {
            if !args.contains_key(p.name) {
                return Err(FieldError::new(p.name, "is required"));
            }
        }
        let text = |name: &str| -> Result<Option<&str>, FieldError> {
            match args.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(FieldError::new(name, "must be a string")),
            }
        };
        let workload = text("workload")?.map(|w| WorkloadId::parse(w).map_err(|e| FieldError::new("workload", e.to_string()))).transpose()?;
        let period = text("period")?.map(|p| BillingPeriod::parse(p).map_err(|e| FieldError::new("period", e.to_string()))).transpose()?;
        let week = text("week")?.map(|w| IsoWeek::parse(w).map_err(|e| FieldError::new("week", e.to_string()))).transpose()?;
        let span = match (period, week) {
            (Some(_), Some(_)) => return Err(FieldError::new("week", "give period or week, not both")),
            (Some(p), None) => Span::Month(p),
            (None, Some(w)) => Span::Week(w),
            (None, None) => Span::Month(BillingPeriod::of(today)),
        };
        let confirm = match args.get("confirm") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(FieldError::new("confirm", "must be true or false")),
        };
        let q = match self.name {
            "estimate_status" => Question::EstimateStatus { workload, span },
            "spend_by" => {
                let dimension = match text("dimension")? {
                    Some("model") => Dimension::Model,
                    Some("region") => Dimension::Region,
                    Some("token_type") => Dimension::TokenType,
                    Some("workload") => Dimension::Workload,
                    _ => return Err(FieldError::new("dimension", "must be model, region, token_type or workload")),
                };
                Question::SpendBy { dimension, workload, span }
            }
            "cache_hit_rate" => Question::CacheHitRate { workload, span },
            "top_workloads" => {
                let by = match text("by")? {
                    None | Some("spend") => Ranking::Spend,
                    Some("growth") => Ranking::Growth,
                    Some(_) => return Err(FieldError::new("by", "must be spend or growth")),
                };
                Question::TopWorkloads { by, span }
            }
            "unapproved_models" => Question::UnapprovedModels { span },
            "map_credits_at_risk" => Question::MapCreditsAtRisk { span },
            "month_to_date" => Question::MonthToDate { workload },
            "unattributed" => Question::Unattributed { span },
            "suspend" => Question::Suspend { workload: workload.ok_or_else(|| FieldError::new("workload", "is required"))? },
            other => return Err(FieldError::new("tool", format!("no tool {other}"))),
        };
        Ok((q, confirm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 18).unwrap()
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_question_has_a_tool_and_every_tool_parses_its_own_schema() {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), 9);
        for t in TOOLS {
            let schema = t.input_schema();
            assert_eq!(schema["type"], "object");
            // The smallest valid call: required arguments only.
            let mut a = Map::new();
            for p in t.params.iter().filter(|p| p.required) {
                a.insert(p.name.into(), match p.kind {
                    Kind::Confirm => json!(true),
                    Kind::Dimension => json!("model"),
                    _ => json!("chat"),
                });
            }
            let (q, _) = t.question(&a, today()).unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
            assert_eq!(q.name(), t.name);
            assert!(t.route.starts_with("/agent/"));
        }
    }

    #[test]
    fn arguments_become_the_typed_question() {
        let t = tool("spend_by").unwrap();
        let (q, confirm) = t.question(&args(json!({"dimension": "token_type", "workload": "chat", "week": "2026-W10"})), today()).unwrap();
        assert!(!confirm);
        assert_eq!(q, Question::SpendBy { dimension: Dimension::TokenType, workload: Some(WorkloadId::parse("chat").unwrap()), span: Span::Week(IsoWeek::parse("2026-W10").unwrap()) });
        let (q, _) = tool("top_workloads").unwrap().question(&Map::new(), today()).unwrap();
        assert_eq!(q, Question::TopWorkloads { by: Ranking::Spend, span: Span::Month(BillingPeriod::parse("2026-03").unwrap()) });
        let (_, confirm) = tool("suspend").unwrap().question(&args(json!({"workload": "chat", "confirm": true})), today()).unwrap();
        assert!(confirm);
    }

    #[test]
    fn bad_arguments_are_refused_by_name() {
        let cases = [
            ("spend_by", json!({}), "dimension"),
            ("spend_by", json!({"dimension": "colour"}), "dimension"),
            ("estimate_status", json!({"period": "2026-13"}), "period"),
            ("estimate_status", json!({"period": "2026-03", "week": "2026-W10"}), "week"),
            ("estimate_status", json!({"workload": 7}), "workload"),
            ("estimate_status", json!({"colour": "red"}), "colour"),
            ("top_workloads", json!({"by": "size"}), "by"),
            ("suspend", json!({"workload": "chat"}), "confirm"),
            ("suspend", json!({"workload": "chat", "confirm": "yes"}), "confirm"),
        ];
        for (name, a, field) in cases {
            let e = tool(name).unwrap().question(&args(a.clone()), today()).unwrap_err();
            assert_eq!(e.field, field, "{name} {a}");
        }
    }
}
