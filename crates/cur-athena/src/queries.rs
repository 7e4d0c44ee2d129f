//! Example queries over the stack's Glue tables (`template.yaml`'s
//! `AnalyticsDatabase`: `facts`, the fact ledger; `focus`, the FOCUS 1.2
//! export), for Athena and QuickSight users. Each answers a question a CLI
//! report also answers, so a test runs them in DuckDB over the same Parquet
//! files and compares (`finops/tests/athena_queries.rs`). Written in the SQL
//! Athena (Trino) and DuckDB share; every partition is a period, so each
//! query names its period and reads one partition.

use domain::BillingPeriod;

/// One example query: a name, the report it reproduces, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleQuery {
    pub name: &'static str,
    pub what: &'static str,
    pub sql: String,
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The queries for `period` over the tables of Glue database `database`.
pub fn ledger_queries(database: &str, period: BillingPeriod) -> Vec<ExampleQuery> {
    let (db, p) = (ident(database), period.to_string());
    let (first, last) = (period.first_day(), period.last_day());
    let facts = |column: &str| {
        format!(
            "SELECT account, SUM({column}) AS ai_total\nFROM {db}.facts\nWHERE period = '{p}' AND usage_day BETWEEN DATE '{first}' AND DATE '{last}'\nGROUP BY account\nORDER BY account"
        )
    };
    vec![
        ExampleQuery { name: "ai_spend_by_account", what: "AI spend per account (report attribution: by_account ai_total)", sql: facts("cost") },
        ExampleQuery {
            name: "net_ai_spend_by_account",
            what: "AI spend per account after discounts (report attribution --cost-basis net: by_account ai_total)",
            sql: facts("net_cost"),
        },
        ExampleQuery {
            name: "spend_by_workload",
            what: "Billed and amortized spend per workload (report attribution: by_workload, unblended and --cost-basis amortized)",
            sql: format!(
                "SELECT x_workload AS workload, SUM(billedcost) AS billed, SUM(effectivecost) AS amortized\nFROM {db}.focus\nWHERE period = '{p}' AND x_workload IS NOT NULL\nGROUP BY x_workload\nORDER BY x_workload"
            ),
        },
        ExampleQuery {
            name: "unattributed_by_reason",
            what: "Spend nobody owns, per reason (report attribution: unattributed_by_reason)",
            sql: format!(
                "SELECT x_attributionreason AS reason, SUM(billedcost) AS cost\nFROM {db}.focus\nWHERE period = '{p}' AND x_attributionreason IS NOT NULL\nGROUP BY x_attributionreason\nORDER BY x_attributionreason"
            ),
        },
        ExampleQuery {
            name: "spend_by_portfolio",
            what: "Attributed spend per E3 portfolio (report attribution --view hierarchy: the E3 nodes)",
            sql: format!(
                "SELECT split_part(x_hierarchypath, '/', 3) AS portfolio, SUM(billedcost) AS cost\nFROM {db}.focus\nWHERE period = '{p}' AND x_workload IS NOT NULL\nGROUP BY split_part(x_hierarchypath, '/', 3)\nORDER BY 1"
            ),
        },
    ]
}
