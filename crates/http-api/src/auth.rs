//! Who is calling. The router reads an [`Actor`] from the request's extensions;
//! each host puts it there its own way:
//! - `finops serve` verifies a local bearer token ([`LocalTokens`], an HS256
//!   JWT with Cognito's claim names) minted by `finops token` with a secret
//!   under `FINOPS_HOME`;
//! - a Lambda behind API Gateway reads the claims its JWT authorizer already
//!   verified ([`actor_from_claims`]): Cognito groups name the personas, a scope
//!   claim names the hierarchy nodes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::{Actor, NodeId, Persona, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

/// Why a caller could not be identified. → 401
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unauthenticated: {0}")]
pub struct AuthError(pub String);

/// The issuer of local tokens, so a token from a Cognito pool is never taken
/// for one (and the reverse).
const LOCAL_ISSUER: &str = "finops-local";

/// Local bearer tokens: HS256 JWTs whose claims are named as Cognito names
/// them (`sub`, `cognito:groups`, [`SCOPE_CLAIM`]), so a verified local token
/// goes through the same [`actor_from_claims`] as API Gateway's claims.
#[derive(Clone)]
pub struct LocalTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl LocalTokens {
    pub fn new(secret: Vec<u8>) -> Result<Self, AuthError> {
        if secret.len() < 32 {
            return Err(AuthError("the token secret must be at least 32 bytes".into()));
        }
        let key = |e: jsonwebtoken::errors::Error| AuthError(format!("the token secret is not a usable HS256 key: {e}"));
        Ok(Self { encoding: EncodingKey::from_secret(&secret).map_err(key)?, decoding: DecodingKey::from_secret(&secret).map_err(key)? })
    }

    /// A token for `actor`, valid until `expires`. System personas get none.
    pub fn mint(&self, actor: &Actor, expires: DateTime<Utc>) -> Result<String, AuthError> {
        if !actor.persona.is_human() {
            return Err(AuthError("no token can carry the System persona".into()));
        }
        let scope: Vec<String> = actor.scope.iter().map(ToString::to_string).collect();
        let claims = serde_json::json!({
            "iss": LOCAL_ISSUER,
            "sub": actor.user.to_string(),
            "cognito:groups": [actor.persona.as_str()],
            SCOPE_CLAIM: scope.join(" "),
            "token_use": "id",
            "exp": expires.timestamp(),
        });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| AuthError(format!("minting a token: {e}")))
    }

    /// The actor of a token, as of `now`. `persona` is the one the caller
    /// asked for (`X-FinOps-Persona`), which must be one the token holds.
    pub fn verify(&self, token: &str, now: DateTime<Utc>, persona: Option<&str>) -> Result<Actor, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[LOCAL_ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Expiry is checked below against `now`, so tests pick the time.
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, &self.decoding, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError(match e.kind() {
                ErrorKind::InvalidSignature => "token signature does not verify".into(),
                ErrorKind::InvalidIssuer => "token was not issued by this server".into(),
                _ => format!("malformed token: {e}"),
            })
        })?;
        if data.claims.get("exp").and_then(Value::as_i64).is_none_or(|exp| exp <= now.timestamp()) {
            return Err(AuthError("token expired".into()));
        }
        actor_from_claims(&as_gateway_claims(&data.claims), persona)
    }

    /// The actor of an `Authorization` header value.
    pub fn from_header(&self, header: Option<&str>, now: DateTime<Utc>, persona: Option<&str>) -> Result<Actor, AuthError> {
        let h = header.ok_or_else(|| AuthError("missing Authorization: Bearer token".into()))?;
        let token = h.strip_prefix("Bearer ").ok_or_else(|| AuthError("Authorization must be a Bearer token".into()))?;
        self.verify(token.trim(), now, persona)
    }
}

/// JWT claims as API Gateway hands them to a Lambda: strings as they are,
/// lists as `[a b c]`, anything else as its JSON text.
fn as_gateway_claims(claims: &HashMap<String, Value>) -> HashMap<String, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), String::from)).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    };
    claims.iter().map(|(k, v)| (k.clone(), text(v))).collect()
}

