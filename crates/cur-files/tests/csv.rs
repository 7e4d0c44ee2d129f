//! The CUR CSV reader: required columns named when missing, a file without the
//! principal column still read, gzip detected, bad values named by row and
//! column, and nothing handed over from a file refused up front.

use std::io::Write;

use cur_files::{csv_reader::read_csv, ReadError};
use domain::cur::facts::{report, CurRow, Facts};

const HEADER: &str = "bill_billing_entity,line_item_usage_account_id,line_item_product_code,line_item_usage_type,line_item_operation,line_item_line_item_type,line_item_usage_start_date,line_item_usage_amount,line_item_unblended_cost,line_item_resource_id,line_item_iam_principal,product";

fn file(lines: &[&str]) -> String {
    let mut s = String::from(HEADER);
    for l in lines {
        s.push('\n');
        s.push_str(l);
    }
    s.push('\n');
    s
}

const BEDROCK: &str = r#"AWS,111122223333,AmazonBedrock,USE1-Claude3Haiku-input-tokens,InvokeModel,Usage,2026-03-12T00:00:00Z,4000,0.001,,arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app,"{""product_name"":""Amazon Bedrock""}""#;
const TAX: &str = r#"AWS,111122223333,AmazonBedrock,,,Tax,2026-03-01T00:00:00Z,0,0.0002,,,"{}""#;
const EC2: &str = r#"AWS,111122223333,AmazonEC2,USE1-BoxUsage:t3.micro,RunInstances,Usage,2026-03-12 00:00:00.000,24,0.2496,i-0abc,,"{""product_name"":""Amazon Elastic Compute Cloud""}""#;

fn read(text: &[u8]) -> Result<Vec<CurRow>, ReadError> {
    let mut rows = Vec::new();
    read_csv(text, |r| rows.push(r))?;
    Ok(rows)
}

#[test]
fn rows_are_read_exactly() {
    let rows = read(file(&[BEDROCK, TAX, EC2]).as_bytes()).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].cost.to_string(), "0.001");
    assert_eq!(rows[0].product_name, "Amazon Bedrock");
    assert_eq!(rows[0].principal.as_deref(), Some("arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app"));
    assert_eq!(rows[2].usage_day.to_string(), "2026-03-12");
    let mut facts = Facts::default();
    rows.into_iter().for_each(|r| facts.add(r));
    let attributor = domain::cur::attribution::Attributor { claims: Default::default(), broad_roles: domain::RolePattern::defaults() };
    let r = report(domain::BillingPeriod::parse("2026-03").unwrap(), &facts, &attributor);
    assert_eq!((r.total.to_canonical_string(), r.ai_total.to_canonical_string()), ("0.2508".into(), "0.0012".into()));
    assert_eq!(r.adjustments.to_canonical_string(), "0.0002");
}

#[test]
fn a_file_without_the_principal_column_is_valid() {
    let header = HEADER.replace(",line_item_iam_principal", "");
    let line = BEDROCK.replace(",arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app", "");
    let mut rows = Vec::new();
    let stats = read_csv(format!("{header}\n{line}\n").as_bytes(), |r| rows.push(r)).unwrap();
    assert!(!stats.principal_column);
    assert_eq!(rows[0].principal, None);
}

#[test]
fn gzip_is_detected() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(file(&[BEDROCK, EC2]).as_bytes()).unwrap();
    assert_eq!(read(&gz.finish().unwrap()).unwrap().len(), 2);
}

#[test]
fn a_missing_required_column_is_named_and_nothing_is_read() {
    for column in cur_files::REQUIRED {
        let header = HEADER.replace(column, "renamed_column");
        let mut seen = 0;
        let err = read_csv(format!("{header}\n{BEDROCK}\n").as_bytes(), |_| seen += 1).unwrap_err();
        assert!(matches!(err, ReadError::MissingColumn(c) if c == column), "{err}");
        assert!(err.to_string().contains(column));
        assert_eq!(seen, 0);
    }
}

#[test]
fn bad_values_and_garbage_are_named() {
    let bad_cost = BEDROCK.replace(",0.001,", ",zero,");
    let err = read(file(&[BEDROCK, &bad_cost]).as_bytes()).unwrap_err();
    assert!(matches!(&err, ReadError::BadValue { row: 2, column: "line_item_unblended_cost", .. }), "{err}");
    let bad_account = BEDROCK.replace("AWS,111122223333", "AWS,12");
    assert!(matches!(read(file(&[&bad_account]).as_bytes()).unwrap_err(), ReadError::BadValue { column: "line_item_usage_account_id", .. }));
    let bad_date = BEDROCK.replace("2026-03-12T00:00:00Z", "yesterday");
    assert!(matches!(read(file(&[&bad_date]).as_bytes()).unwrap_err(), ReadError::BadValue { column: "line_item_usage_start_date", .. }));
    let err = read(b"\x00\x01garbage without a header\nx").unwrap_err();
    assert!(matches!(err, ReadError::MissingColumn(_) | ReadError::Malformed { .. }), "{err}");
    let ragged = format!("{HEADER}\n1,2,3\n");
    assert!(matches!(read(ragged.as_bytes()).unwrap_err(), ReadError::Malformed { .. }));
}

