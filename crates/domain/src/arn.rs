//! ARN-shaped identifiers, and the normalisation of CUR's `line_item_iam_principal`.
//!
//! CUR names the caller as IAM saw it: an STS assumed-role session for roles
//! (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`), an IAM ARN for users. Claims are
//! made on IAM role ARNs, which may carry a path (`role/aws-reserved/sso.amazonaws.com/X`)
//! that the session ARN does not. IAM role names are unique per account whatever the
//! path, so the identity that joins a CUR row to a claim is `(account, role name)`:
//! the [`RoleKey`].

use std::fmt;

use crate::error::ParseError;
use crate::ids::{AccountId, Region};

/// The AWS partition an ARN belongs to; serialised as in an ARN (`aws`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

impl Partition {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "aws" => Some(Self::Aws),
            "aws-cn" => Some(Self::AwsCn),
            "aws-us-gov" => Some(Self::AwsUsGov),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AwsCn => "aws-cn",
            Self::AwsUsGov => "aws-us-gov",
        }
    }
}

/// The six fields of an ARN, split but not yet interpreted.
struct RawArn<'a> {
    partition: Partition,
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn split_arn<'a>(what: &'static str, s: &'a str) -> Result<RawArn<'a>, ParseError> {
    let mut it = s.splitn(6, ':');
    let fields: Vec<&str> = (&mut it).collect();
    if fields.len() != 6 || fields[0] != "arn" {
        return Err(ParseError::new(what, s, "must be arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE"));
    }
    let partition = Partition::parse(fields[1])
        .ok_or_else(|| ParseError::new(what, s, "partition must be aws, aws-cn or aws-us-gov"))?;
    Ok(RawArn { partition, service: fields[2], region: fields[3], account: fields[4], resource: fields[5] })
}

fn account(what: &'static str, input: &str, raw: &str) -> Result<AccountId, ParseError> {
    AccountId::parse(raw).map_err(|_| ParseError::new(what, input, "account field must be 12 digits"))
}

fn region(what: &'static str, input: &str, raw: &str) -> Result<Region, ParseError> {
    Region::parse(raw).map_err(|_| ParseError::new(what, input, format!("region field {raw:?} is not a region code")))
}

/// IAM's rule for role, user and session names: `[\w+=,.@-]`.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

fn check_name(what: &'static str, input: &str, kind: &str, name: &str, max: usize) -> Result<(), ParseError> {
    if name.is_empty() || name.len() > max || !name.chars().all(is_iam_name_char) {
        return Err(ParseError::new(
            what,
            input,
            format!("{kind} must be 1 to {max} characters of letters, digits and _+=,.@-"),
        ));
    }
    Ok(())
}

/// Splits `role/a/b/NAME` into (`/a/b/`, `NAME`), checking IAM's path rules.
fn split_path<'a>(what: &'static str, input: &str, rest: &'a str) -> Result<(String, &'a str), ParseError> {
    match rest.rsplit_once('/') {
        None => Ok(("/".to_owned(), rest)),
        Some((path, name)) => {
            let path = format!("/{path}/");
            let path_ok = path.len() <= 512
                && !path.contains("//")
                && path.chars().all(|c| c == '/' || (c.is_ascii_graphic() && c != '*'));
            if !path_ok {
                return Err(ParseError::new(what, input, "path must be /-separated printable characters, at most 512"));
            }
            Ok((path, name))
        }
    }
}

/// Joins a CUR row's principal to a role claim: account plus role name (see module docs).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleKey {
    pub account: AccountId,
    pub name: String,
}

impl fmt::Display for RoleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:role/{}", self.account, self.name)
    }
}

