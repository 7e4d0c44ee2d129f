//! Cost bases: the same bill in unblended, net and amortized dollars.
//!
//! Finance charges back on the basis its contract makes true: unblended is
//! what the usage cost at the rates billed, net is after discounts (EDP,
//! private rates; `line_item_net_unblended_cost`), amortized spreads
//! commitments (Savings Plans, reservations) over the usage they cover, as
//! AWS's own "amortized cost" and the Cloud Intelligence Dashboards compute it.
//! A reader keeps every basis beside unblended as it reads, so one ingest
//! answers all three; a basis whose columns a file lacks is refused by name,
//! never quietly reported as unblended.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::AccountId;
use crate::money::Money;

pub const NET_COST: &str = "line_item_net_unblended_cost";
pub const LIST_COST: &str = "pricing_public_on_demand_cost";
pub const SP_EFFECTIVE_COST: &str = "savings_plan_savings_plan_effective_cost";
pub const RI_EFFECTIVE_COST: &str = "reservation_effective_cost";
pub const SP_COMMITMENT_TO_DATE: &str = "savings_plan_total_commitment_to_date";
pub const SP_USED_COMMITMENT: &str = "savings_plan_used_commitment";
pub const RI_UNUSED_AMORTIZED_UPFRONT: &str = "reservation_unused_amortized_upfront_fee_for_billing_period";
pub const RI_UNUSED_RECURRING: &str = "reservation_unused_recurring_fee";
pub const RI_ARN: &str = "reservation_reservation_a_r_n";

/// The columns the amortized basis reads (besides the line item type and
/// unblended cost), in CUR 2.0's names.
pub const AMORTIZED_COLUMNS: [&str; 6] =
    [SP_EFFECTIVE_COST, RI_EFFECTIVE_COST, SP_COMMITMENT_TO_DATE, SP_USED_COMMITMENT, RI_UNUSED_AMORTIZED_UPFRONT, RI_UNUSED_RECURRING];

/// Which dollars a report adds up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    /// `line_item_unblended_cost`: the rates billed, before discounts.
    #[default]
    Unblended,
    /// `line_item_net_unblended_cost`: after discounts and credits the bill
    /// nets into each line.
    Net,
    /// Commitments spread over the usage they cover (Savings Plans and
    /// reservations at their effective cost, unused commitment as its fee).
    Amortized,
}

impl CostBasis {
    pub const ALL: [CostBasis; 3] = [CostBasis::Unblended, CostBasis::Net, CostBasis::Amortized];

    pub fn as_str(self) -> &'static str {
        match self {
            CostBasis::Unblended => "unblended",
            CostBasis::Net => "net",
            CostBasis::Amortized => "amortized",
        }
    }

    pub fn parse(s: &str) -> Result<CostBasis, crate::ParseError> {
        CostBasis::ALL
            .into_iter()
            .find(|b| b.as_str() == s.trim())
            .ok_or_else(|| crate::ParseError::new("cost basis", s, "must be unblended, net or amortized"))
    }

    /// The CUR columns this basis is computed from, beyond unblended cost.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            CostBasis::Unblended => &[],
            CostBasis::Net => &[NET_COST],
            CostBasis::Amortized => &AMORTIZED_COLUMNS,
        }
    }
}

impl fmt::Display for CostBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A report on a basis the facts cannot give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {basis} cost basis needs column {column}, which the ingested CUR does not have")]
pub struct BasisUnavailable {
    pub basis: CostBasis,
    pub column: String,
}

