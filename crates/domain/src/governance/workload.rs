//! A workload: the E4 product that AI spend is attributed to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::request::BusinessCase;
use super::tasks::DeveloperHandoff;
use crate::money::Money;
use crate::ids::{NodeId, RequestId, UserId, WorkloadId};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkloadStatus {
    /// Approved; tasks not generated yet.
    Approved,
    /// Cloud Engineer tasks in progress.
    Implementing,
    /// Every task Implemented; the Product Owner is asked to claim.
    ReadyToClaim,
    /// Its attribution anchor is claimed: spend attributes to it from the claim date.
    Live,
}

impl WorkloadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "Approved",
            Self::Implementing => "Implementing",
            Self::ReadyToClaim => "ReadyToClaim",
            Self::Live => "Live",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// Also its E4 node id in the hierarchy.
    pub id: WorkloadId,
    pub name: String,
    /// The E3 portfolio it belongs to.
    pub portfolio: NodeId,
    pub owner: UserId,
    pub status: WorkloadStatus,
    /// The requests that built it: the first, then any AI components added.
    pub requests: Vec<RequestId>,
    pub role_name: Option<String>,
    pub handoff: Option<DeveloperHandoff>,
    pub created_at: DateTime<Utc>,
    /// The Product Owner's monthly estimate of an imported workload (a workload
    /// built through a request has its estimates on the request and approval).
    #[serde(default)]
    pub monthly_estimate: Option<Money>,
    #[serde(default)]
    pub business_case: Option<BusinessCase>,
    /// The AWS Migration Acceleration Program tag value (`map-migrated`) the
    /// workload's spend should carry. Only tagged resources earn MAP credit,
    /// and of Bedrock usage only calls through a tagged application
    /// inference profile are tagged: Agent Bill reports the rest as at risk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_migrated: Option<String>,
}

/// A `map-migrated` tag value as AWS accepts tag values: 1 to 256
/// characters of letters, digits, spaces and `_ . : / = + - @`.
pub fn check_map_tag(value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n == 0 || n > 256 {
        return Err(format!("a map-migrated tag value has 1 to 256 characters, not {n}"));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(*c))) {
        return Err(format!("a map-migrated tag value may not contain {c:?}"));
    }
    Ok(())
}

impl Workload {
    pub fn node(&self) -> NodeId {
        NodeId::from(&self.id)
    }
}

/// A workload id from its name: a readable slug plus four characters of the
/// request id, so two workloads with one name stay distinct.
pub fn workload_id(name: &str, request: &RequestId) -> WorkloadId {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (slug.is_empty() || slug.ends_with('-'))) {
            slug.push(c);
        }
    }
    let mut slug = slug.trim_end_matches('-').to_owned();
    slug.truncate(50);
    let slug = slug.trim_end_matches('-');
    let tail: String = request.as_str().chars().rev().filter(|c| c.is_ascii_alphanumeric()).take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let id = if slug.is_empty() { format!("wl-{tail}") } else { format!("{slug}-{tail}") };
    WorkloadId::parse(&id).unwrap_or_else(|_| WorkloadId::parse("workload").expect("valid id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_ids_are_slugs_with_a_request_suffix() {
        let r = RequestId::parse("br-0192ab").unwrap();
        assert_eq!(workload_id("Support Chatbot (EU)", &r).as_str(), "support-chatbot-eu-92ab");
        assert_eq!(workload_id("!!!", &r).as_str(), "wl-92ab");
        assert!(workload_id(&"long name ".repeat(20), &r).as_str().len() <= 64);
    }
}
