//! The estimator: what a workload should cost per month, from the PO's inputs and
//! the price catalogue. Every assumption is a named, documented, overridable field.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::catalog::{ModelPrice, PriceCatalog};
use super::request::{Availability, CodingProfile, EstimateInput, RequestDraft};
use crate::money::Money;

/// Token counts for a month.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assumptions {
    /// Working hours in a month (52 weeks × 40 h ÷ 12 ≈ 173; 160 allows for leave).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub working_hours_per_month: Decimal,
    /// Tokens one developer consumes per hour of AI-assisted work. Coding agents
    /// resend their context on every turn, so cached reads dominate; output is small.
    pub coding_tokens_per_ai_hour: Tokens,
    /// Share of tokens that are input when turning dollars into tokens (the rest is
    /// output): 75 % input is typical of chat and RAG workloads.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub input_share_pct: Decimal,
    /// Cross-region (HA) inference premium, in percent.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ha_premium_pct: Decimal,
}

impl Default for Assumptions {
    fn default() -> Self {
        Self {
            working_hours_per_month: Decimal::from(160),
            coding_tokens_per_ai_hour: Tokens { input: 150_000, output: 15_000, cache_read: 450_000 },
            input_share_pct: Decimal::from(75),
            ha_premium_pct: Decimal::TEN,
        }
    }
}

fn per_1k(count: u64, price: Option<Decimal>) -> Decimal {
    Decimal::from(count) * price.unwrap_or_default() / Decimal::ONE_THOUSAND
}

/// A month of `tokens` on `model`, exact. Cache reads without a cache price are
/// charged as input (the model does not cache, so the tokens are resent).
pub fn cost_of(tokens: Tokens, model: &ModelPrice) -> Money {
    let p = &model.per_1k_tokens;
    let cache_price = p.cache_read.or(p.input);
    Money::new(per_1k(tokens.input, p.input) + per_1k(tokens.output, p.output) + per_1k(tokens.cache_read, cache_price))
}

/// A Coding workload's monthly tokens: developers × share of workday × working hours × tokens per AI-hour.
pub fn coding_tokens(profile: &CodingProfile, a: &Assumptions) -> Tokens {
    let ai_hours = Decimal::from(profile.developers) * profile.workday_share_pct / Decimal::ONE_HUNDRED * a.working_hours_per_month;
    let scale = |per_hour: u64| -> u64 {
        (ai_hours * Decimal::from(per_hour)).round().try_into().unwrap_or(u64::MAX)
    };
    let t = a.coding_tokens_per_ai_hour;
    Tokens { input: scale(t.input), output: scale(t.output), cache_read: scale(t.cache_read) }
}

/// How many tokens `amount` buys on `model` at the assumed input:output mix.
pub fn tokens_for_dollars(amount: Money, model: &ModelPrice, a: &Assumptions) -> Tokens {
    let p = &model.per_1k_tokens;
    let share = a.input_share_pct / Decimal::ONE_HUNDRED;
    let blended_per_1k = share * p.input.unwrap_or_default() + (Decimal::ONE - share) * p.output.unwrap_or_default();
    if blended_per_1k.is_zero() {
        return Tokens::default();
    }
    let total = amount.amount() / blended_per_1k * Decimal::ONE_THOUSAND;
    let input: u64 = (total * share).floor().try_into().unwrap_or(u64::MAX);
    let output: u64 = (total * (Decimal::ONE - share)).floor().try_into().unwrap_or(u64::MAX);
    Tokens { input, output, cache_read: 0 }
}

pub fn with_ha_premium(cost: Money, availability: Availability, a: &Assumptions) -> Money {
    match availability {
        Availability::Standard => cost,
        Availability::HighAvailability => cost * (Decimal::ONE + a.ha_premium_pct / Decimal::ONE_HUNDRED),
    }
}

