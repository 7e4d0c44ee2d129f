//! Every usage type in `tests/fixtures/bedrock_usage_types_observed.csv` (real CUR
//! rows, AWS docs and Price List output) decodes to the token kind and tier the
//! row records, and every token line's model is in the price catalogue.

use domain::cur::usage_type::{decode, units_per_pricing_unit, Endpoint, Tier, TokenType, Usage};
use domain::governance::catalog::PriceCatalog;

fn rows() -> Vec<csv::StringRecord> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/bedrock_usage_types_observed.csv");
    csv::Reader::from_path(path).unwrap().records().map(|r| r.unwrap()).collect()
}

/// The concrete strings a row stands for. Pattern rows (AWS's documented shapes,
/// `*-input-tokens | *-mantle-input-tokens-*`) are instantiated with a model; the
/// row naming a region-prefixed guardrail type gets a region.
fn instances(raw: &str, tier: &str) -> Vec<String> {
    if tier == "pattern" {
        return raw.split(" | ").map(|p| p.replacen('*', "USE1-NovaPro", 1).replace("-*", "-standard")).collect();
    }
    match raw.split_once(" (region-prefixed)") {
        Some((t, _)) => vec![format!("USE1-{t}")],
        None => vec![raw.to_owned()],
    }
}

#[test]
fn every_observed_usage_type_decodes_as_recorded() {
    let catalog = PriceCatalog::bundled().unwrap();
    let rows = rows();
    assert_eq!(rows.len(), 59);
    for row in &rows {
        let (raw, kind, tier, unit) = (&row[0], &row[2], &row[3], &row[5]);
        if !unit.is_empty() {
            assert!(units_per_pricing_unit(unit).is_some(), "{raw}: pricing unit {unit:?}");
        }
        for s in instances(raw, tier) {
            let decoded = decode(&s);
            match (&decoded.usage, kind) {
                (Usage::Guardrail { policy }, k) if k.starts_with("guardrail") => assert!(!policy.is_empty()),
                (Usage::SearchUnits { model }, "rerank search units") => assert_eq!(model, "AmazonRerank-v1"),
                (Usage::Marketplace { token, global, .. }, k) => {
                    assert_eq!(*token, if k == "input" { TokenType::Input } else { TokenType::Output }, "{s}");
                    assert_eq!(*global, tier == "global", "{s}");
                }
                (Usage::Tokens { model, token, tier: t, endpoint, cross_region_global, custom_model, cache_ttl_1h, .. }, k) => {
                    let want = match k {
                        "input" | "input (embedding)" => TokenType::Input,
                        "output" => TokenType::Output,
                        "cache_read" => TokenType::CacheRead,
                        "cache_write" | "cache_write (1h TTL)" => TokenType::CacheWrite,
                        other => panic!("{s}: unexpected kind {other}"),
                    };
                    assert_eq!(*token, want, "{s}");
                    assert_eq!(*cache_ttl_1h, k == "cache_write (1h TTL)", "{s}");
                    let (want_tier, want_global) = match tier {
                        "on-demand" | "in-region / geo profile" => (Tier::OnDemand, false),
                        "batch" => (Tier::Batch, false),
                        "mantle standard" => (Tier::Standard, false),
                        "mantle flex" => (Tier::Flex, false),
                        "latency-optimized" => (Tier::LatencyOptimized, false),
                        "global cross-region" => (Tier::OnDemand, true),
                        "priority + global cross-region" => (Tier::Priority, true),
                        "custom (fine-tuned) model" => (Tier::OnDemand, false),
                        "pattern" => (if s.contains("-mantle-") { Tier::Standard } else { Tier::OnDemand }, false),
                        other => panic!("{s}: unexpected tier {other}"),
                    };
                    assert_eq!((*t, *cross_region_global), (want_tier, want_global), "{s}");
                    assert_eq!(*endpoint == Endpoint::Mantle, s.contains("-mantle-"), "{s}");
                    assert_eq!(*custom_model, tier.starts_with("custom"), "{s}");
                    assert!(catalog.by_cur_token(model).is_some(), "{s}: model token {model} is not in the catalogue");
                }
                (other, k) => panic!("{s} ({k}) decoded as {other:?}"),
            }
        }
    }
}

#[test]
fn the_pattern_rows_themselves_are_not_usage_types() {
    // The CSV documents AWS's shapes with '*' and ' | '; as strings they are not
    // usage types and must come out Unknown (kept, with the reason), not guessed at.
    for row in rows().iter().filter(|r| &r[3] == "pattern") {
        assert!(matches!(decode(&row[0]).usage, Usage::Unknown { ref reason } if reason.contains("not a usage type")), "{}", &row[0]);
    }
}
