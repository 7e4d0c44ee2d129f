//! A past period's facts from Athena: one aggregation query over the CUR 2.0
//! table computes exactly what the Rust readers compute row by row (the same
//! AI-row selection, the same fact key, the same defaults for empty cells), so
//! a backfill and an ingest of the same data give the same facts. A test runs
//! the query's text in DuckDB on a Parquet file and compares it with the Rust
//! reader; another checks it parses as Athena SQL.
//!
//! The SQL is written in the subset Athena (Trino) and DuckDB share: map
//! lookups go through `CASE WHEN contains(map_keys(m), k) THEN m[k] END`
//! because Trino's `m[k]` fails on a missing key and DuckDB's `element_at`
//! returns a list. Amounts are summed as DECIMAL(38,10): CUR's doubles carry at
//! most 10 decimal places, so the sums are exact.

pub mod queries;

use std::str::FromStr;
use std::time::Duration;

use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use aws_sdk_athena::Client;
use chrono::NaiveDate;
use cur_files::WORKSPACE_TAG_KEYS;
use domain::cur::facts::{FactRef, FactValue, Facts, AI_PRODUCT_CODES};
use domain::{AccountId, BillingPeriod, Money};
use rust_decimal::Decimal;

/// Where the CUR 2.0 table is and how it is partitioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurTable {
    pub database: String,
    pub table: String,
    /// The partition column Data Exports' `BILLING_PERIOD=YYYY-MM` folders become.
    pub period_column: String,
    /// Whether the export includes `line_item_iam_principal`.
    pub principal_column: bool,
    /// Whether the table has the net and commitment columns of the other
    /// cost bases (every CUR 2.0 Data Exports table does; a hand-made table
    /// may not, and then only unblended can be reported).
    pub cost_bases: bool,
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn map_get(column: &str, key: &str) -> String {
    format!("CASE WHEN contains(map_keys({column}), {k}) THEN {column}[{k}] END", k = quote_str(key))
}

/// The columns of the answer, in order.
pub const RESULT_COLUMNS: [&str; 16] = [
    "is_ai", "usage_day", "account", "product_code", "usage_type", "operation", "line_item_type", "resource_id", "principal", "workspace", "usage_amount", "cost", "line_count",
    "net_cost", "amortized_cost", "list_cost",
];

/// A cost column as an exact decimal, empty cells as zero.
fn dec(column: &str) -> String {
    format!("CAST(COALESCE({column}, 0) AS DECIMAL(38, 10))")
}

/// The net, amortized and list cost of a row, as `cur_files` computes them
/// (`domain::cur::bases::amortized_cost`); unblended when the table lacks
/// the bases' columns.
fn basis_expressions(t: &CurTable) -> [String; 3] {
    let unblended = dec("line_item_unblended_cost");
    if !t.cost_bases {
        return [unblended.clone(), unblended.clone(), unblended];
    }
    let net = "CAST(COALESCE(line_item_net_unblended_cost, line_item_unblended_cost, 0) AS DECIMAL(38, 10))".to_owned();
    let list = "CAST(COALESCE(pricing_public_on_demand_cost, line_item_unblended_cost, 0) AS DECIMAL(38, 10))".to_owned();
    let amortized = format!(
        "CASE line_item_line_item_type
      WHEN 'SavingsPlanCoveredUsage' THEN {sp}
      WHEN 'SavingsPlanRecurringFee' THEN {to_date} - {used}
      WHEN 'SavingsPlanNegation' THEN CAST(0 AS DECIMAL(38, 10))
      WHEN 'SavingsPlanUpfrontFee' THEN CAST(0 AS DECIMAL(38, 10))
      WHEN 'DiscountedUsage' THEN {ri}
      WHEN 'RIFee' THEN {upfront} + {recurring}
      WHEN 'Fee' THEN CASE WHEN COALESCE(reservation_reservation_a_r_n, '') <> '' THEN CAST(0 AS DECIMAL(38, 10)) ELSE {unblended} END
      ELSE {unblended}
    END",
        sp = dec(domain::cur::bases::SP_EFFECTIVE_COST),
        to_date = dec(domain::cur::bases::SP_COMMITMENT_TO_DATE),
        used = dec(domain::cur::bases::SP_USED_COMMITMENT),
        ri = dec(domain::cur::bases::RI_EFFECTIVE_COST),
        upfront = dec(domain::cur::bases::RI_UNUSED_AMORTIZED_UPFRONT),
        recurring = dec(domain::cur::bases::RI_UNUSED_RECURRING),
    );
    [net, amortized, list]
}

