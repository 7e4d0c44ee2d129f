//! Who is acting: a user, in one persona, over a set of hierarchy scopes.

use std::fmt;

use crate::error::ParseError;
use crate::hierarchy::Hierarchy;
use crate::ids::{NodeId, UserId};

/// The five personas of PRODUCT.md's separation of duties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Persona {
    ProductOwner,
    FinOpsLead,
    CloudEngineer,
    PortfolioOwner,
    Finance,
    /// FinOps Center itself, in the audit trail of automated steps (task
    /// generation, auto-resolution). No person can act as it: tokens refuse it and
    /// it is permitted no action.
    System,
}

impl Persona {
    pub const WHAT: &'static str = "persona";
    pub const ALL: [Persona; 5] =
        [Self::ProductOwner, Self::FinOpsLead, Self::CloudEngineer, Self::PortfolioOwner, Self::Finance];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductOwner => "ProductOwner",
            Self::FinOpsLead => "FinOpsLead",
            Self::CloudEngineer => "CloudEngineer",
            Self::PortfolioOwner => "PortfolioOwner",
            Self::Finance => "Finance",
            Self::System => "System",
        }
    }

    /// Whether a person can hold this persona (everything but `System`).
    pub fn is_human(self) -> bool {
        self != Self::System
    }

    /// Accepts the canonical name in any case, with or without `-`/`_` (so Cognito
    /// group names such as `finops-lead` map directly).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let folded: String = s.chars().filter(|c| *c != '-' && *c != '_').flat_map(char::to_lowercase).collect();
        Self::ALL
            .into_iter()
            .chain([Self::System])
            .find(|p| p.as_str().to_lowercase() == folded)
            .ok_or_else(|| {
                ParseError::new(Self::WHAT, s, "must be ProductOwner, FinOpsLead, CloudEngineer, PortfolioOwner or Finance")
            })
    }
}

crate::error::string_schema!(Persona, "ProductOwner, FinOpsLead, CloudEngineer, PortfolioOwner or Finance.");

impl fmt::Display for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl TryFrom<String> for Persona {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<Persona> for String {
    fn from(p: Persona) -> String {
        p.as_str().to_owned()
    }
}

/// A user acting in one persona. The scope is the set of hierarchy nodes whose
/// subtrees they may see; an empty scope sees nothing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    /// Who acts: an identifier the user cannot change (the token's `sub`), so
    /// ownership, inboxes and separation of duties can never be taken over by
    /// editing a profile.
    pub user: UserId,
    pub persona: Persona,
    pub scope: Vec<NodeId>,
    /// A verified email, for people reading the record; never an identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Actor {
    pub fn new(user: UserId, persona: Persona, scope: Vec<NodeId>) -> Self {
        Self { user, persona, scope, email: None }
    }

    /// Row-level security: whether `node` lies inside this actor's scope.
    pub fn can_see(&self, hierarchy: &Hierarchy, node: &NodeId) -> bool {
        self.scope.iter().any(|s| hierarchy.contains(s, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hierarchy::{HierarchyNode, Level};

    #[test]
    fn persona_names() {
        assert_eq!(Persona::parse("finops-lead").unwrap(), Persona::FinOpsLead);
        assert_eq!(Persona::parse("product_owner").unwrap(), Persona::ProductOwner);
        assert_eq!(Persona::parse("CloudEngineer").unwrap(), Persona::CloudEngineer);
        for p in Persona::ALL {
            assert_eq!(Persona::parse(p.as_str()).unwrap(), p);
        }
        assert!(Persona::parse("admin").unwrap_err().to_string().contains("FinOpsLead"));
    }

    #[test]
    fn scope_filters_rows() {
        let n = |id: &str, l: Level, p: Option<&str>| HierarchyNode {
            id: NodeId::parse(id).unwrap(),
            level: l,
            name: id.into(),
            parent: p.map(|p| NodeId::parse(p).unwrap()),
        };
        let h = Hierarchy::build(vec![
            n("bu", Level::BusinessUnit, None),
            n("dept", Level::Department, Some("bu")),
            n("pf", Level::Portfolio, Some("dept")),
            n("wl", Level::Product, Some("pf")),
            n("other", Level::BusinessUnit, None),
        ])
        .unwrap();
        let wl = NodeId::parse("wl").unwrap();
        let a = Actor::new(UserId::parse("pat").unwrap(), Persona::PortfolioOwner, vec![NodeId::parse("pf").unwrap()]);
        assert!(a.can_see(&h, &wl));
        assert!(!a.can_see(&h, &NodeId::parse("dept").unwrap()));
        let outsider = Actor { scope: vec![NodeId::parse("other").unwrap()], ..a.clone() };
        assert!(!outsider.can_see(&h, &wl));
        let nobody = Actor { scope: vec![], ..a };
        assert!(!nobody.can_see(&h, &wl));
    }
}
