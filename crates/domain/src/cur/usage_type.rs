//! Decoding CUR's `line_item_usage_type` for AI products.
//!
//! Bedrock usage types read `{REGION}-{model}-{token type}[-{tier/routing}…]`,
//! e.g. `USE1-Claude4Sonnet-cache-read-input-token-count-cross-region-global`;
//! the OpenAI-compatible ("mantle") endpoint writes `-mantle-input-tokens-{tier}`;
//! Marketplace models `MP:{REGION}_InputTokenCount[_Global]-Units`; guardrails
//! `Guardrail-{Policy}UnitsConsumed`. A form this decoder does not know is kept as
//! [`Usage::Unknown`] with the reason, never dropped: its cost still counts.

use serde::{Deserialize, Serialize};

use crate::ids::Region;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Input,
    Output,
    CacheRead,
    CacheWrite,
}

/// The pricing tier or service level of a token line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    OnDemand,
    Batch,
    Flex,
    Priority,
    /// The mantle endpoint's default tier.
    Standard,
    LatencyOptimized,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// bedrock-runtime (InvokeModel, Converse).
    Runtime,
    /// The OpenAI-compatible bedrock-mantle endpoint.
    Mantle,
}

/// Where the usage type says the usage happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Location {
    Region(Region),
    /// A geography prefix (`EU-`, `US-`, `APAC-`) on cross-region batch and embedding lines.
    Geo(String),
    /// No prefix.
    Unspecified,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Usage {
    Tokens {
        /// The model token (`Claude4Sonnet`, `NovaLite`, `zai.glm5`): the catalogue's `cur_model_token`.
        model: String,
        /// A modality marker after the model (`text` in `Nova2.0Pro-text-…`).
        modality: Option<String>,
        token: TokenType,
        tier: Tier,
        endpoint: Endpoint,
        cross_region_global: bool,
        custom_model: bool,
        /// A cache write with the 1-hour TTL (priced above the 5-minute default).
        cache_ttl_1h: bool,
    },
    Marketplace {
        region_code: String,
        token: TokenType,
        global: bool,
    },
    Guardrail {
        /// `ContentPolicy`, `SensitiveInformationPolicyPaid`, …
        policy: String,
    },
    /// Claude Platform's Claude Consumption Units, sold through Marketplace
    /// (`MP:{REGION}_CCU-Units`) at [`CCU_PRICE`] each.
    ClaudeConsumptionUnits {
        region_code: String,
    },
    SearchUnits {
        model: String,
    },
    Unknown {
        reason: String,
    },
}

/// The list price of one Claude Consumption Unit: $0.01 (PRODUCT.md, Platforms).
pub const CCU_PRICE: rust_decimal::Decimal = rust_decimal::Decimal::from_parts(1, 0, 0, false, 2);