#[test]
fn amounts_beyond_the_bound_are_named_before_any_sum_can_overflow() {
    // Two 5e28 costs would overflow Decimal when summed: the first is refused
    // by name instead, and nothing of the file is handed over.
    let huge = BEDROCK.replace(",0.001,", ",50000000000000000000000000000,");
    let mut seen = 0;
    let err = read_csv(file(&[&huge, &huge]).as_bytes(), |_| seen += 1).unwrap_err();
    assert!(matches!(&err, ReadError::BadValue { row: 1, column: "line_item_unblended_cost", .. }), "{err}");
    assert!(err.to_string().contains("10^15"), "{err}");
    let sci = BEDROCK.replace(",0.001,", ",5e28,");
    assert!(matches!(read(file(&[&sci]).as_bytes()).unwrap_err(), ReadError::BadValue { column: "line_item_unblended_cost", .. }));
    let at_bound = BEDROCK.replace(",0.001,", ",1000000000000000,");
    assert_eq!(read(file(&[&at_bound]).as_bytes()).unwrap()[0].cost.to_string(), "1000000000000000");
}

/// The other cost bases as a CSV carries them: net from
/// `line_item_net_unblended_cost` (unblended where empty), amortized from
/// the Savings Plan columns by line item type; a file without a basis's
/// columns can still be read, and that basis is refused naming the column.
#[test]
fn cost_bases_are_read_beside_unblended() {
    use domain::cur::bases::CostBasis;
    let header = format!(
        "{HEADER},line_item_net_unblended_cost,savings_plan_savings_plan_effective_cost,reservation_effective_cost,savings_plan_total_commitment_to_date,savings_plan_used_commitment,reservation_unused_amortized_upfront_fee_for_billing_period,reservation_unused_recurring_fee"
    );
    let covered = EC2.replace(",Usage,", ",SavingsPlanCoveredUsage,");
    let negation = EC2.replace(",Usage,", ",SavingsPlanNegation,").replace(",0.2496,", ",-0.2496,");
    let fee = r#"AWS,111122223333,ComputeSavingsPlans,,,SavingsPlanRecurringFee,2026-03-01T00:00:00Z,1,10,,,"{}""#;
    let lines = [
        format!("{BEDROCK},0.0009,,,,,,"),
        format!("{TAX},,,,,,,"),
        format!("{covered},0.2496,0.18,,,,,"),
        format!("{negation},-0.2496,,,,,,"),
        format!("{fee},10,,,10,9.5,,"),
    ];
    let text = format!("{header}\n{}\n", lines.join("\n"));
    let (facts, _) = cur_files::csv_reader::read_facts(text.as_bytes()).unwrap();
    let total = |f: &Facts| f.read_total.values().copied().sum::<domain::Money>().to_canonical_string();
    assert_eq!(total(&facts), "10.0012");
    let net = facts.clone().on_basis(CostBasis::Net).unwrap();
    // Bedrock 0.0009 + tax 0.0002 + covered 0.2496 − negation 0.2496 + fee 10.
    assert_eq!(total(&net), "10.0011");
    let amortized = facts.clone().on_basis(CostBasis::Amortized).unwrap();
    // Bedrock 0.001 + tax 0.0002 + covered at its effective 0.18 + negation 0 + unused commitment 0.5.
    assert_eq!(total(&amortized), "0.6812");
    let ai: Vec<String> = net.iter().map(|(_, v)| v.cost.to_canonical_string()).collect();
    assert!(ai.contains(&"0.0009".to_owned()), "{ai:?}");

    // Without the Savings Plan columns: net still reads, amortized is refused by name.
    let (plain, _) = cur_files::csv_reader::read_facts(file(&[BEDROCK, TAX]).as_bytes()).unwrap();
    let e = plain.clone().on_basis(CostBasis::Net).unwrap_err();
    assert_eq!(e.column, "line_item_net_unblended_cost");
    let e = plain.on_basis(CostBasis::Amortized).unwrap_err();
    assert_eq!(e.column, "savings_plan_savings_plan_effective_cost");
}
