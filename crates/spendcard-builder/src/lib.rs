//! What the spendcard-builder function does with one delivery.
//!
//! The weekly schedule (Monday, UTC) builds the previous Monday–Sunday's cards,
//! after rebuilding the week before it so late CUR data reaches any card still
//! open; settled cards never change and their late data lands on the new card.
//! `{"week": "YYYY-Www"}` builds one week by hand (a backfill). Builds write only
//! what changed, so a retried or duplicate run is harmless.

use domain::analytics::cards::week_to_build;
use domain::IsoWeek;
use runtime_wiring::{delivery, Delivery, Rejected};
use serde_json::{json, Value};
use services::governance::Governance;

async fn build(gov: &Governance, weeks: &[IsoWeek]) -> Result<Value, Rejected> {
    let mut out = Vec::new();
    for w in weeks {
        out.push(gov.build_cards(*w).await.map_err(|e| Rejected(format!("spendcard-builder: {w}: {e}")))?);
    }
    Ok(json!({"built": out}))
}

pub async fn handle(gov: &std::sync::Arc<Governance>, event: &Value) -> Result<Value, Rejected> {
    if let Some(w) = event.get("week") {
        let week = w.as_str().and_then(|s| IsoWeek::parse(s).ok()).ok_or_else(|| Rejected(format!("spendcard-builder: week must be YYYY-Www, got {w}")))?;
        return build(gov, &[week]).await;
    }
    match delivery(event).map_err(|e| Rejected(format!("spendcard-builder: {e}")))? {
        Delivery::Scheduled { time } => {
            let week = week_to_build(time.date_naive());
            build(gov, &[week.previous(), week]).await
        }
        Delivery::Domain(e) => Err(Rejected(format!("spendcard-builder: does not handle {:?}", e.detail_type))),
    }
}