/// What a report on one basis needs besides the facts: non-AI cost and every
/// row's cost per account, on that basis; or the column a source lacked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasisSums {
    pub non_ai: BTreeMap<AccountId, Money>,
    pub read_total: BTreeMap<AccountId, Money>,
    /// The first column of this basis that a source lacked: the basis cannot
    /// be reported for facts that include that source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl BasisSums {
    /// Sums of a basis no source could give (`column` says why).
    pub fn missing(column: impl Into<String>) -> BasisSums {
        BasisSums { missing: Some(column.into()), ..BasisSums::default() }
    }

    pub fn add_row(&mut self, account: &AccountId, cost: Money, ai: bool) {
        *self.read_total.entry(account.clone()).or_default() += cost;
        if !ai {
            *self.non_ai.entry(account.clone()).or_default() += cost;
        }
    }

    pub fn absorb(&mut self, other: &BasisSums) {
        for (a, m) in &other.non_ai {
            *self.non_ai.entry(a.clone()).or_default() += *m;
        }
        for (a, m) in &other.read_total {
            *self.read_total.entry(a.clone()).or_default() += *m;
        }
        if self.missing.is_none() {
            self.missing.clone_from(&other.missing);
        }
    }
}

/// The net and amortized sums of a source, as a manifest keeps them beside
/// its unblended ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherBases {
    pub net: BasisSums,
    pub amortized: BasisSums,
}

impl OtherBases {
    /// What a source stored before cost bases were read can give: nothing.
    pub fn unread() -> OtherBases {
        let why = |c: &str| format!("{c} (the source was ingested before cost bases were read: ingest it again)");
        OtherBases { net: BasisSums::missing(why(NET_COST)), amortized: BasisSums::missing(why(SP_EFFECTIVE_COST)) }
    }
}

/// The commitment cells of one row that its amortized cost depends on
/// (empty cells are zero, as Athena's `SUM` treats them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitmentCells {
    pub sp_effective_cost: Decimal,
    pub ri_effective_cost: Decimal,
    pub sp_total_commitment_to_date: Decimal,
    pub sp_used_commitment: Decimal,
    pub ri_unused_amortized_upfront_fee: Decimal,
    pub ri_unused_recurring_fee: Decimal,
    /// The row names a reservation (`reservation_reservation_a_r_n`).
    pub reservation: bool,
}

/// A row's amortized cost: AWS's definition (Cost Explorer's "amortized
/// costs", and the Cloud Intelligence Dashboards' `amortized_cost`). Covered
/// usage costs its effective cost; the negation of its on-demand cost and
/// upfront payments cost nothing (they are spread into effective costs); the
/// recurring fee costs only the commitment left unused; anything else costs
/// what it was billed.
pub fn amortized_cost(line_item_type: &str, unblended: Decimal, c: &CommitmentCells) -> Decimal {
    match line_item_type {
        "SavingsPlanCoveredUsage" => c.sp_effective_cost,
        "SavingsPlanRecurringFee" => c.sp_total_commitment_to_date - c.sp_used_commitment,
        "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => Decimal::ZERO,
        "DiscountedUsage" => c.ri_effective_cost,
        "RIFee" => c.ri_unused_amortized_upfront_fee + c.ri_unused_recurring_fee,
        "Fee" if c.reservation => Decimal::ZERO,
        _ => unblended,
    }
}

/// Line item types that discount or credit usage: the lines allocated to the
/// owners of the usage they discount. Tax and fees are not discounts.
pub fn is_discount(line_item_type: &str) -> bool {
    matches!(line_item_type, "Credit" | "Refund") || line_item_type.ends_with("Discount")
}

