//! Stage 2: the FinOps Lead's approval, and the ModelApprovalScope it writes.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::catalog::PriceCatalog;
use super::FieldError;
use crate::ids::{AccountId, ModelId, Region, RequestId, WorkloadId};
use crate::money::Money;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Bedrock,
    /// AWS Marketplace models served through Bedrock.
    Marketplace,
    ClaudePlatform,
    Agentcore,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// 5 business days.
    Normal,
    /// 2 business days.
    Priority,
}

impl Priority {
    pub fn sla_business_days(self) -> u32 {
        match self {
            Priority::Normal => 5,
            Priority::Priority => 2,
        }
    }
}

/// `n` business days (Monday to Friday) after `from`, at the same time of day.
pub fn add_business_days(from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    let mut t = from;
    let mut left = n;
    while left > 0 {
        t += Duration::days(1);
        if !matches!(t.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    t
}

/// The Bedrock actions an approval allows (Converse and ConverseStream are
/// authorised through these two).
pub const INVOKE_ACTIONS: [&str; 2] = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"];

/// What the FinOps Lead decides in the four approval steps.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalInput {
    pub platform: Platform,
    pub model: ModelId,
    pub accounts: Vec<AccountId>,
    pub regions: Vec<Region>,
    /// Claude Platform workspace name (required for that platform).
    #[serde(default)]
    pub workspace: Option<String>,
    /// The FA Confirmed Estimate; when absent it is computed from the catalogue.
    #[serde(default)]
    pub confirmed_estimate: Option<Money>,
    #[serde(default)]
    pub business_case_acknowledged: bool,
    pub priority: Priority,
    pub rationale: String,
    /// Whether agents may call the model through AWS's MCP services.
    #[serde(default)]
    pub agentic_access: bool,
    /// Use cross-region inference profiles (implied by an HA request).
    #[serde(default)]
    pub cross_region: bool,
    /// MAP engagement id: when set, a MAP task creates a tagged application inference profile.
    #[serde(default)]
    pub map_mpe_id: Option<String>,
}

impl ApprovalInput {
    /// The rules of the approval form. `business_case_declared` is whether the
    /// request carries one (then it must be acknowledged).
    pub fn validate(&self, catalog: &PriceCatalog, business_case_declared: bool) -> Result<(), FieldError> {
        if self.rationale.trim().is_empty() {
            return Err(FieldError::new("rationale", "is required"));
        }
        if self.rationale.chars().count() > 2000 {
            return Err(FieldError::new("rationale", "must be at most 2000 characters"));
        }
        if business_case_declared && !self.business_case_acknowledged {
            return Err(FieldError::new("business_case_acknowledged", "the declared business case must be acknowledged"));
        }
        if self.accounts.is_empty() || self.accounts.len() > 20 {
            return Err(FieldError::new("accounts", "must list 1 to 20 accounts"));
        }
        if self.accounts.iter().collect::<BTreeSet<_>>().len() != self.accounts.len() {
            return Err(FieldError::new("accounts", "must not repeat an account"));
        }
        if self.regions.is_empty() || self.regions.len() > 10 {
            return Err(FieldError::new("regions", "must list 1 to 10 regions"));
        }
        if self.regions.iter().collect::<BTreeSet<_>>().len() != self.regions.len() {
            return Err(FieldError::new("regions", "must not repeat a region"));
        }
        match self.platform {
            Platform::ClaudePlatform => {
                let ok = self.workspace.as_deref().is_some_and(|w| {
                    !w.is_empty() && w.len() <= 64 && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                });
                if !ok {
                    return Err(FieldError::new("workspace", "Claude Platform needs a workspace name of 1 to 64 letters, digits, '-' or '_'"));
                }
                if self.map_mpe_id.is_some() {
                    return Err(FieldError::new("map_mpe_id", "MAP does not apply to Claude Platform"));
                }
            }
            _ => {
                if catalog.model(&self.model).is_none() {
                    return Err(FieldError::new("model", format!("{} is not in the model catalogue", self.model)));
                }
                if self.workspace.is_some() {
                    return Err(FieldError::new("workspace", "applies only to Claude Platform"));
                }
            }
        }
        if self.cross_region && self.platform != Platform::ClaudePlatform && self.cross_region_geo(catalog).is_none() {
            return Err(FieldError::new("cross_region", format!("{} has no cross-region inference profile for these regions", self.model)));
        }
        if let Some(id) = &self.map_mpe_id {
            if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(FieldError::new("map_mpe_id", "must be 1 to 20 letters or digits"));
            }
        }
        if let Some(e) = self.confirmed_estimate {
            if e.is_negative() {
                return Err(FieldError::new("confirmed_estimate", "must not be negative"));
            }
        }
        Ok(())
    }

    /// The cross-region geography serving every approved region, if the model has one.
    pub fn cross_region_geo(&self, catalog: &PriceCatalog) -> Option<String> {
        let model = catalog.model(&self.model)?;
        let geo_of = |r: &Region| -> &'static str {
            match r.as_str().split('-').next().unwrap_or_default() {
                "us" => "us",
                "eu" => "eu",
                "ap" => "apac",
                "ca" => "ca",
                _ => "global",
            }
        };
        let geos: BTreeSet<&str> = self.regions.iter().map(geo_of).collect();
        let wanted = if geos.len() == 1 { geos.into_iter().next()? } else { "global" };
        [wanted, "global"].into_iter().find(|g| model.cross_region_geos.iter().any(|m| m == g)).map(String::from)
    }
}