/// The backfill query for one billing period.
pub fn backfill_sql(t: &CurTable, period: BillingPeriod) -> String {
    let ai_codes = AI_PRODUCT_CODES.iter().map(|c| quote_str(c)).collect::<Vec<_>>().join(", ");
    let product_name = map_get("product", "product_name");
    let workspace = format!("COALESCE({})", WORKSPACE_TAG_KEYS.iter().map(|k| map_get("resource_tags", k)).collect::<Vec<_>>().join(", "));
    let principal = if t.principal_column { "COALESCE(line_item_iam_principal, '')" } else { "CAST(NULL AS VARCHAR)" };
    let [net, amortized, list] = basis_expressions(t);
    format!(
        "WITH rows AS (
  SELECT
    (COALESCE(line_item_product_code, '') IN ({ai_codes})
      OR (bill_billing_entity = 'AWS Marketplace'
          AND ({product_name} LIKE '%(Amazon Bedrock Edition)' OR {product_name} LIKE 'Claude Platform%'))) AS is_ai,
    line_item_usage_start_date,
    line_item_usage_account_id,
    COALESCE(line_item_product_code, '') AS product_code,
    COALESCE(line_item_usage_type, '') AS usage_type,
    COALESCE(line_item_operation, '') AS operation,
    COALESCE(NULLIF(line_item_line_item_type, ''), 'Usage') AS line_item_type,
    NULLIF(line_item_resource_id, '') AS resource_id,
    {principal} AS principal,
    {workspace} AS workspace,
    line_item_usage_amount,
    line_item_unblended_cost,
    {net} AS net_cost,
    {amortized} AS amortized_cost,
    {list} AS list_cost
  FROM {db}.{table}
  WHERE {period_column} = {period}
)
SELECT
  is_ai,
  CASE WHEN is_ai THEN CAST(CAST(line_item_usage_start_date AS DATE) AS VARCHAR) END AS usage_day,
  line_item_usage_account_id AS account,
  CASE WHEN is_ai THEN product_code END AS product_code,
  CASE WHEN is_ai THEN usage_type END AS usage_type,
  CASE WHEN is_ai THEN operation END AS operation,
  CASE WHEN is_ai THEN line_item_type END AS line_item_type,
  CASE WHEN is_ai THEN resource_id END AS resource_id,
  CASE WHEN is_ai THEN principal END AS principal,
  CASE WHEN is_ai THEN workspace END AS workspace,
  SUM(CAST(COALESCE(line_item_usage_amount, 0) AS DECIMAL(38, 10))) AS usage_amount,
  SUM(CAST(COALESCE(line_item_unblended_cost, 0) AS DECIMAL(38, 10))) AS cost,
  COUNT(*) AS line_count,
  SUM(net_cost) AS net_cost,
  SUM(amortized_cost) AS amortized_cost,
  SUM(list_cost) AS list_cost
FROM rows
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10",
        db = quote_ident(&t.database),
        table = quote_ident(&t.table),
        period_column = quote_ident(&t.period_column),
        period = quote_str(&period.to_string()),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("Athena: {0}")]
    Athena(String),
    #[error("query {id} ended {state}: {reason}")]
    QueryFailed { id: String, state: String, reason: String },
    #[error("result row {row}: {column} {value:?} is not valid: {reason}")]
    BadResult { row: usize, column: &'static str, value: String, reason: String },
}

