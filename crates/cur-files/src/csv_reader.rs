//! CUR CSV and CSV.gz (gzip detected from the first bytes), a record at a time.

use std::io::{BufRead, BufReader, Read};

use domain::cur::bases;
use domain::cur::facts::{CurRow, Facts, RowCosts};
use rust_decimal::Decimal;
use domain::AccountId;

use crate::values::{decimal, usage_day};
use crate::*;

struct Columns {
    required: [usize; 5],
    principal: Option<usize>,
    resource: Option<usize>,
    operation: Option<usize>,
    line_item_type: Option<usize>,
    usage_amount: Option<usize>,
    billing_entity: Option<usize>,
    product: Option<usize>,
    resource_tags: Option<usize>,
    net: Option<usize>,
    list: Option<usize>,
    /// The amortized basis's columns, in `bases::AMORTIZED_COLUMNS` order.
    commitment: [Option<usize>; 6],
    ri_arn: Option<usize>,
    payer: Option<usize>,
    header: Vec<String>,
}

impl Columns {
    fn locate(header: &csv::StringRecord) -> Result<Self, ReadError> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let mut required = [0; 5];
        for (slot, name) in required.iter_mut().zip(REQUIRED) {
            *slot = find(name).ok_or(ReadError::MissingColumn(name))?;
        }
        Ok(Self {
            required,
            principal: find(PRINCIPAL),
            resource: find(RESOURCE_ID),
            operation: find(OPERATION),
            line_item_type: find(LINE_ITEM_TYPE),
            usage_amount: find(USAGE_AMOUNT),
            billing_entity: find(BILLING_ENTITY),
            product: find(PRODUCT),
            resource_tags: find(RESOURCE_TAGS),
            net: find(bases::NET_COST),
            list: find(bases::LIST_COST),
            commitment: bases::AMORTIZED_COLUMNS.map(find),
            ri_arn: find(bases::RI_ARN),
            payer: find(PAYER),
            header: header.iter().map(|h| h.trim().to_owned()).collect(),
        })
    }
}

/// A CSV map column is JSON (`{"product_name":"Amazon Bedrock",…}`).
fn map_value(raw: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    v.get(key)?.as_str().map(String::from)
}

/// Reads a whole CUR CSV into facts.
pub fn read_facts<R: Read>(input: R) -> Result<(Facts, ReadStats), ReadError> {
    let mut facts = Facts::default();
    let mut header = Vec::new();
    let stats = read_csv_costed(input, &mut header, |row, costs, payer| {
        if let Some(p) = payer.filter(|_| domain::cur::facts::is_ai_row(&row.product_code, &row.billing_entity, &row.product_name)) {
            facts.payers.insert(p);
        }
        facts.add_costed(row, costs)
    })?;
    mark_missing_bases(&mut facts, |c| header.iter().any(|h| h == c));
    Ok((facts, stats))
}

/// Reads a CUR CSV (gzip-compressed or not, detected from its first bytes),
/// handing each row to `on_row`.
pub fn read_csv<R: Read>(input: R, mut on_row: impl FnMut(CurRow)) -> Result<ReadStats, ReadError> {
    read_csv_costed(input, &mut Vec::new(), |row, _, _| on_row(row))
}

/// [`read_csv`] with each row's costs on the other bases; `header` receives
/// the file's column names.
fn read_csv_costed<R: Read>(input: R, header_out: &mut Vec<String>, mut on_row: impl FnMut(CurRow, RowCosts, Option<AccountId>)) -> Result<ReadStats, ReadError> {
    let mut buffered = BufReader::new(input);
    let gz = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let source: Box<dyn Read> = if gz { Box::new(flate2::bufread::MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(source);
    let header = reader.headers().map_err(|e| ReadError::Malformed { format: "CSV", reason: e.to_string() })?.clone();
    let cols = Columns::locate(&header)?;
    header_out.clone_from(&cols.header);
    let mut stats = ReadStats { rows: 0, principal_column: cols.principal.is_some() };
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ReadError::Malformed { format: "CSV", reason: e.to_string() }),
        }
        let n = stats.rows + 1;
        let get = |i: usize| record.get(i).unwrap_or("");
        let opt = |i: Option<usize>| i.map(|i| get(i).to_owned());
        let [ut, cost, start, account, product_code] = cols.required;
        let account = AccountId::parse(get(account).trim())
            .map_err(|e| ReadError::BadValue { row: n, column: ACCOUNT, value: get(account).to_owned(), reason: e.rule })?;
        let cost = decimal(n, COST, get(cost))?;
        let cell = |i: Option<usize>, column: &'static str| -> Result<Option<Decimal>, ReadError> {
            i.map(get).filter(|v| !v.trim().is_empty()).map(|v| decimal(n, column, v)).transpose()
        };
        let lit = cols.line_item_type.map(get).filter(|t| !t.is_empty()).unwrap_or("Usage");
        let c = |k: usize| cell(cols.commitment[k], bases::AMORTIZED_COLUMNS[k]).map(Option::unwrap_or_default);
        let cells = bases::CommitmentCells {
            sp_effective_cost: c(0)?,
            ri_effective_cost: c(1)?,
            sp_total_commitment_to_date: c(2)?,
            sp_used_commitment: c(3)?,
            ri_unused_amortized_upfront_fee: c(4)?,
            ri_unused_recurring_fee: c(5)?,
            reservation: cols.ri_arn.map(get).is_some_and(|a| !a.trim().is_empty()),
        };
        let costs = RowCosts {
            net: cell(cols.net, bases::NET_COST)?.unwrap_or(cost),
            amortized: bases::amortized_cost(lit, cost, &cells),
            list: cell(cols.list, bases::LIST_COST)?.unwrap_or(cost),
        };
        let row = CurRow {
            usage_day: usage_day(n, get(start))?,
            account,
            product_code: get(product_code).to_owned(),
            billing_entity: opt(cols.billing_entity).unwrap_or_else(|| "AWS".into()),
            product_name: cols.product.and_then(|i| map_value(get(i), "product_name")).unwrap_or_default(),
            usage_type: get(ut).to_owned(),
            operation: opt(cols.operation).unwrap_or_default(),
            line_item_type: opt(cols.line_item_type).filter(|t| !t.is_empty()).unwrap_or_else(|| "Usage".into()),
            resource_id: opt(cols.resource).filter(|r| !r.is_empty()),
            principal: opt(cols.principal),
            workspace: cols.resource_tags.and_then(|i| WORKSPACE_TAG_KEYS.iter().find_map(|k| map_value(get(i), k))),
            usage_amount: cols.usage_amount.map(|i| decimal(n, USAGE_AMOUNT, get(i))).transpose()?.unwrap_or_default(),
            cost,
        };
        let payer = cols.payer.map(get).map(str::trim).filter(|p| !p.is_empty()).map(|p| AccountId::parse(p).map_err(|e| ReadError::BadValue { row: n, column: PAYER, value: p.to_owned(), reason: e.rule })).transpose()?;
        on_row(row, costs, payer);
        stats.rows = n;
    }
    Ok(stats)
}