/// What an approval permits: this model, in these accounts and regions, for these
/// actions. Gap detection reads usage outside every scope of a model.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelApprovalScope {
    pub request: RequestId,
    pub workload: WorkloadId,
    pub platform: Platform,
    pub model: ModelId,
    pub accounts: Vec<AccountId>,
    pub regions: Vec<Region>,
    pub allowed_actions: Vec<String>,
    pub agentic_access: bool,
    /// The cross-region geography, when inference profiles are allowed.
    pub cross_region_geo: Option<String>,
    pub approved_at: DateTime<Utc>,
}

impl ModelApprovalScope {
    pub fn covers(&self, account: &AccountId, region: &Region) -> bool {
        self.accounts.contains(account) && self.regions.contains(region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ApprovalInput {
        ApprovalInput {
            platform: Platform::Bedrock,
            model: ModelId::parse("anthropic.claude-3-haiku-20240307-v1:0").unwrap(),
            accounts: vec![AccountId::parse("111122223333").unwrap()],
            regions: vec![Region::parse("us-east-1").unwrap()],
            workspace: None,
            confirmed_estimate: None,
            business_case_acknowledged: true,
            priority: Priority::Normal,
            rationale: "Fits the support budget".into(),
            agentic_access: false,
            cross_region: false,
            map_mpe_id: None,
        }
    }

    #[test]
    fn sla_counts_business_days() {
        let fri = DateTime::parse_from_rfc3339("2026-03-06T15:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(add_business_days(fri, 2).to_rfc3339(), "2026-03-10T15:00:00+00:00");
        assert_eq!(add_business_days(fri, 5).to_rfc3339(), "2026-03-13T15:00:00+00:00");
        let sat = DateTime::parse_from_rfc3339("2026-03-07T10:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(add_business_days(sat, 1).weekday(), Weekday::Mon);
    }

    #[test]
    fn every_rule_names_its_field() {
        let c = PriceCatalog::bundled().unwrap();
        assert!(input().validate(&c, true).is_ok());
        type Mutation = Box<dyn Fn(&mut ApprovalInput)>;
        let cases: Vec<(Mutation, bool, &str)> = vec![
            (Box::new(|i| i.rationale = " ".into()), false, "rationale"),
            (Box::new(|i| i.business_case_acknowledged = false), true, "business_case_acknowledged"),
            (Box::new(|i| i.accounts.clear()), false, "accounts"),
            (Box::new(|i| i.accounts.push(i.accounts[0].clone())), false, "accounts"),
            (Box::new(|i| i.regions.clear()), false, "regions"),
            (Box::new(|i| i.model = ModelId::parse("acme.unknown-v1").unwrap()), false, "model"),
            (Box::new(|i| i.workspace = Some("ws".into())), false, "workspace"),
            (Box::new(|i| i.platform = Platform::ClaudePlatform), false, "workspace"),
            (Box::new(|i| i.map_mpe_id = Some("bad id".into())), false, "map_mpe_id"),
            (Box::new(|i| i.confirmed_estimate = Some(Money::parse("-1").unwrap())), false, "confirmed_estimate"),
            (
                Box::new(|i| {
                    i.model = ModelId::parse("mistral.mistral-7b-instruct-v0:2").unwrap();
                    i.cross_region = true;
                }),
                false,
                "cross_region",
            ),
        ];
        for (mutate, declared, field) in cases {
            let mut i = input();
            mutate(&mut i);
            assert_eq!(i.validate(&c, declared).unwrap_err().field, field);
        }
        // Without a declared business case no acknowledgement is needed.
        let mut i = input();
        i.business_case_acknowledged = false;
        assert!(i.validate(&c, false).is_ok());
    }

    #[test]
    fn cross_region_geography() {
        let c = PriceCatalog::bundled().unwrap();
        let mut i = input();
        i.cross_region = true;
        assert_eq!(i.cross_region_geo(&c).as_deref(), Some("us"));
        i.regions = vec![Region::parse("eu-west-1").unwrap()];
        assert_eq!(i.cross_region_geo(&c).as_deref(), Some("eu"));
        i.model = ModelId::parse("anthropic.claude-sonnet-4-6").unwrap();
        i.regions = vec![Region::parse("eu-west-1").unwrap(), Region::parse("us-east-1").unwrap()];
        assert_eq!(i.cross_region_geo(&c).as_deref(), Some("global"));
    }
}
