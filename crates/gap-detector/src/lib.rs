//! What the gap-detector function does with one EventBridge delivery.
//!
//! `CurPeriodIngested` (a period's CUR changed): detect that period's gaps. The
//! nightly schedule is the reconciler: it detects the current and the previous
//! month, so a lost event, a claim or an approval made since, or a condition
//! that stopped holding is reflected by the next morning. Detection writes only
//! what changed, so duplicate deliveries are harmless.

use chrono::Datelike;
use domain::BillingPeriod;
use runtime_wiring::{delivery, Delivery, Rejected};
use serde_json::{json, Value};
use services::governance::{GapDetectorHandler, Governance};
use services::ports::bus::EventHandler;

/// The periods the nightly run re-detects: the month of `day` and the one before.
pub fn nightly_periods(day: chrono::NaiveDate) -> [BillingPeriod; 2] {
    let this = BillingPeriod::of(day);
    let before = BillingPeriod::of(this.first_day().pred_opt().unwrap_or(this.first_day()).with_day(1).unwrap_or(this.first_day()));
    [before, this]
}

pub async fn handle(gov: &std::sync::Arc<Governance>, event: &Value) -> Result<Value, Rejected> {
    match delivery(event).map_err(|e| Rejected(format!("gap-detector: {e}")))? {
        Delivery::Scheduled { time } => {
            let mut out = Vec::new();
            for p in nightly_periods(time.date_naive()) {
                out.push(gov.detect_gaps(p).await.map_err(|e| Rejected(format!("gap-detector: {p}: {e}")))?);
            }
            Ok(json!({"detected": out}))
        }
        Delivery::Domain(e) if e.detail_type == services::governance::events::CUR_PERIOD_INGESTED => {
            GapDetectorHandler(gov.clone()).handle(&e).await.map_err(|err| Rejected(err.to_string()))?;
            Ok(json!({"handled": e.id}))
        }
        Delivery::Domain(e) => Err(Rejected(format!("gap-detector: does not handle {:?}", e.detail_type))),
    }
}