/// What `units` CCU cost at list price, exactly.
pub fn ccu_cost(units: rust_decimal::Decimal) -> crate::money::Money {
    crate::money::Money::new(units * CCU_PRICE)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsageType {
    pub raw: String,
    pub location: Location,
    pub usage: Usage,
}

/// AWS's usage-type region codes.
const REGION_CODES: &[(&str, &str)] = &[
    ("USE1", "us-east-1"), ("USE2", "us-east-2"), ("USW1", "us-west-1"), ("USW2", "us-west-2"),
    ("UGW1", "us-gov-west-1"), ("UGE1", "us-gov-east-1"), ("CAN1", "ca-central-1"), ("CAN2", "ca-west-1"),
    ("EUC1", "eu-central-1"), ("EUC2", "eu-central-2"), ("EUW1", "eu-west-1"), ("EUW2", "eu-west-2"),
    ("EUW3", "eu-west-3"), ("EUN1", "eu-north-1"), ("EUS1", "eu-south-1"), ("EUS2", "eu-south-2"),
    ("APN1", "ap-northeast-1"), ("APN2", "ap-northeast-2"), ("APN3", "ap-northeast-3"), ("APS1", "ap-southeast-1"),
    ("APS2", "ap-southeast-2"), ("APS3", "ap-south-1"), ("APS4", "ap-southeast-3"), ("APS5", "ap-south-2"),
    ("APS6", "ap-southeast-4"), ("APS7", "ap-southeast-5"), ("APS8", "ap-southeast-7"), ("APE1", "ap-east-1"),
    ("SAE1", "sa-east-1"), ("MES1", "me-south-1"), ("MEC1", "me-central-1"), ("AFS1", "af-south-1"),
    ("ILC1", "il-central-1"), ("MXC1", "mx-central-1"),
];

const GEOS: &[&str] = &["EU", "US", "AP", "APAC", "JP", "AU", "CA", "GLOBAL"];

/// The region of a usage-type region code (`USE1` → `us-east-1`).
pub fn region_of_code(code: &str) -> Option<Region> {
    REGION_CODES.iter().find(|(c, _)| *c == code).and_then(|(_, r)| Region::parse(r).ok())
}

/// Token-type markers, longest first so `-mantle-input-tokens` wins over `-input-tokens`.
const MARKERS: &[(&str, TokenType, Endpoint)] = &[
    ("-cache-write-input-token-count", TokenType::CacheWrite, Endpoint::Runtime),
    ("-cache-read-input-token-count", TokenType::CacheRead, Endpoint::Runtime),
    ("-mantle-output-tokens", TokenType::Output, Endpoint::Mantle),
    ("-mantle-input-tokens", TokenType::Input, Endpoint::Mantle),
    ("-output-tokens", TokenType::Output, Endpoint::Runtime),
    ("-input-tokens", TokenType::Input, Endpoint::Runtime),
];

/// Tier and routing suffixes after the token type (multi-word ones first).
const SUFFIXES: &[&str] = &["cross-region-global", "latency-optimized", "custom-model", "1-hour", "batch", "flex", "priority", "standard"];

const MODALITIES: &[&str] = &["text", "image", "video", "audio", "speech"];

fn unknown(raw: &str, location: Location, reason: impl Into<String>) -> UsageType {
    UsageType { raw: raw.to_owned(), location, usage: Usage::Unknown { reason: reason.into() } }
}

pub fn decode(raw: &str) -> UsageType {
    if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c == '*') {
        return unknown(raw, Location::Unspecified, "not a usage type: empty, or contains spaces or '*'");
    }
    let (location, body) = match raw.split_once('-') {
        Some((p, rest)) => match region_of_code(p) {
            Some(region) => (Location::Region(region), rest),
            None if GEOS.contains(&p) => (Location::Geo(p.to_owned()), rest),
            None => (Location::Unspecified, raw),
        },
        None => (Location::Unspecified, raw),
    };
    if let Some(mp) = body.strip_prefix("MP:") {
        return marketplace(raw, location, mp);
    }
    if let Some(policy) = body.strip_prefix("Guardrail-") {
        let policy = policy.strip_suffix("UnitsConsumed").unwrap_or(policy);
        return UsageType { raw: raw.to_owned(), location, usage: Usage::Guardrail { policy: policy.to_owned() } };
    }
    if let Some(model) = body.strip_suffix("-searchunits") {
        return UsageType { raw: raw.to_owned(), location, usage: Usage::SearchUnits { model: model.to_owned() } };
    }
    let Some((at, marker, token, endpoint)) = MARKERS.iter().filter_map(|(m, t, e)| body.find(m).map(|i| (i, *m, *t, *e))).min_by_key(|(i, m, _, _)| (*i, usize::MAX - m.len())) else {
        return unknown(raw, location, "no token-type marker (-input-tokens, -output-tokens, -cache-…-token-count)");
    };
    let mut model = &body[..at];
    let mut modality = None;
    if let Some((m, suffix)) = model.rsplit_once('-') {
        if MODALITIES.contains(&suffix) {
            model = m;
            modality = Some(suffix.to_owned());
        }
    }
    if model.is_empty() {
        return unknown(raw, location, "no model before the token type");
    }
    let mut rest = &body[at + marker.len()..];
    let (mut tier, mut global, mut custom, mut ttl_1h) = (Tier::OnDemand, false, false, false);
    if endpoint == Endpoint::Mantle {
        tier = Tier::Standard;
    }
    while let Some(r) = rest.strip_prefix('-') {
        let Some(word) = SUFFIXES.iter().find(|w| r == **w || r.starts_with(&format!("{w}-"))) else {
            return unknown(raw, location, format!("unknown suffix {r:?} after the token type"));
        };
        match *word {
            "cross-region-global" => global = true,
            "latency-optimized" => tier = Tier::LatencyOptimized,
            "custom-model" => custom = true,
            "1-hour" => ttl_1h = true,
            "batch" => tier = Tier::Batch,
            "flex" => tier = Tier::Flex,
            "priority" => tier = Tier::Priority,
            _ => tier = Tier::Standard,
        }
        rest = &r[word.len()..];
    }
    if ttl_1h && token != TokenType::CacheWrite {
        return unknown(raw, location, "a 1-hour TTL applies only to cache writes");
    }
    UsageType {
        raw: raw.to_owned(),
        location,
        usage: Usage::Tokens { model: model.to_owned(), modality, token, tier, endpoint, cross_region_global: global, custom_model: custom, cache_ttl_1h: ttl_1h },
    }
}