/// Facts from the query's answer rows (`RESULT_COLUMNS` order, values as text,
/// `None` for SQL NULL): what Athena's GetQueryResults and DuckDB both give.
pub fn facts_from_rows(rows: impl IntoIterator<Item = Vec<Option<String>>>) -> Result<Facts, BackfillError> {
    let mut facts = Facts::default();
    for (n, row) in rows.into_iter().enumerate() {
        let bad = |column: &'static str, value: &str, reason: String| BackfillError::BadResult { row: n + 1, column, value: value.to_owned(), reason };
        if row.len() != RESULT_COLUMNS.len() {
            return Err(bad("row", &format!("{} columns", row.len()), format!("expected {}", RESULT_COLUMNS.len())));
        }
        let cell = |i: usize| row[i].clone();
        let text = |i: usize| row[i].clone().unwrap_or_default();
        let dec = |i: usize, column: &'static str| {
            let t = text(i);
            let d = Decimal::from_str(t.trim()).map_err(|e| bad(column, &t, e.to_string()))?;
            Money::bounded(d).map_err(|rule| bad(column, &t, rule))?;
            Ok(d)
        };
        let account = AccountId::parse(&text(2)).map_err(|e| bad("account", &text(2), e.rule))?;
        let cost = Money::new(dec(11, "cost")?);
        let (net, amortized, list) = (Money::new(dec(13, "net_cost")?), Money::new(dec(14, "amortized_cost")?), Money::new(dec(15, "list_cost")?));
        let ai = matches!(text(0).to_ascii_lowercase().as_str(), "true" | "1");
        // Athena's own sums are the bill side of a backfilled month.
        *facts.read_total.entry(account.clone()).or_default() += cost;
        facts.net.add_row(&account, net, ai);
        facts.amortized.add_row(&account, amortized, ai);
        if !ai {
            *facts.non_ai.entry(account).or_default() += cost;
            continue;
        }
        let day = NaiveDate::parse_from_str(&text(1), "%Y-%m-%d").map_err(|e| bad("usage_day", &text(1), e.to_string()))?;
        let (product_code, usage_type, operation, line_item_type) = (text(3), text(4), text(5), text(6));
        let (resource_id, principal, workspace) = (cell(7).filter(|r| !r.is_empty()), cell(8), cell(9));
        let key = FactRef {
            usage_day: day,
            account: &account,
            product_code: &product_code,
            usage_type: &usage_type,
            operation: &operation,
            line_item_type: &line_item_type,
            resource_id: resource_id.as_deref(),
            principal: principal.as_deref(),
            workspace: workspace.as_deref(),
        };
        let rows = text(12).parse::<u64>().map_err(|e| bad("line_count", &text(12), e.to_string()))?;
        facts.add_fact(key, FactValue { usage_amount: dec(10, "usage_amount")?, cost, rows, net, amortized, list });
    }
    Ok(facts)
}

/// Runs the backfill query through Athena.
pub struct AthenaCur {
    client: Client,
    workgroup: String,
    output: Option<String>,
    poll: Duration,
}

impl AthenaCur {
    pub fn new(client: Client, workgroup: impl Into<String>, output: Option<String>) -> Self {
        Self { client, workgroup: workgroup.into(), output, poll: Duration::from_millis(500) }
    }

    pub async fn backfill(&self, table: &CurTable, period: BillingPeriod) -> Result<Facts, BackfillError> {
        let athena = |e: &dyn std::fmt::Display| BackfillError::Athena(e.to_string());
        let mut start = self
            .client
            .start_query_execution()
            .query_string(backfill_sql(table, period))
            .work_group(&self.workgroup)
            .query_execution_context(QueryExecutionContext::builder().database(&table.database).build());
        if let Some(o) = &self.output {
            start = start.result_configuration(ResultConfiguration::builder().output_location(o).build());
        }
        let id = start.send().await.map_err(|e| athena(&aws_sdk_athena::error::DisplayErrorContext(&e)))?.query_execution_id.unwrap_or_default();
        loop {
            let q = self.client.get_query_execution().query_execution_id(&id).send().await.map_err(|e| athena(&aws_sdk_athena::error::DisplayErrorContext(&e)))?;
            let status = q.query_execution.and_then(|x| x.status);
            match status.as_ref().and_then(|s| s.state.clone()) {
                Some(QueryExecutionState::Succeeded) => break,
                Some(s @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                    let reason = status.and_then(|s| s.state_change_reason).unwrap_or_default();
                    return Err(BackfillError::QueryFailed { id, state: s.as_str().to_owned(), reason });
                }
                _ => tokio::time::sleep(self.poll).await,
            }
        }
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(&id)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| athena(&aws_sdk_athena::error::DisplayErrorContext(&e)))?;
            let data = page.result_set.map(|r| r.rows.unwrap_or_default()).unwrap_or_default();
            // Athena's first row is the header.
            for (i, r) in data.into_iter().enumerate() {
                if first_page && i == 0 {
                    continue;
                }
                rows.push(r.data.unwrap_or_default().into_iter().map(|d| d.var_char_value).collect());
            }
            first_page = false;
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let mut facts = facts_from_rows(rows)?;
        if !table.cost_bases {
            cur_files::mark_missing_bases(&mut facts, |_| false);
        }
        Ok(facts)
    }
}
