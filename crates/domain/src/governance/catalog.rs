//! The model price catalogue: `catalog/price-catalog.json`, built from LiteLLM's
//! catalogue by `scripts/build-price-catalog.py` and compiled in, so the estimator
//! works offline and every build carries the prices it was tested with.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::ModelId;

const BUNDLED: &str = include_str!("../../../../catalog/price-catalog.json");

/// Prices per 1K tokens, exact. A missing price means the model has no such token type.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenPrices {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub input: Option<Decimal>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub output: Option<Decimal>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cache_read: Option<Decimal>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cache_write: Option<Decimal>,
}

impl TokenPrices {
    pub fn of(&self, token: crate::cur::usage_type::TokenType) -> Option<Decimal> {
        use crate::cur::usage_type::TokenType;
        match token {
            TokenType::Input => self.input,
            TokenType::Output => self.output,
            TokenType::CacheRead => self.cache_read,
            TokenType::CacheWrite => self.cache_write,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub model_id: ModelId,
    /// The model's token in CUR usage types (`USE1-Claude3Haiku-input-tokens`).
    pub cur_model_token: String,
    /// CUR's `product['model']`.
    pub product_model: String,
    pub provider: String,
    pub family: String,
    /// `chat`, `embedding`, …: only chat models are offered for workload estimates.
    pub mode: String,
    pub per_1k_tokens: TokenPrices,
    /// Geographies with a system cross-region inference profile (`us`, `eu`, `global`, …).
    pub cross_region_geos: Vec<String>,
    /// A geography's system profile priced apart from the model (`eu.`
    /// Sonnet 4.5 costs 10 % more than in-region): geography to its prices.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub profile_prices: std::collections::BTreeMap<String, TokenPrices>,
    /// A region priced apart (GovCloud, some of Europe): region to its prices.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub region_prices: std::collections::BTreeMap<String, TokenPrices>,
}

impl ModelPrice {
    /// The prices of a call routed through `geo`'s system profile (`None`:
    /// in-region) in `region`: a profile's own price, else the region's,
    /// else the model's. A `global.` call is the geography `global`.
    pub fn prices_for(&self, geo: Option<&str>, region: &str) -> &TokenPrices {
        match geo {
            Some(g) => self.profile_prices.get(g),
            None => self.region_prices.get(region),
        }
        .unwrap_or(&self.per_1k_tokens)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceCatalog {
    pub source: String,
    pub as_of: String,
    pub currency: String,
    pub unit: String,
    pub models: Vec<ModelPrice>,
}

impl PriceCatalog {
    /// The catalogue shipped in the repo.
    pub fn bundled() -> Result<Self, String> {
        Self::from_json(BUNDLED)
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let c: Self = serde_json::from_str(text).map_err(|e| format!("price catalogue: {e}"))?;
        if c.unit != "1K tokens" || c.currency != "USD" {
            return Err(format!("price catalogue: expected USD per 1K tokens, got {} per {}", c.currency, c.unit));
        }
        Ok(c)
    }

    /// The entry for a model id; a cross-region profile id (`us.anthropic.…`) finds its base model.
    pub fn model(&self, id: &ModelId) -> Option<&ModelPrice> {
        self.models.iter().find(|m| m.model_id.as_str() == id.base_model())
    }

    pub fn by_cur_token(&self, token: &str) -> Option<&ModelPrice> {
        self.models.iter().find(|m| m.cur_model_token == token)
    }

    /// The model and price per 1K tokens a CUR token line bills at: `None`
    /// when the line is not a model's tokens (Marketplace units, guardrails,
    /// …) or the catalogue does not sell that model or token type. These are
    /// the lines an invocation-log estimate can be compared with.
    pub fn token_line_price(&self, usage: &crate::cur::usage_type::Usage) -> Option<(&ModelPrice, Decimal)> {
        let crate::cur::usage_type::Usage::Tokens { model, token, .. } = usage else {
            return None;
        };
        let m = self.by_cur_token(model)?;
        m.per_1k_tokens.of(*token).map(|p| (m, p))
    }

    /// Models a workload estimate can be priced on.
    pub fn chat_models(&self) -> impl Iterator<Item = &ModelPrice> {
        self.models.iter().filter(|m| m.mode == "chat" && m.per_1k_tokens.input.is_some() && m.per_1k_tokens.output.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_catalogue_covers_the_models_seen_in_cur() {
        let c = PriceCatalog::bundled().unwrap();
        for token in ["Claude3Haiku", "Claude3-5Haiku", "Claude4.6Sonnet", "Claude4.6Opus", "NovaLite", "NovaMicro", "NovaPro", "Mistral7B", "MistralLarge", "Mixtral8x7B", "Llama3-1-405B", "Qwen3-32B", "zai.glm5"] {
            assert!(c.by_cur_token(token).is_some(), "{token}");
        }
        let haiku = c.model(&ModelId::parse("us.anthropic.claude-3-haiku-20240307-v1:0").unwrap()).unwrap();
        assert_eq!(haiku.cur_model_token, "Claude3Haiku");
        // LiteLLM's 2.5e-07 per token is exactly $0.00025 per 1K: no float residue.
        assert_eq!(haiku.per_1k_tokens.input, Some(Decimal::new(25, 5)));
        assert!(haiku.cross_region_geos.contains(&"us".to_owned()));
        assert!(c.chat_models().count() >= 15);
        assert!(c.chat_models().all(|m| m.mode == "chat"));
    }

    #[test]
    fn a_malformed_catalogue_is_refused() {
        assert!(PriceCatalog::from_json("{}").unwrap_err().contains("price catalogue"));
        let wrong_unit = BUNDLED.replace("\"1K tokens\"", "\"1M tokens\"");
        assert!(PriceCatalog::from_json(&wrong_unit).unwrap_err().contains("per 1K tokens"));
    }
}