fn to_actor<'a>(user: &str, persona: &str, scope: impl Iterator<Item = &'a str>) -> Result<Actor, AuthError> {
    let user = UserId::parse(user).map_err(|e| AuthError(e.to_string()))?;
    let persona = Persona::parse(persona).map_err(|e| AuthError(e.to_string()))?;
    if !persona.is_human() {
        return Err(AuthError("the System persona cannot call the API".into()));
    }
    let scope = scope.filter(|s| !s.is_empty()).map(|s| NodeId::parse(s).map_err(|e| AuthError(e.to_string()))).collect::<Result<_, _>>()?;
    Ok(Actor::new(user, persona, scope))
}

/// API Gateway passes list claims as `[a b c]`; plain strings pass as themselves.
fn claim_list(v: &str) -> Vec<&str> {
    v.trim().trim_start_matches('[').trim_end_matches(']').split([' ', ',']).map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// The claim naming the caller's hierarchy scope (a Cognito custom attribute).
pub const SCOPE_CLAIM: &str = "custom:finops_scope";

/// The actor from JWT claims verified by API Gateway. The user is the token's
/// `sub`, which Cognito never changes and never reuses; `email` can be edited
/// by its owner (and a freed address taken by someone else), so it is kept for
/// display, and only when `email_verified` says so. A user in several persona
/// groups picks one with the `X-FinOps-Persona` header; with one group it is used.
pub fn actor_from_claims(claims: &HashMap<String, String>, chosen_persona: Option<&str>) -> Result<Actor, AuthError> {
    let user = claims.get("sub").filter(|s| !s.trim().is_empty()).ok_or_else(|| AuthError("the token has no `sub`: users are identified by it".into()))?;
    let groups: Vec<Persona> = claims
        .get("cognito:groups")
        .map(|g| claim_list(g).into_iter().filter_map(|g| Persona::parse(g).ok()).filter(|p| p.is_human()).collect())
        .unwrap_or_default();
    let persona = match (chosen_persona, groups.as_slice()) {
        (Some(c), _) => {
            let p = Persona::parse(c).map_err(|e| AuthError(e.to_string()))?;
            if !groups.contains(&p) {
                return Err(AuthError(format!("{user} is not in the {p} group")));
            }
            p
        }
        (None, [one]) => *one,
        (None, []) => return Err(AuthError(format!("{user} is in no persona group"))),
        (None, _) => return Err(AuthError("several persona groups: choose one with X-FinOps-Persona".into())),
    };
    let scope = claims.get(SCOPE_CLAIM).map(|s| claim_list(s)).unwrap_or_default();
    let mut actor = to_actor(user, persona.as_str(), scope.into_iter())?;
    actor.email = claims.get("email").filter(|_| claims.get("email_verified").is_some_and(|v| v == "true")).cloned();
    Ok(actor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn actor() -> Actor {
        Actor::new(UserId::parse("pat@example.com").unwrap(), Persona::ProductOwner, vec![NodeId::parse("assist").unwrap()])
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering_and_expiry() {
        let t = LocalTokens::new(vec![7; 32]).unwrap();
        let now = Utc::now();
        let token = t.mint(&actor(), now + chrono::Duration::hours(1)).unwrap();
        assert_eq!(token.split('.').count(), 3, "a JWT");
        assert_eq!(t.verify(&token, now, None).unwrap(), actor());
        assert_eq!(t.from_header(Some(&format!("Bearer {token}")), now, None).unwrap(), actor());
        assert_eq!(t.verify(&token, now, Some("ProductOwner")).unwrap(), actor());
        assert!(t.verify(&token, now, Some("FinOpsLead")).unwrap_err().0.contains("not in the FinOpsLead group"));
        let other = LocalTokens::new(vec![8; 32]).unwrap();
        assert!(other.verify(&token, now, None).unwrap_err().0.contains("signature"));
        assert!(t.verify(&token, now + chrono::Duration::hours(2), None).unwrap_err().0.contains("expired"));
        let parts: Vec<&str> = token.split('.').collect();
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(claims.replace("ProductOwner", "FinOpsLead"));
        assert!(t.verify(&format!("{}.{forged}.{}", parts[0], parts[2]), now, None).unwrap_err().0.contains("signature"));
        assert!(t.from_header(None, now, None).unwrap_err().0.contains("missing"));
        assert!(t.from_header(Some("Basic x"), now, None).is_err());
        assert!(t.verify("forged.token", now, None).unwrap_err().0.contains("malformed"));
        assert!(LocalTokens::new(vec![1; 8]).is_err());
        let system = Actor::new(UserId::parse("s").unwrap(), Persona::System, vec![]);
        assert!(t.mint(&system, now).is_err());
    }

    #[test]
    fn a_local_token_carries_cognitos_claim_names() {
        let t = LocalTokens::new(vec![7; 32]).unwrap();
        let token = t.mint(&actor(), Utc::now() + chrono::Duration::hours(1)).unwrap();
        let claims: HashMap<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["sub"], "pat@example.com");
        assert_eq!(claims["cognito:groups"], serde_json::json!(["ProductOwner"]));
        assert_eq!(claims[SCOPE_CLAIM], "assist");
        let header: HashMap<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
        // The same claims, as API Gateway passes them, give the same actor.
        assert_eq!(actor_from_claims(&as_gateway_claims(&claims), None).unwrap(), actor());
    }

    #[test]
    fn jwt_claims_map_groups_to_personas() {
        let mut c = HashMap::from([
            ("sub".to_string(), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".to_string()),
            ("email".to_string(), "fiona@example.com".to_string()),
            ("cognito:groups".to_string(), "[FinOpsLead]".to_string()),
            (SCOPE_CLAIM.to_string(), "retail,corp".to_string()),
        ]);
        let a = actor_from_claims(&c, None).unwrap();
        assert_eq!((a.persona, a.scope.len()), (Persona::FinOpsLead, 2));
        c.insert("cognito:groups".into(), "[FinOpsLead ProductOwner]".into());
        assert!(actor_from_claims(&c, None).unwrap_err().0.contains("X-FinOps-Persona"));
        assert_eq!(actor_from_claims(&c, Some("ProductOwner")).unwrap().persona, Persona::ProductOwner);
        assert!(actor_from_claims(&c, Some("CloudEngineer")).unwrap_err().0.contains("not in the CloudEngineer group"));
        c.insert("cognito:groups".into(), "[System]".into());
        assert!(actor_from_claims(&c, None).is_err());
        c.remove("email");
        c.remove("cognito:groups");
        assert!(actor_from_claims(&c, None).is_err());
    }

    /// Issue 12 item 2: the user is the immutable `sub`. A user who changes
    /// their email (or a newcomer given a freed address) is not someone else,
    /// and an unverified email is never shown.
    #[test]
    fn users_are_their_sub_and_email_is_display_only() {
        let sub = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let claims = |email: &str, verified: &str| {
            HashMap::from([
                ("sub".to_string(), sub.to_string()),
                ("email".to_string(), email.to_string()),
                ("email_verified".to_string(), verified.to_string()),
                ("cognito:groups".to_string(), "[ProductOwner]".to_string()),
                ("cognito:username".to_string(), "pat".to_string()),
            ])
        };
        let before = actor_from_claims(&claims("pat@example.com", "true"), None).unwrap();
        let after = actor_from_claims(&claims("fiona@example.com", "true"), None).unwrap();
        assert_eq!((before.user.as_str(), after.user.as_str()), (sub, sub));
        assert_eq!(after.email.as_deref(), Some("fiona@example.com"));
        assert_eq!(actor_from_claims(&claims("x@example.com", "false"), None).unwrap().email, None);
        let mut no_sub = claims("pat@example.com", "true");
        no_sub.remove("sub");
        assert!(actor_from_claims(&no_sub, None).unwrap_err().0.contains("sub"), "email and username never stand in for sub");
    }
}
