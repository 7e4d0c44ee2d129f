//! The financial hierarchy, E1 Business Unit > E2 Department > E3 Portfolio >
//! E4 Product (the workload). Scopes are nodes; a user sees a node when one of
//! their scope nodes is that node or one of its ancestors.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use thiserror::Error;

use crate::ids::NodeId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Level {
    /// E1 Business Unit.
    BusinessUnit = 1,
    /// E2 Department.
    Department = 2,
    /// E3 Portfolio.
    Portfolio = 3,
    /// E4 Product: the workload.
    Product = 4,
}

impl Level {
    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn parent(self) -> Option<Level> {
        match self {
            Level::BusinessUnit => None,
            Level::Department => Some(Level::BusinessUnit),
            Level::Portfolio => Some(Level::Department),
            Level::Product => Some(Level::Portfolio),
        }
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        match n {
            1 => Ok(Level::BusinessUnit),
            2 => Ok(Level::Department),
            3 => Ok(Level::Portfolio),
            4 => Ok(Level::Product),
            _ => Err(format!("hierarchy level must be 1 to 4 (E1–E4), not {n}")),
        }
    }
}
impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.number()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Level {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(4))
            .description(Some("E1 Business Unit, E2 Department, E3 Portfolio, E4 Product."))
            .into()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Level {}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Level::BusinessUnit => "Business Unit",
            Level::Department => "Department",
            Level::Portfolio => "Portfolio",
            Level::Product => "Product",
        };
        write!(f, "E{} {name}", self.number())
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HierarchyNode {
    pub id: NodeId,
    pub level: Level,
    pub name: String,
    pub parent: Option<NodeId>,
}

/// What is wrong with a set of nodes; each names the node at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HierarchyError {
    #[error("hierarchy node {0} appears more than once")]
    DuplicateNode(NodeId),
    #[error("hierarchy node {id}: name must be 1 to 200 characters")]
    BadName { id: NodeId },
    #[error("hierarchy node {id} is E1 and must not have a parent")]
    RootWithParent { id: NodeId },
    #[error("hierarchy node {id} ({level}) needs a parent")]
    MissingParent { id: NodeId, level: Level },
    #[error("hierarchy node {id}: parent {parent} does not exist")]
    UnknownParent { id: NodeId, parent: NodeId },
    #[error("hierarchy node {id} ({level}): parent {parent} is {parent_level}, expected one level up")]
    WrongParentLevel { id: NodeId, level: Level, parent: NodeId, parent_level: Level },
}

/// A validated hierarchy. Levels strictly increase from parent to child, so it
/// cannot contain a cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchy {
    nodes: BTreeMap<NodeId, HierarchyNode>,
}

impl Hierarchy {
    pub fn build(nodes: impl IntoIterator<Item = HierarchyNode>) -> Result<Self, HierarchyError> {
        let mut map = BTreeMap::new();
        for n in nodes {
            let name_len = n.name.trim().chars().count();
            if name_len == 0 || n.name.chars().count() > 200 {
                return Err(HierarchyError::BadName { id: n.id });
            }
            if let Some(dup) = map.insert(n.id.clone(), n) {
                return Err(HierarchyError::DuplicateNode(dup.id));
            }
        }
        for n in map.values() {
            match (n.level.parent(), &n.parent) {
                (None, Some(_)) => return Err(HierarchyError::RootWithParent { id: n.id.clone() }),
                (Some(_), None) => return Err(HierarchyError::MissingParent { id: n.id.clone(), level: n.level }),
                (Some(want), Some(pid)) => {
                    let p: &HierarchyNode = map
                        .get(pid)
                        .ok_or_else(|| HierarchyError::UnknownParent { id: n.id.clone(), parent: pid.clone() })?;
                    if p.level != want {
                        return Err(HierarchyError::WrongParentLevel {
                            id: n.id.clone(),
                            level: n.level,
                            parent: pid.clone(),
                            parent_level: p.level,
                        });
                    }
                }
                (None, None) => {}
            }
        }
        Ok(Self { nodes: map })
    }

