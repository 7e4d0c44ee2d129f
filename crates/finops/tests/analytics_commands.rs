//! The analytics commands as a user runs them: ingest (which triggers gap
//! detection through the local bus's route), report gaps / cards / maturity,
//! gap actions, and bad input refused by name with nothing changed.

use std::process::Output;

use serde_json::Value;

mod common;
use common::{finops, ok};

fn refused(out: Output, needle: &str) {
    common::refused(out, 2, needle)
}

fn json(out: Output) -> Value {
    serde_json::from_str(&ok(out)).expect("json")
}

#[test]
fn gaps_cards_and_maturity_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let home = common::february_home(dir.path());

    let gaps = json(finops(&home, &["--format", "json", "report", "gaps", "--period", "2026-02"]));
    let gaps = gaps.as_array().expect("array");
    assert!(gaps.len() >= 7, "{gaps:?}");
    for g in gaps {
        for field in ["scenario", "key", "spend", "status", "first_seen", "last_seen"] {
            assert!(g[field].is_string(), "{field} in {g}");
        }
        assert!(g["spend"].as_str().expect("spend").parse::<rust_decimal::Decimal>().is_ok());
    }
    let scenarios: std::collections::BTreeSet<&str> = gaps.iter().map(|g| g["scenario"].as_str().expect("scenario")).collect();
    for s in ["attribution_not_enabled", "unattributed_spend", "no_budget_allocation", "out_of_budget_scope", "unclaimed_workload", "unallocated_guardrail_cost", "missing_business_case"] {
        assert!(scenarios.contains(s), "{s} in {scenarios:?}");
    }
    // Reporting again detects again: nothing changes.
    assert_eq!(&json(finops(&home, &["--format", "json", "report", "gaps", "--period", "2026-02"])).as_array().expect("array")[..], &gaps[..]);

    let setup = gaps.iter().find(|g| g["scenario"] == "attribution_not_enabled").expect("gap");
    let id = setup["id"].as_str().expect("id");
    refused(finops(&home, &["gap", "action", id, "--action", "guided_setup", "--rationale", " "]), "rationale");
    refused(finops(&home, &["gap", "action", id, "--action", "teleport", "--rationale", "x"]), "--action");
    refused(finops(&home, &["gap", "action", id, "--action", "add_scope", "--rationale", "x"]), "does not apply");
    let out = json(finops(&home, &["--format", "json", "gap", "action", id, "--action", "guided_setup", "--rationale", "payer admin enables IAM data"]));
    assert_eq!(out["gap"]["status"], "Actioned");
    assert!(out["outcome"]["command"].as_str().expect("command").contains("bcm-data-exports"));
    let after = json(finops(&home, &["--format", "json", "report", "gaps", "--period", "2026-02"]));
    assert_eq!(after.as_array().expect("array").iter().find(|g| g["id"] == id).expect("gap")["status"], "Actioned");

    let cards = json(finops(&home, &["--format", "json", "report", "cards", "--week", "2026-W09"]));
    let cards = cards.as_array().expect("array");
    assert_eq!(cards.len(), 4);
    assert!(cards.iter().all(|c| c["status"] == "Open" && c["week"] == "2026-W09"));
    refused(finops(&home, &["report", "cards", "--week", "2026-9"]), "--week");

    let m = json(finops(&home, &["--format", "json", "report", "maturity"]));
    assert_eq!(m["period"], "2026-02", "the latest month with CUR");
    assert_eq!(m["dimensions"].as_array().expect("dimensions").len(), 4);
    refused(finops(&home, &["report", "maturity", "--period", "Feb"]), "--period");
    refused(finops(&home, &["report", "gaps", "--period", "2026-13"]), "--period");
}

/// `report --help` names every report, the attribution views included.
#[test]
fn report_help_lists_every_report() {
    let dir = tempfile::tempdir().expect("dir");
    let help = ok(finops(dir.path(), &["report", "--help"]));
    for report in ["attribution", "reconcile", "gaps", "cards", "maturity", "hierarchy", "legacy"] {
        assert!(help.contains(report), "{report} in {help}");
    }
}

/// A period nobody ingested is reported with a warning naming it, not as a
/// quiet month; an ingested one has none.
#[test]
fn an_empty_period_warns_that_nothing_was_ingested() {
    let dir = tempfile::tempdir().expect("dir");
    let home = common::february_home(dir.path());
    let empty = finops(&home, &["report", "attribution", "--period", "2026-01"]);
    assert!(empty.status.success());
    let warned = String::from_utf8_lossy(&empty.stderr).into_owned();
    assert!(warned.contains("nothing was ingested for 2026-01"), "{warned}");
    let ingested = finops(&home, &["report", "attribution", "--period", "2026-02"]);
    assert!(ingested.status.success() && !String::from_utf8_lossy(&ingested.stderr).contains("nothing was ingested"));
}
