//! Exports for the tools a FinOps team already runs: the FOCUS 1.2 allocation
//! export (BI tools, the team's own FOCUS/CUR pipeline) and the chargeback
//! export (Finance). Both lay out the whole organisation's spend, so, like
//! reconciliation, they are the FinOps Lead's and Finance's.

use domain::analytics::cards::Rollup;
use domain::analytics::chargeback::{chargeback_table, weeks_of};
use domain::cur::focus::{focus_table, FocusContext};
use domain::exports::Table;
use domain::governance::authz::Action;
use domain::{Actor, BillingPeriod, EntityRef, Persona};

use super::cards::rollup_key;
use crate::ports::ledger::Written;
use super::{get_typed, Governance, GovernanceError, Result};

/// Where the stack keeps a period's FOCUS export in the ledger bucket.
pub fn focus_export_key(period: BillingPeriod) -> String {
    format!("exports/focus/period={period}/focus.parquet")
}

impl Governance {
    async fn authorize_export(&self, actor: &Actor, what: &str, period: BillingPeriod) -> Result<()> {
        if actor.persona == Persona::System {
            return Ok(());
        }
        self.authorize(actor, Action::ViewAttribution, &EntityRef::new(what, period.to_string())).await
    }

    /// A period's AI spend as FOCUS 1.2 rows, one per ledger fact, attributed
    /// with the claims as they stand.
    pub async fn focus_export(&self, actor: &Actor, period: BillingPeriod) -> Result<Table> {
        self.authorize_export(actor, "focus_export", period).await?;
        let facts = self.period_facts(period).await?;
        let hierarchy = self.hierarchy().await?;
        let attributor = self.attributor().await?;
        Ok(focus_table(period, &facts, &attributor, &FocusContext { hierarchy: &hierarchy, catalog: &self.catalog }))
    }

    /// Writes `period`'s FOCUS export where the stack keeps it
    /// ([`focus_export_key`]: the Glue `focus` table's partition), replacing
    /// the last one, when the period has ingested CUR. The nightly run calls
    /// it for this month and last, so the export follows late data and new
    /// claims; it is a pure function of state, so a rerun writes the same.
    pub async fn publish_focus_export(&self, period: BillingPeriod) -> Result<Option<Written>> {
        if self.period_sources(period).await?.is_empty() {
            return Ok(None);
        }
        let table = self.focus_export(&Governance::system_actor("focus-export"), period).await?;
        Ok(Some(self.ledger.write_table(&focus_export_key(period), &table).await?))
    }

    /// The month's chargeback from settled cards and approved rollups;
    /// refused (409, naming every open card and unapproved rollup) until the
    /// month's weeks are all settled.
    pub async fn chargeback_export(&self, actor: &Actor, period: BillingPeriod) -> Result<Table> {
        self.authorize_export(actor, "chargeback_export", period).await?;
        let weeks = weeks_of(period);
        let mut cards = Vec::new();
        let mut rollups: Vec<Rollup> = Vec::new();
        for &week in &weeks {
            let week_cards: Vec<_> = self.stored_cards(week).await?.into_iter().map(|(c, _)| c).collect();
            let mut portfolios: Vec<_> = week_cards.iter().map(|c| c.portfolio.clone()).collect();
            portfolios.sort();
            portfolios.dedup();
            for p in portfolios {
                if let Some((r, _)) = get_typed::<Rollup>(self.store.as_ref(), rollup_key(week, &p)).await? {
                    rollups.push(r);
                }
            }
            cards.extend(week_cards);
        }
        if cards.is_empty() {
            return Err(GovernanceError::Conflict(format!(
                "the chargeback for {period} is not settled: no spend cards were built for its weeks ({}); they are built each Monday, or with `finops report cards --week`",
                weeks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )));
        }
        let hierarchy = self.hierarchy().await?;
        chargeback_table(period, &cards, &rollups, &hierarchy)
            .map_err(|open| GovernanceError::Conflict(format!("the chargeback for {period} is not settled: {}", open.join("; "))))
    }
}