    pub fn node(&self, id: &NodeId) -> Option<&HierarchyNode> {
        self.nodes.get(id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &HierarchyNode> {
        self.nodes.values()
    }

    /// The node itself, then its parent, up to its E1.
    pub fn ancestors<'a>(&'a self, id: &NodeId) -> impl Iterator<Item = &'a HierarchyNode> + 'a {
        let mut next = self.nodes.get(id);
        std::iter::from_fn(move || {
            let cur = next?;
            next = cur.parent.as_ref().and_then(|p| self.nodes.get(p));
            Some(cur)
        })
    }

    /// The ancestor of `id` at `level` (itself if it is at that level).
    pub fn ancestor_at(&self, id: &NodeId, level: Level) -> Option<&HierarchyNode> {
        self.ancestors(id).find(|n| n.level == level)
    }

    /// Whether `scope` is `node` or one of its ancestors.
    pub fn contains(&self, scope: &NodeId, node: &NodeId) -> bool {
        self.ancestors(node).any(|n| &n.id == scope)
    }

    pub fn children<'a>(&'a self, id: &'a NodeId) -> impl Iterator<Item = &'a HierarchyNode> + 'a {
        self.nodes.values().filter(move |n| n.parent.as_ref() == Some(id))
    }

    /// Child lists for every node at once, for rollups that walk the whole tree.
    pub fn child_index(&self) -> HashMap<&NodeId, Vec<&NodeId>> {
        let mut idx: HashMap<&NodeId, Vec<&NodeId>> = HashMap::new();
        for n in self.nodes.values() {
            if let Some(p) = &n.parent {
                idx.entry(p).or_default().push(&n.id);
            }
        }
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, level: u8, parent: Option<&str>) -> HierarchyNode {
        HierarchyNode {
            id: NodeId::parse(id).unwrap(),
            level: Level::try_from(level).unwrap(),
            name: id.to_uppercase(),
            parent: parent.map(|p| NodeId::parse(p).unwrap()),
        }
    }

    fn sample() -> Vec<HierarchyNode> {
        vec![
            node("retail", 1, None),
            node("digital", 2, Some("retail")),
            node("assist", 3, Some("digital")),
            node("chatbot", 4, Some("assist")),
            node("search", 4, Some("assist")),
            node("corp", 1, None),
        ]
    }

    #[test]
    fn scopes_and_ancestors() {
        let h = Hierarchy::build(sample()).unwrap();
        let chatbot = NodeId::parse("chatbot").unwrap();
        let ids: Vec<&str> = h.ancestors(&chatbot).map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["chatbot", "assist", "digital", "retail"]);
        assert!(h.contains(&NodeId::parse("retail").unwrap(), &chatbot));
        assert!(h.contains(&chatbot, &chatbot));
        assert!(!h.contains(&NodeId::parse("corp").unwrap(), &chatbot));
        assert_eq!(h.ancestor_at(&chatbot, Level::Portfolio).unwrap().id.as_str(), "assist");
        let assist = NodeId::parse("assist").unwrap();
        assert_eq!(h.children(&assist).count(), 2);
        assert_eq!(h.child_index()[&assist].len(), 2);
    }

    #[test]
    fn every_rule_is_enforced() {
        let mut dup = sample();
        dup.push(node("chatbot", 4, Some("assist")));
        assert_eq!(Hierarchy::build(dup).unwrap_err(), HierarchyError::DuplicateNode(NodeId::parse("chatbot").unwrap()));

        let e = Hierarchy::build(vec![node("a", 1, Some("b")), node("b", 1, None)]).unwrap_err();
        assert!(matches!(e, HierarchyError::RootWithParent { .. }), "{e}");

        let e = Hierarchy::build(vec![node("a", 2, None)]).unwrap_err();
        assert!(e.to_string().contains("needs a parent"), "{e}");

        let e = Hierarchy::build(vec![node("a", 2, Some("ghost"))]).unwrap_err();
        assert!(e.to_string().contains("ghost does not exist"), "{e}");

        let e = Hierarchy::build(vec![node("bu", 1, None), node("p", 3, Some("bu"))]).unwrap_err();
        assert!(e.to_string().contains("expected one level up"), "{e}");

        let mut blank = node("bu", 1, None);
        blank.name = "  ".into();
        assert!(matches!(Hierarchy::build(vec![blank]).unwrap_err(), HierarchyError::BadName { .. }));

        assert!(Level::try_from(5).unwrap_err().contains("1 to 4"));
    }

    #[test]
    fn levels_serialise_as_numbers() {
        let n: HierarchyNode = serde_json::from_str(r#"{"id":"bu","level":1,"name":"BU","parent":null}"#).unwrap();
        assert_eq!(n.level, Level::BusinessUnit);
        assert!(serde_json::from_str::<HierarchyNode>(r#"{"id":"bu","level":7,"name":"BU","parent":null}"#).is_err());
    }
}