/// A caller as CUR's `line_item_iam_principal` names it, interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A role: from an IAM role ARN (path known) or an STS assumed-role session
    /// (path unknown, session known). The session is kept because per-user
    /// attribution and a session-scoped deny both need it.
    Role { partition: Partition, account: AccountId, path: Option<String>, name: String, session: Option<String> },
    /// An IAM user, including Bedrock API-key users (`user/BedrockAPIKey-…`).
    User { partition: Partition, account: AccountId, path: String, name: String },
    /// An STS federated user (`GetFederationToken`).
    FederatedUser { partition: Partition, account: AccountId, name: String },
    /// The account root user.
    Root { partition: Partition, account: AccountId },
}

impl Principal {
    pub const WHAT: &'static str = "IAM principal ARN";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = Self::WHAT;
        let raw = split_arn(what, s)?;
        if raw.service != "iam" && raw.service != "sts" {
            return Err(ParseError::new(what, s, format!("service must be iam or sts, not {:?}", raw.service)));
        }
        if !raw.region.is_empty() {
            return Err(ParseError::new(what, s, "IAM and STS ARNs have an empty region field"));
        }
        let acct = account(what, s, raw.account)?;
        let partition = raw.partition;
        match raw.service {
            "sts" => {
                if let Some(rest) = raw.resource.strip_prefix("assumed-role/") {
                    let (name, session) = rest.split_once('/').ok_or_else(|| {
                        ParseError::new(what, s, "assumed-role ARN must be assumed-role/ROLE/SESSION")
                    })?;
                    check_name(what, s, "role name", name, 64)?;
                    check_name(what, s, "session name", session, 64)?;
                    Ok(Self::Role { partition, account: acct, path: None, name: name.into(), session: Some(session.into()) })
                } else if let Some(name) = raw.resource.strip_prefix("federated-user/") {
                    check_name(what, s, "federated user name", name, 64)?;
                    Ok(Self::FederatedUser { partition, account: acct, name: name.into() })
                } else {
                    Err(ParseError::new(what, s, "STS principal must be assumed-role/… or federated-user/…"))
                }
            }
            _ => {
                if raw.resource == "root" {
                    Ok(Self::Root { partition, account: acct })
                } else if let Some(rest) = raw.resource.strip_prefix("role/") {
                    let (path, name) = split_path(what, s, rest)?;
                    check_name(what, s, "role name", name, 64)?;
                    Ok(Self::Role { partition, account: acct, path: Some(path), name: name.into(), session: None })
                } else if let Some(rest) = raw.resource.strip_prefix("user/") {
                    let (path, name) = split_path(what, s, rest)?;
                    check_name(what, s, "user name", name, 64)?;
                    Ok(Self::User { partition, account: acct, path, name: name.into() })
                } else {
                    Err(ParseError::new(what, s, "IAM principal must be role/…, user/… or root"))
                }
            }
        }
    }

    pub fn account(&self) -> &AccountId {
        match self {
            Self::Role { account, .. }
            | Self::User { account, .. }
            | Self::FederatedUser { account, .. }
            | Self::Root { account, .. } => account,
        }
    }

    /// The key that joins this principal to a role claim; `None` for non-roles.
    pub fn role_key(&self) -> Option<RoleKey> {
        match self {
            Self::Role { account, name, .. } => Some(RoleKey { account: account.clone(), name: name.clone() }),
            _ => None,
        }
    }

    pub fn role_name(&self) -> Option<&str> {
        match self {
            Self::Role { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The STS session name of an assumed-role caller (often the human or tenant).
    pub fn session(&self) -> Option<&str> {
        match self {
            Self::Role { session, .. } => session.as_deref(),
            _ => None,
        }
    }

    /// The IAM ARN this principal stands for: sessions resolve to their role. A role
    /// seen only through STS has no known path, so its ARN is written without one.
    pub fn normalized_arn(&self) -> String {
        match self {
            Self::Role { partition, account, path, name, .. } => {
                format!("arn:{}:iam::{account}:role{}{name}", partition.as_str(), path.as_deref().unwrap_or("/"))
            }
            Self::User { partition, account, path, name } => {
                format!("arn:{}:iam::{account}:user{path}{name}", partition.as_str())
            }
            Self::FederatedUser { partition, account, name } => {
                format!("arn:{}:sts::{account}:federated-user/{name}", partition.as_str())
            }
            Self::Root { partition, account } => format!("arn:{}:iam::{account}:root", partition.as_str()),
        }
    }
}

/// An IAM role ARN (what a Product Owner claims). The path is kept for display and
/// for commands; matching uses [`IamRoleArn::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IamRoleArn {
    arn: String,
    partition: Partition,
    account: AccountId,
    path: String,
    name: String,
}

impl IamRoleArn {
    pub const WHAT: &'static str = "IAM role ARN";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match Principal::parse(s) {
            Ok(Principal::Role { partition, account, path: Some(path), name, session: None }) => {
                Ok(Self { arn: s.to_owned(), partition, account, path, name })
            }
            Ok(_) => Err(ParseError::new(Self::WHAT, s, "must be arn:aws:iam::ACCOUNT:role/[PATH/]NAME")),
            Err(e) => Err(ParseError { what: Self::WHAT, ..e }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn partition(&self) -> Partition {
        self.partition
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn key(&self) -> RoleKey {
        RoleKey { account: self.account.clone(), name: self.name.clone() }
    }
}

/// A glob on role names (`*` matches any run of characters), used for the
/// configurable "broad role" patterns. Matching is on the role name only, so a
/// pattern catches a role whatever its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RolePattern(String);

impl RolePattern {
    pub const WHAT: &'static str = "role name pattern";

    /// The broad shared roles PRODUCT.md names as unattributable by default.
    pub const DEFAULT_BROAD: &'static [&'static str] = &[
        "AWSReservedSSO_*AdministratorAccess*",
        "AWSReservedSSO_*PowerUserAccess*",
        "AdministratorAccess",
        "PowerUserAccess",
        "OrganizationAccountAccessRole",
    ];

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c == '*' || is_iam_name_char(c)) {
            return Err(ParseError::new(Self::WHAT, s, "must be 1 to 128 characters of IAM name characters and '*'"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn defaults() -> Vec<Self> {
        Self::DEFAULT_BROAD.iter().map(|p| Self(String::from(*p))).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, role_name: &str) -> bool {
        glob_match(self.0.as_bytes(), role_name.as_bytes())
    }
}

impl TryFrom<String> for RolePattern {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<RolePattern> for String {
    fn from(p: RolePattern) -> String {
        p.0
    }
}

/// Iterative `*` glob with backtracking to the last star: linear in practice, no recursion.
fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if p < pat.len() && pat[p] == s[i] {
            p += 1;
            i += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Whether an inference profile is AWS's (cross-region, `us.…`) or the customer's own
/// application inference profile (the one that can be tagged and claimed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceProfileKind {
    System,
    Application,
}

/// `arn:aws:bedrock:REGION:ACCOUNT:inference-profile/ID` or `…:application-inference-profile/ID`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InferenceProfileArn {
    arn: String,
    kind: InferenceProfileKind,
    region: Region,
    account: AccountId,
    id: String,
}

impl InferenceProfileArn {
    pub const WHAT: &'static str = "inference profile ARN";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = Self::WHAT;
        let raw = split_arn(what, s)?;
        if raw.service != "bedrock" {
            return Err(ParseError::new(what, s, "service must be bedrock"));
        }
        let (kind, id) = if let Some(id) = raw.resource.strip_prefix("application-inference-profile/") {
            (InferenceProfileKind::Application, id)
        } else if let Some(id) = raw.resource.strip_prefix("inference-profile/") {
            (InferenceProfileKind::System, id)
        } else {
            return Err(ParseError::new(what, s, "resource must be inference-profile/ID or application-inference-profile/ID"));
        };
        let id_ok = !id.is_empty()
            && id.len() <= 200
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:_".contains(&b));
        if !id_ok {
            return Err(ParseError::new(what, s, "profile id must be 1 to 200 letters, digits or .-:_"));
        }
        Ok(Self {
            arn: s.to_owned(),
            kind,
            region: region(what, s, raw.region)?,
            account: account(what, s, raw.account)?,
            id: id.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }
    pub fn kind(&self) -> InferenceProfileKind {
        self.kind
    }
    pub fn region(&self) -> &Region {
        &self.region
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// `arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GuardrailArn {
    arn: String,
    region: Region,
    account: AccountId,
    id: String,
}

impl GuardrailArn {
    pub const WHAT: &'static str = "guardrail ARN";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = Self::WHAT;
        let raw = split_arn(what, s)?;
        if raw.service != "bedrock" {
            return Err(ParseError::new(what, s, "service must be bedrock"));
        }
        let id = raw
            .resource
            .strip_prefix("guardrail/")
            .ok_or_else(|| ParseError::new(what, s, "resource must be guardrail/ID"))?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError::new(what, s, "guardrail id must be 1 to 64 letters or digits"));
        }
        Ok(Self {
            arn: s.to_owned(),
            region: region(what, s, raw.region)?,
            account: account(what, s, raw.account)?,
            id: id.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }
    pub fn region(&self) -> &Region {
        &self.region
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn id(&self) -> &str {
        &self.id
    }
}

macro_rules! arn_string_impls {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().to_owned()
            }
        }
    )*};
}
arn_string_impls!(IamRoleArn, InferenceProfileArn, GuardrailArn);

impl fmt::Display for RolePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_resolves_to_role_and_keeps_session() {
        let p = Principal::parse("arn:aws:sts::123456789012:assumed-role/Role-1/user-1@acme.org").unwrap();
        assert_eq!(p.normalized_arn(), "arn:aws:iam::123456789012:role/Role-1");
        assert_eq!(p.session(), Some("user-1@acme.org"));
        assert_eq!(p.role_key().unwrap().to_string(), "123456789012:role/Role-1");
    }

    #[test]
    fn sso_role_with_path_keeps_path_and_matches_on_name() {
        let arn = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123abcd";
        let role = IamRoleArn::parse(arn).unwrap();
        assert_eq!(role.path(), "/aws-reserved/sso.amazonaws.com/");
        assert_eq!(role.name(), "AWSReservedSSO_AdministratorAccess_0123abcd");
        assert_eq!(Principal::parse(arn).unwrap().normalized_arn(), arn);
        // The STS session of the same role has no path, yet joins to the same claim.
        let session = Principal::parse(
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123abcd/alice@example.com",
        )
        .unwrap();
        assert_eq!(session.role_key().unwrap(), role.key());
        let broad = RolePattern::defaults();
        assert!(broad.iter().any(|p| p.matches(role.name())));
    }

    #[test]
    fn users_stay_users() {
        for (arn, name) in [
            ("arn:aws:iam::123456789012:user/alice", "alice"),
            ("arn:aws:iam::123456789012:user/BedrockAPIKey-abc1", "BedrockAPIKey-abc1"),
            ("arn:aws:iam::123456789012:user/division/team/bob", "bob"),
        ] {
            let p = Principal::parse(arn).unwrap();
            assert!(matches!(&p, Principal::User { name: n, .. } if n == name), "{arn}");
            assert_eq!(p.role_key(), None);
            assert_eq!(p.normalized_arn(), arn);
        }
    }

    #[test]
    fn other_principals() {
        let root = Principal::parse("arn:aws:iam::123456789012:root").unwrap();
        assert!(matches!(root, Principal::Root { .. }));
        let fed = Principal::parse("arn:aws:sts::123456789012:federated-user/carol").unwrap();
        assert_eq!(fed.normalized_arn(), "arn:aws:sts::123456789012:federated-user/carol");
        let gov = Principal::parse("arn:aws-us-gov:sts::123456789012:assumed-role/R/s").unwrap();
        assert_eq!(gov.normalized_arn(), "arn:aws-us-gov:iam::123456789012:role/R");
    }

    #[test]
    fn bad_principals_say_why() {
        for (bad, needle) in [
            ("", "arn:PARTITION"),
            ("arn:aws:sts::123456789012:assumed-role/OnlyRole", "assumed-role/ROLE/SESSION"),
            ("arn:aws:iam::12345:role/R", "12 digits"),
            ("arn:aws:s3:::bucket", "iam or sts"),
            ("arn:aws:iam:us-east-1:123456789012:role/R", "empty region"),
            ("arn:aws:iam::123456789012:role/bad name", "role name"),
            ("arn:aws:iam::123456789012:group/devs", "role/…, user/… or root"),
            ("arn:aws:iam::123456789012:role/a//b", "path"),
            ("arn:azure:iam::123456789012:role/R", "partition"),
        ] {
            let e = Principal::parse(bad).unwrap_err();
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn role_arn_rejects_sessions_and_users() {
        assert!(IamRoleArn::parse("arn:aws:sts::123456789012:assumed-role/R/s").is_err());
        let e = IamRoleArn::parse("arn:aws:iam::123456789012:user/alice").unwrap_err();
        assert_eq!(e.what, "IAM role ARN");
        assert!(IamRoleArn::parse(&format!("arn:aws:iam::123456789012:role/{}", "r".repeat(65))).is_err());
    }

    #[test]
    fn glob_patterns() {
        let p = RolePattern::parse("AWSReservedSSO_*AdministratorAccess*").unwrap();
        assert!(p.matches("AWSReservedSSO_AdministratorAccess_0123abcd"));
        assert!(p.matches("AWSReservedSSO_EKSAdministratorAccess_99"));
        assert!(!p.matches("AWSReservedSSO_ReadOnlyAccess_1"));
        assert!(!p.matches("MyAWSReservedSSO_AdministratorAccess"));
        let exact = RolePattern::parse("AdministratorAccess").unwrap();
        assert!(exact.matches("AdministratorAccess"));
        assert!(!exact.matches("AdministratorAccess2"));
        assert!(RolePattern::parse("*").unwrap().matches("anything"));
        assert!(RolePattern::parse("a*b*c").unwrap().matches("aXXbYYbc"));
        assert!(!RolePattern::parse("a*b*c").unwrap().matches("aXXbYY"));
        assert!(RolePattern::parse("bad pattern").is_err());
        assert!(RolePattern::parse("").is_err());
    }

    #[test]
    fn bedrock_arns() {
        let app = InferenceProfileArn::parse("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6").unwrap();
        assert_eq!(app.kind(), InferenceProfileKind::Application);
        assert_eq!(app.id(), "a1b2c3d4e5f6");
        let sys = InferenceProfileArn::parse(
            "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
        )
        .unwrap();
        assert_eq!(sys.kind(), InferenceProfileKind::System);
        assert_eq!(sys.id(), "us.anthropic.claude-3-5-haiku-20241022-v1:0");
        assert!(InferenceProfileArn::parse("arn:aws:bedrock:us-east-1:123456789012:foundation-model/x").is_err());
        assert!(InferenceProfileArn::parse("arn:aws:bedrock:nowhere:123456789012:inference-profile/x").is_err());
        let g = GuardrailArn::parse("arn:aws:bedrock:eu-west-1:123456789012:guardrail/abcd1234efgh").unwrap();
        assert_eq!(g.id(), "abcd1234efgh");
        assert_eq!(g.region().as_str(), "eu-west-1");
        assert!(GuardrailArn::parse("arn:aws:bedrock:eu-west-1:123456789012:guardrail/").is_err());
        assert!(GuardrailArn::parse("arn:aws:s3:eu-west-1:123456789012:guardrail/x").is_err());
    }
}