/// The monthly cost of a request's workload on one model, to the cent.
pub fn monthly_cost(draft: &RequestDraft, model: &ModelPrice, a: &Assumptions) -> Money {
    let base = match (&draft.estimate, &draft.coding) {
        (Some(EstimateInput::MonthlyDollars { amount }), _) => *amount,
        (Some(EstimateInput::MonthlyTokens { input, output, cache_read }), _) => {
            cost_of(Tokens { input: *input, output: *output, cache_read: *cache_read }, model)
        }
        (None, Some(profile)) => cost_of(coding_tokens(profile, a), model),
        (None, None) => Money::ZERO,
    };
    with_ha_premium(base, draft.availability, a).round_cents()
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelEstimate {
    pub model_id: String,
    pub monthly: Money,
}

/// The estimate across every approvable model: the range the FinOps Lead chooses in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateRange {
    pub low: Money,
    pub high: Money,
    pub by_model: Vec<ModelEstimate>,
    pub assumptions: Assumptions,
}

pub fn range(draft: &RequestDraft, catalog: &PriceCatalog, a: &Assumptions) -> EstimateRange {
    let mut by_model: Vec<ModelEstimate> = catalog
        .chat_models()
        .map(|m| ModelEstimate { model_id: m.model_id.to_string(), monthly: monthly_cost(draft, m, a) })
        .collect();
    by_model.sort_by(|x, y| x.monthly.cmp(&y.monthly).then_with(|| x.model_id.cmp(&y.model_id)));
    let low = by_model.first().map(|m| m.monthly).unwrap_or_default();
    let high = by_model.last().map(|m| m.monthly).unwrap_or_default();
    EstimateRange { low, high, by_model, assumptions: a.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::request::tests::draft;
    use crate::governance::request::UseCase;
    use crate::ids::ModelId;

    fn haiku() -> ModelPrice {
        PriceCatalog::bundled().unwrap().model(&ModelId::parse("anthropic.claude-3-haiku-20240307-v1:0").unwrap()).unwrap().clone()
    }

    #[test]
    fn token_costs_are_exact() {
        // Haiku: $0.00025 in, $0.00125 out, $0.000025 cache read per 1K.
        let t = Tokens { input: 4_000_000, output: 1_000_000, cache_read: 10_000_000 };
        assert_eq!(cost_of(t, &haiku()), Money::parse("2.50").unwrap());
    }

    #[test]
    fn coding_estimate_follows_the_documented_formula() {
        let profile = CodingProfile { developers: 10, workday_share_pct: Decimal::from(50) };
        let t = coding_tokens(&profile, &Assumptions::default());
        // 10 × 50 % × 160 h = 800 AI-hours.
        assert_eq!(t, Tokens { input: 120_000_000, output: 12_000_000, cache_read: 360_000_000 });
        let mut d = draft();
        d.use_case = UseCase::Coding;
        d.estimate = None;
        d.coding = Some(profile);
        // 120M × 0.00025 + 12M × 0.00125 + 360M × 0.000025 per 1K = 30 + 15 + 9.
        assert_eq!(monthly_cost(&d, &haiku(), &Assumptions::default()), Money::parse("54").unwrap());
        let r = range(&d, &PriceCatalog::bundled().unwrap(), &Assumptions::default());
        assert!(r.low < r.high && r.low <= Money::parse("54").unwrap() && r.high >= Money::parse("54").unwrap());
        assert!(r.by_model.windows(2).all(|w| w[0].monthly <= w[1].monthly));
    }

    #[test]
    fn dollars_and_tokens_convert_both_ways() {
        let a = Assumptions::default();
        let t = tokens_for_dollars(Money::parse("100").unwrap(), &haiku(), &a);
        // Blended: 0.75 × 0.00025 + 0.25 × 0.00125 = 0.0005 per 1K → 200M tokens.
        assert_eq!(t, Tokens { input: 150_000_000, output: 50_000_000, cache_read: 0 });
        assert_eq!(cost_of(t, &haiku()), Money::parse("100").unwrap());
    }

    #[test]
    fn high_availability_adds_the_premium() {
        let a = Assumptions::default();
        let mut d = draft();
        d.availability = Availability::HighAvailability;
        assert_eq!(monthly_cost(&d, &haiku(), &a), Money::parse("1320").unwrap());
        let custom = Assumptions { ha_premium_pct: Decimal::from(25), ..a };
        assert_eq!(monthly_cost(&d, &haiku(), &custom), Money::parse("1500").unwrap());
    }
}
