//! Plain validated identifiers. ARN-shaped values live in `arn.rs`.

use crate::error::string_newtype;

string_newtype!(
    /// A 12-digit AWS account id. Leading zeros are significant, so it is never a number.
    AccountId, "AWS account id", validate_account
);

string_newtype!(
    /// An AWS region code such as `us-east-1`, `eu-west-2`, `us-gov-west-1`.
    Region, "AWS region", validate_region
);

string_newtype!(
    /// A Bedrock model id (`anthropic.claude-3-haiku-20240307-v1:0`) or a system
    /// cross-region inference profile id (`us.anthropic.claude-…`).
    ModelId, "Bedrock model id", validate_model_id
);

string_newtype!(
    /// A workload (E4 product) id. It is part of store keys, so it is restricted to
    /// characters that can never be confused with a key separator.
    WorkloadId, "workload id", validate_slug
);

string_newtype!(
    /// A node of the E1–E4 financial hierarchy.
    NodeId, "hierarchy node id", validate_slug
);

string_newtype!(
    /// A Business Request.
    RequestId, "business request id", validate_slug
);

string_newtype!(
    /// A user: a login name or an e-mail address, as the identity provider names it.
    UserId, "user id", validate_user
);

fn validate_account(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be exactly 12 digits".into())
    }
}

const DIRECTIONS: &[&str] = &[
    "north", "south", "east", "west", "central", "northeast", "northwest", "southeast", "southwest",
];
const SOVEREIGN: &[&str] = &["gov", "iso", "isob", "isoe", "isof"];

fn validate_region(s: &str) -> Result<(), String> {
    const RULE: &str = "must look like us-east-1: a 2-letter area, an optional gov/iso part, a direction and a number";
    let parts: Vec<&str> = s.split('-').collect();
    let (area, rest) = match parts.split_first() {
        Some(x) => x,
        None => return Err(RULE.into()),
    };
    let rest = match rest {
        [sov, dir, n] if SOVEREIGN.contains(sov) => [*dir, *n],
        [dir, n] => [*dir, *n],
        _ => return Err(RULE.into()),
    };
    let area_ok = area.len() == 2 && area.bytes().all(|b| b.is_ascii_lowercase());
    let dir_ok = DIRECTIONS.contains(&rest[0]);
    let n_ok = !rest[1].is_empty() && rest[1].len() <= 2 && rest[1].bytes().all(|b| b.is_ascii_digit());
    if area_ok && dir_ok && n_ok {
        Ok(())
    } else {
        Err(RULE.into())
    }
}

/// Geographic prefixes of system-defined cross-region inference profiles.
pub(crate) const PROFILE_GEOS: &[&str] = &["us", "eu", "apac", "global", "jp", "au", "us-gov", "ca"];

fn validate_model_id(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 200 {
        return Err("must be 1 to 200 characters".into());
    }
    if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-:_".contains(&b)) {
        return Err("may contain only lowercase letters, digits, '.', '-', ':' and '_'".into());
    }
    match s.split_once('.') {
        Some((provider, name)) if !provider.is_empty() && !name.is_empty() => Ok(()),
        _ => Err("must be provider.model, e.g. anthropic.claude-3-haiku-20240307-v1:0".into()),
    }
}

/// A workload is its own E4 node; both ids follow the same rule, so this cannot fail.
impl From<&WorkloadId> for NodeId {
    fn from(w: &WorkloadId) -> NodeId {
        NodeId(w.0.clone())
    }
}

impl ModelId {
    /// The cross-region geography (`us`, `eu`, `global`, …) when this is a system
    /// inference profile id rather than a base model id.
    pub fn geo_prefix(&self) -> Option<&str> {
        let (first, rest) = self.0.split_once('.')?;
        (PROFILE_GEOS.contains(&first) && rest.contains('.')).then_some(first)
    }

    /// The base model id: the profile's geography stripped, if any.
    pub fn base_model(&self) -> &str {
        match self.geo_prefix() {
            Some(geo) => &self.0[geo.len() + 1..],
            None => &self.0,
        }
    }

    /// The model provider (`anthropic`, `amazon`, `meta`, …).
    pub fn provider(&self) -> &str {
        self.base_model().split('.').next().unwrap_or_default()
    }
}

pub(crate) fn validate_slug(s: &str) -> Result<(), String> {
    let first_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if s.is_empty() || s.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !first_ok || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err("must start with a letter or digit and contain only letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

fn validate_user(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().count() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#') {
        return Err("may not contain whitespace, control characters or '#'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(AccountId::parse("012345678901").is_ok());
        for bad in ["12345678901", "1234567890123", "12345678901a", "", " 123456789012"] {
            let err = AccountId::parse(bad).unwrap_err();
            assert_eq!(err.what, "AWS account id");
            assert!(err.to_string().contains("12 digits"), "{err}");
        }
    }

    #[test]
    fn regions() {
        for ok in ["us-east-1", "eu-west-2", "ap-southeast-7", "us-gov-west-1", "ca-west-1", "il-central-1", "mx-central-1", "eu-central-2", "us-iso-east-1"] {
            assert!(Region::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["useast1", "US-EAST-1", "us-east", "us-up-1", "us-east-123", "usa-east-1", "us-gov-east-1-x", ""] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn model_ids_and_profiles() {
        let m = ModelId::parse("anthropic.claude-3-haiku-20240307-v1:0").unwrap();
        assert_eq!(m.geo_prefix(), None);
        assert_eq!(m.provider(), "anthropic");
        let p = ModelId::parse("us.anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap();
        assert_eq!(p.geo_prefix(), Some("us"));
        assert_eq!(p.base_model(), "anthropic.claude-3-5-sonnet-20241022-v2:0");
        assert_eq!(p.provider(), "anthropic");
        let g = ModelId::parse("global.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
        assert_eq!(g.geo_prefix(), Some("global"));
        // "us.x" with no further dot is a provider called "us", not a profile.
        assert_eq!(ModelId::parse("amazon.nova-lite-v1:0").unwrap().geo_prefix(), None);
        for bad in ["claude", "Anthropic.Claude", "anthropic.", ".claude", "anthropic.claude 3"] {
            assert!(ModelId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_and_users() {
        assert!(WorkloadId::parse("chat-backend_v2.prod").is_ok());
        assert!(WorkloadId::parse("-lead").is_err());
        assert!(WorkloadId::parse("a#b").is_err());
        assert!(WorkloadId::parse(&"x".repeat(65)).is_err());
        assert!(NodeId::parse("bu-retail").is_ok());
        assert!(UserId::parse("alice@example.com").is_ok());
        assert!(UserId::parse("alice smith").is_err());
        assert!(UserId::parse("").is_err());
    }

    #[test]
    fn serde_goes_through_validation() {
        let ok: AccountId = serde_json::from_str("\"123456789012\"").unwrap();
        assert_eq!(ok.as_str(), "123456789012");
        let err = serde_json::from_str::<AccountId>("\"12\"").unwrap_err();
        assert!(err.to_string().contains("12 digits"), "{err}");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"123456789012\"");
    }
}
