//! Invocation logs replayed from CUR: the model-invocation log records that
//! would have been written for a month's token lines, in Bedrock's S3
//! layout. `finops gen-logs` writes them for a `gen-cur` month (or any CUR
//! file), so the live-versus-billed reconciliation can be tested on logs
//! whose principals, days and tokens are the bill's own.
//!
//! What is replayed: each `Usage` token line with a principal whose model
//! and token type the catalogue prices (the lines a log can be priced as).
//! Marketplace units, guardrails, CCU, AgentCore, rows without a principal
//! and models the catalogue lacks are not: nothing in them names a model id
//! a log record would carry. A line on an application inference profile is
//! logged with the profile's ARN as its `modelId`, as Bedrock logs it.
//!
//! A day's tokens of one caller and model become up to 24 calls, each in a
//! different hour picked from the key's hash: the same file always gives the
//! same records, byte for byte.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use domain::cur::facts::Facts;
use domain::cur::usage_type::{decode, Location, TokenType, Usage};
use domain::governance::catalog::PriceCatalog;
use domain::invocations::TokenCounts;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;

/// Tokens per replayed call before a day's tokens are split over more calls.
const TOKENS_PER_CALL: u64 = 200_000;
const MAX_CALLS_PER_DAY: u64 = 24;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CallerDay {
    day: NaiveDate,
    account: String,
    region: String,
    principal: String,
    model_id: String,
}

/// FNV-1a: stable across platforms and runs, unlike the std hasher.
fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn split(total: u64, n: u64, i: u64) -> u64 {
    total / n + u64::from(i < total % n)
}

/// The replayed records, grouped into objects: object key (under the
/// bucket, `AWSLogs/{account}/BedrockModelInvocationLogs/{region}/YYYY/MM/DD/HH/…json.gz`)
/// to its JSON lines.
pub fn invocation_logs(facts: &Facts, catalog: &PriceCatalog) -> BTreeMap<String, Vec<String>> {
    let mut days: BTreeMap<CallerDay, TokenCounts> = BTreeMap::new();
    let mut decoded = std::collections::HashMap::new();
    for (k, v) in facts.sorted() {
        let principal = k.principal.unwrap_or_default();
        if k.line_item_type != "Usage" || principal.is_empty() {
            continue;
        }
        let ut = decoded.entry(k.usage_type).or_insert_with(|| decode(k.usage_type));
        let (Location::Region(region), Some((model, _))) = (&ut.location, catalog.token_line_price(&ut.usage)) else { continue };
        let (Usage::Tokens { token, cross_region_global, .. }, Some(tokens)) = (&ut.usage, v.usage_amount.round().to_u64()) else { continue };
        let model_id = match k.resource_id.filter(|r| r.contains(":application-inference-profile/")) {
            Some(profile) => profile.to_owned(),
            None if *cross_region_global => format!("global.{}", model.model_id),
            None => model.model_id.to_string(),
        };
        let key = CallerDay { day: k.usage_day, account: k.account.to_string(), region: region.to_string(), principal: principal.to_owned(), model_id };
        let t = days.entry(key).or_default();
        match token {
            TokenType::Input => t.input += tokens,
            TokenType::Output => t.output += tokens,
            TokenType::CacheRead => t.cache_read += tokens,
            TokenType::CacheWrite => t.cache_write += tokens,
        }
    }
    let mut objects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, t) in &days {
        let total = t.input + t.output + t.cache_read + t.cache_write;
        let calls = total.div_ceil(TOKENS_PER_CALL).clamp(1, MAX_CALLS_PER_DAY);
        let h = stable_hash(&[&k.day.to_string(), &k.account, &k.region, &k.principal, &k.model_id]);
        for i in 0..calls {
            // 7 is prime to 24: the calls of one key fall in distinct hours.
            let hour = ((h % 24) + i * 7) % 24;
            let second = (h >> 8) % 3600;
            let Some(at) = k.day.and_hms_opt(hour as u32, (second / 60) as u32, (second % 60) as u32).map(|t| Utc.from_utc_datetime(&t)) else { continue };
            let record = json!({
                "schemaType": "ModelInvocationLog",
                "schemaVersion": "1.0",
                "timestamp": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "accountId": k.account,
                "identity": {"arn": k.principal},
                "region": k.region,
                "requestId": format!("{h:016x}-{i:02}"),
                "operation": "InvokeModel",
                "modelId": k.model_id,
                "input": {
                    "inputContentType": "application/json",
                    "inputTokenCount": split(t.input, calls, i),
                    "cacheReadInputTokenCount": split(t.cache_read, calls, i),
                    "cacheWriteInputTokenCount": split(t.cache_write, calls, i),
                },
                "output": {"outputContentType": "application/json", "outputTokenCount": split(t.output, calls, i)},
            });
            let object = format!(
                "AWSLogs/{acct}/BedrockModelInvocationLogs/{region}/{path}/{acct}_BedrockModelInvocationLogs_{region}_{stamp}_replay.json.gz",
                acct = k.account,
                region = k.region,
                path = at.format("%Y/%m/%d/%H"),
                stamp = at.format("%Y%m%dT%H00Z"),
            );
            objects.entry(object).or_default().push(record.to_string());
        }
    }
    objects
}