/// Splits `amount` over `weights` in proportion, exactly: each share is
/// rounded toward zero at `amount`'s scale (at least cents), and the units
/// left over go one each to the largest remainders (ties to the first), so
/// the shares add up to `amount` to the last digit. `None` when the weights
/// do not add up to a positive total (nothing to split in proportion to).
pub fn allocate(amount: Money, weights: &[Money]) -> Option<Vec<Money>> {
    let total: Decimal = weights.iter().map(|w| w.amount()).sum();
    if total <= Decimal::ZERO || weights.iter().any(|w| w.is_negative()) {
        return None;
    }
    // The amount's own places (normalised, so 1.50 and 1.5000 split alike).
    let a = amount.amount().normalize();
    let scale = a.scale().max(2);
    let unit = Decimal::new(1, scale);
    let mut shares: Vec<Decimal> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(Decimal, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = a.checked_mul(w.amount()).and_then(|x| x.checked_div(total)).unwrap_or(Decimal::ZERO);
        let share = exact.round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::ToZero);
        remainders.push(((exact - share).abs(), i));
        shares.push(share);
    }
    let mut left = a - shares.iter().copied().sum::<Decimal>();
    remainders.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    let step = if left.is_sign_negative() { -unit } else { unit };
    let mut turn = remainders.iter().cycle();
    while !left.is_zero() {
        let Some((_, i)) = turn.next() else { break };
        shares[*i] += step;
        left -= step;
    }
    Some(shares.into_iter().map(Money::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amortized_follows_the_line_item_type() {
        let c = CommitmentCells {
            sp_effective_cost: Decimal::new(70, 2),
            ri_effective_cost: Decimal::new(55, 2),
            sp_total_commitment_to_date: Decimal::new(1000, 2),
            sp_used_commitment: Decimal::new(850, 2),
            ri_unused_amortized_upfront_fee: Decimal::new(3, 0),
            ri_unused_recurring_fee: Decimal::new(2, 0),
            reservation: true,
        };
        let one = Decimal::ONE;
        assert_eq!(amortized_cost("Usage", one, &c), one);
        assert_eq!(amortized_cost("SavingsPlanCoveredUsage", one, &c), Decimal::new(70, 2));
        assert_eq!(amortized_cost("SavingsPlanNegation", -one, &c), Decimal::ZERO);
        assert_eq!(amortized_cost("SavingsPlanRecurringFee", Decimal::TEN, &c), Decimal::new(150, 2));
        assert_eq!(amortized_cost("DiscountedUsage", one, &c), Decimal::new(55, 2));
        assert_eq!(amortized_cost("RIFee", Decimal::TEN, &c), Decimal::new(5, 0));
        assert_eq!(amortized_cost("Fee", Decimal::TEN, &c), Decimal::ZERO);
        assert_eq!(amortized_cost("Fee", Decimal::TEN, &CommitmentCells::default()), Decimal::TEN);
        assert_eq!(amortized_cost("Credit", -one, &c), -one);
    }

    #[test]
    fn discounts_are_credits_refunds_and_every_kind_of_discount() {
        for t in ["Credit", "Refund", "EdpDiscount", "PrivateRateDiscount", "BundledDiscount", "SppDiscount"] {
            assert!(is_discount(t), "{t}");
        }
        for t in ["Usage", "Tax", "Fee", "SavingsPlanNegation", "RIFee"] {
            assert!(!is_discount(t), "{t}");
        }
    }

    #[test]
    fn a_basis_is_parsed_by_name_and_refused_otherwise() {
        assert_eq!(CostBasis::parse("amortized").unwrap(), CostBasis::Amortized);
        let e = CostBasis::parse("blended").unwrap_err();
        assert!(e.to_string().contains("unblended, net or amortized"), "{e}");
    }

    #[test]
    fn nothing_is_split_over_no_usage() {
        assert_eq!(allocate(Money::new(Decimal::new(-5, 0)), &[]), None);
        assert_eq!(allocate(Money::new(Decimal::new(-5, 0)), &[Money::ZERO]), None);
    }

    proptest! {
        /// Shares add up to the amount to the last digit, each within one unit
        /// of its exact proportion.
        #[test]
        fn shares_add_up_exactly(amount in -10_000_000_000i64..10_000_000_000, scale in 0u32..10, weights in proptest::collection::vec(0i64..1_000_000_000, 1..40)) {
            let amount = Money::new(Decimal::new(amount, scale));
            let weights: Vec<Money> = weights.into_iter().map(|w| Money::new(Decimal::new(w, 4))).collect();
            let total: Decimal = weights.iter().map(|w| w.amount()).sum();
            match allocate(amount, &weights) {
                None => prop_assert!(total.is_zero()),
                Some(shares) => {
                    prop_assert_eq!(shares.iter().copied().sum::<Money>(), amount);
                    let unit = Decimal::new(1, amount.amount().normalize().scale().max(2));
                    for (s, w) in shares.iter().zip(&weights) {
                        let exact = amount.amount() * w.amount() / total;
                        prop_assert!((s.amount() - exact).abs() <= unit, "{} vs {}", s, exact);
                    }
                }
            }
        }
    }
}
