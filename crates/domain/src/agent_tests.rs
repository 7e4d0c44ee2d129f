use super::*;

const TABLE: &str = include_str!("../../../tests/fixtures/agent_questions.json");

fn table() -> (serde_json::Value, NaiveDate, Vec<KnownWorkload>) {
    let t: serde_json::Value = serde_json::from_str(TABLE).unwrap();
    let today = NaiveDate::parse_from_str(t["today"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let workloads = t["workloads"].as_array().unwrap().iter().map(|w| KnownWorkload { id: WorkloadId::parse(w["id"].as_str().unwrap()).unwrap(), name: w["name"].as_str().unwrap().into() }).collect();
    (t, today, workloads)
}

#[test]
fn every_phrasing_in_the_table_maps_to_its_question() {
    let (t, today, workloads) = table();
    let cases = t["understood"].as_array().unwrap();
    assert!(cases.len() >= 40, "the table needs at least 40 phrasings, has {}", cases.len());
    let mut failures = Vec::new();
    for c in cases {
        let ask = c["ask"].as_str().unwrap();
        let want: Question = serde_json::from_value(c["question"].clone()).unwrap();
        match parse(ask, today, &workloads) {
            Ok(u) if u.question == want => assert!(!u.explanation.is_empty()),
            other => failures.push(format!("{ask:?}: want {want:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every question but suspend's is covered by the table.
    let names: std::collections::BTreeSet<&str> = cases.iter().map(|c| c["question"]["question"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 9, "{names:?}");
}

#[test]
fn what_cannot_be_answered_is_refused_with_the_list_of_what_can() {
    let (t, today, workloads) = table();
    let refused = t["refused"].as_array().unwrap();
    assert!(refused.len() >= 10);
    for r in refused {
        let ask = r.as_str().unwrap();
        let got = parse(ask, today, &workloads);
        assert_eq!(got, Err(Refusal::Unknown), "{ask:?} must be refused, not guessed");
    }
    let message = Refusal::Unknown.to_string();
    assert!(CAN_ANSWER.iter().all(|q| message.contains(q)), "{message}");
    assert_eq!(parse("  ?! ", today, &workloads), Err(Refusal::Empty));
    assert_eq!(parse("suspend everything", today, &workloads), Err(Refusal::SuspendWhich), "an action never guesses its target");
}

#[test]
fn the_explanation_names_what_the_answer_covers() {
    let (_, today, workloads) = table();
    let u = parse("Is chat over budget last week?", today, &workloads).unwrap();
    assert_eq!(u.explanation, "whether workload chat is over or under estimate in 2026-W46 (2026-11-09 to 2026-11-15)");
    let u = parse("spend by model in October", today, &workloads).unwrap();
    assert_eq!(u.explanation, "spend by model in 2026-10");
}

#[test]
fn a_month_named_without_a_year_is_the_latest_one_not_in_the_future_and_may_needs_a_year() {
    let (_, today, workloads) = table();
    let span = |s: &str| match parse(s, today, &workloads).unwrap().question {
        Question::SpendBy { span, .. } => span,
        q => panic!("{q:?}"),
    };
    assert_eq!(span("spend in November"), Span::Month(BillingPeriod::parse("2026-11").unwrap()));
    assert_eq!(span("spend in dec"), Span::Month(BillingPeriod::parse("2025-12").unwrap()));
    assert_eq!(span("spend in May 2026"), Span::Month(BillingPeriod::parse("2026-05").unwrap()));
    assert_eq!(span("how much may we spend"), Span::Month(BillingPeriod::parse("2026-11").unwrap()), "'may' alone is a verb");
}