#[cfg(test)]
mod tests {
    use domain::cur::facts::CurRow;
    use domain::invocations::parse_record;
    use domain::AccountId;
    use rust_decimal::Decimal;

    use super::*;

    fn row(usage_type: &str, principal: &str, line_item_type: &str, tokens: u64) -> CurRow {
        CurRow {
            usage_day: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
            account: AccountId::parse("111122223333").unwrap(),
            product_code: "AmazonBedrock".into(),
            billing_entity: "AWS".into(),
            product_name: "Amazon Bedrock".into(),
            usage_type: usage_type.into(),
            operation: "InvokeModel".into(),
            line_item_type: line_item_type.into(),
            resource_id: None,
            principal: Some(principal.into()),
            workspace: None,
            usage_amount: Decimal::from(tokens),
            cost: Decimal::ONE,
        }
    }

    const CHAT: &str = "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/s";

    #[test]
    fn a_days_tokens_are_replayed_exactly_as_readable_records_in_distinct_hours() {
        let mut facts = Facts::default();
        facts.add(row("USE1-Claude3Haiku-input-tokens", CHAT, "Usage", 1_000_001));
        facts.add(row("USE1-Claude3Haiku-output-tokens", CHAT, "Usage", 7));
        facts.add(row("USE1-Claude4Sonnet-input-tokens-cross-region-global", CHAT, "Usage", 10));
        // Not replayed: no principal, a credit, Marketplace units, an unpriced model.
        facts.add(row("USE1-Claude3Haiku-input-tokens", "", "Usage", 5));
        facts.add(row("USE1-Claude3Haiku-input-tokens", CHAT, "Credit", 5));
        facts.add(row("USE1-MP:USE1_InputTokenCount-Units", CHAT, "Usage", 5));
        facts.add(row("USE1-Llama3-70B-input-tokens", CHAT, "Usage", 5));
        let objects = invocation_logs(&facts, &PriceCatalog::bundled().unwrap());
        let records: Vec<_> = objects.values().flatten().map(|l| parse_record(l).unwrap()).collect();
        let haiku: Vec<_> = records.iter().filter(|r| r.model_id == "anthropic.claude-3-haiku-20240307-v1:0").collect();
        assert_eq!(haiku.len(), 6, "1,000,008 tokens at 200k a call");
        assert_eq!(haiku.iter().map(|r| r.tokens.input).sum::<u64>(), 1_000_001);
        assert_eq!(haiku.iter().map(|r| r.tokens.output).sum::<u64>(), 7);
        let hours: std::collections::BTreeSet<_> = haiku.iter().map(|r| r.time).collect();
        assert_eq!(hours.len(), 6, "one call per hour");
        let global: Vec<_> = records.iter().filter(|r| r.model_id.starts_with("global.")).collect();
        assert_eq!((global.len(), global[0].tokens.input), (1, 10));
        assert_eq!(records.len(), 7, "nothing else is replayed");
        assert!(records.iter().all(|r| r.principal == CHAT && r.account.as_str() == "111122223333"));
        for (key, lines) in &objects {
            assert!(key.starts_with("AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/03/04/"), "{key}");
            assert!(!lines.is_empty());
        }
        assert_eq!(objects, invocation_logs(&facts, &PriceCatalog::bundled().unwrap()), "deterministic");
    }
}