fn marketplace(raw: &str, location: Location, mp: &str) -> UsageType {
    let Some(body) = mp.strip_suffix("-Units") else {
        return unknown(raw, location, "a Marketplace usage type ends in -Units");
    };
    let Some((code, metric)) = body.split_once('_') else {
        return unknown(raw, location, "a Marketplace usage type is MP:{REGION}_{Metric}-Units");
    };
    let (metric, global) = match metric.strip_suffix("_Global") {
        Some(m) => (m, true),
        None => (metric, false),
    };
    if metric == "CCU" && !global {
        return UsageType { raw: raw.to_owned(), location, usage: Usage::ClaudeConsumptionUnits { region_code: code.to_owned() } };
    }
    let token = match metric {
        "InputTokenCount" => TokenType::Input,
        "OutputTokenCount" => TokenType::Output,
        "CacheReadInputTokenCount" => TokenType::CacheRead,
        "CacheWriteInputTokenCount" => TokenType::CacheWrite,
        other => return unknown(raw, location, format!("unknown Marketplace metric {other:?}")),
    };
    UsageType { raw: raw.to_owned(), location, usage: Usage::Marketplace { region_code: code.to_owned(), token, global } }
}

/// CUR's `pricing_unit` as a number of base units (tokens, text units, …).
pub fn units_per_pricing_unit(unit: &str) -> Option<u64> {
    let u = unit.trim().to_ascii_lowercase();
    let u = u.trim_end_matches(" (converted)");
    match u {
        "units" | "unit" | "tokens" | "token" => Some(1),
        _ => {
            let (n, rest) = u.split_once(' ')?;
            let scale = match n {
                "1k" => 1_000,
                "1m" => 1_000_000,
                "1" => 1,
                _ => return None,
            };
            matches!(rest, "tokens" | "text units" | "units" | "images" | "queries").then_some(scale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(raw: &str) -> (String, TokenType, Tier, Endpoint, bool) {
        match decode(raw).usage {
            Usage::Tokens { model, token, tier, endpoint, cross_region_global, .. } => (model, token, tier, endpoint, cross_region_global),
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn token_lines() {
        assert_eq!(tokens("USE1-Claude4.6Sonnet-input-tokens"), ("Claude4.6Sonnet".into(), TokenType::Input, Tier::OnDemand, Endpoint::Runtime, false));
        assert_eq!(tokens("APN1-zai.glm5-mantle-input-tokens-flex"), ("zai.glm5".into(), TokenType::Input, Tier::Flex, Endpoint::Mantle, false));
        assert_eq!(tokens("USE1-Claude4Sonnet-cache-read-input-token-count-cross-region-global").1, TokenType::CacheRead);
        assert!(tokens("USE1-Claude4Sonnet-cache-read-input-token-count-cross-region-global").4);
        let u = decode("USE1-Nova2.0Pro-text-input-tokens-priority-cross-region-global");
        assert!(matches!(u.usage, Usage::Tokens { ref model, ref modality, tier: Tier::Priority, cross_region_global: true, .. } if model == "Nova2.0Pro" && modality.as_deref() == Some("text")));
        assert_eq!(u.location, Location::Region(Region::parse("us-east-1").unwrap()));
        assert_eq!(decode("EU-Qwen3-32B-output-tokens-batch").location, Location::Geo("EU".into()));
    }

    /// Issue 12 item 11: Claude Platform's CCU lines decode (they were
    /// Unknown), priced at $0.01 a unit.
    #[test]
    fn claude_consumption_units_decode_at_a_cent_each() {
        let u = decode("USE1-MP:USE1_CCU-Units");
        assert_eq!(u.usage, Usage::ClaudeConsumptionUnits { region_code: "USE1".into() });
        assert_eq!(u.location, Location::Region(Region::parse("us-east-1").unwrap()));
        assert_eq!(ccu_cost(rust_decimal::Decimal::from(12_345)), crate::money::Money::parse("123.45").unwrap());
        assert_eq!(CCU_PRICE.to_string(), "0.01");
    }

    #[test]
    fn unknown_forms_are_kept_with_a_reason() {
        for (raw, why) in [
            ("USE1-NovaLite-input-tokens-turbo", "unknown suffix"),
            ("USE1-NovaLite-widgets", "no token-type marker"),
            ("USE1-MP:USE1_Foo-Units", "unknown Marketplace metric"),
            ("USE1-MP:USE1_CCU_Global-Units", "unknown Marketplace metric"),
            ("USE1-NovaLite-input-tokens-1-hour", "1-hour TTL"),
            ("*-input-tokens", "not a usage type"),
        ] {
            match decode(raw).usage {
                Usage::Unknown { reason } => assert!(reason.contains(why), "{raw}: {reason}"),
                other => panic!("{raw} decoded as {other:?}"),
            }
        }
    }

    #[test]
    fn pricing_units() {
        assert_eq!(units_per_pricing_unit("1K tokens"), Some(1_000));
        assert_eq!(units_per_pricing_unit("1M tokens (converted)"), Some(1_000_000));
        assert_eq!(units_per_pricing_unit("Units"), Some(1));
        assert_eq!(units_per_pricing_unit("1K text units"), Some(1_000));
        assert_eq!(units_per_pricing_unit("Hrs"), None);
    }
}
