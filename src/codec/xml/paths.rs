//! Path hints compiled into a trie: `arrays`, `types` and `order` entries, matched by namespace
//! and local name while a document streams through.

use super::error::MappingError;
use super::mapping::NsRef;
use super::names::split_qname;
use super::options::ValueType;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// An element with this namespace and local name.
    Name(NsRef, Box<str>),
    /// Any one element (`*`).
    Any,
}

/// A resolved element name (namespace and local name), as listed in `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElementName {
    /// Namespace of the element.
    pub(crate) ns: NsRef,
    /// Local name.
    pub(crate) local: Box<str>,
}

/// An attribute type hint attached to an element node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttributeHint {
    /// Namespace of the attribute (`Unprefixed` for plain attributes).
    pub(crate) ns: NsRef,
    /// Local name.
    pub(crate) local: Box<str>,
    /// Hinted type.
    pub(crate) value_type: ValueType,
}

/// What the mapping says about the elements reaching one trie node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PathNode {
    edges: Vec<(Segment, u32)>,
    /// Always a JSON array.
    pub(crate) array: bool,
    /// Type of the element's text.
    pub(crate) value_type: Option<ValueType>,
    /// Types of attributes.
    pub(crate) attributes: Vec<AttributeHint>,
    /// Child order for writing XML.
    pub(crate) order: Option<Box<[ElementName]>>,
    /// XML → JSON: JSON keys of the declared array children (`arrays` entries ending below
    /// this node), written as `[]` when the element has none of them.
    pub(crate) empty_arrays: Vec<Box<str>>,
}

/// All path entries of a mapping; node 0 stands above the converted element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTrie {
    nodes: Vec<PathNode>,
}

/// What a path names: an element node, optionally one of its attributes.
pub(crate) struct PathTarget {
    pub(crate) node: u32,
    pub(crate) attribute: Option<(NsRef, Box<str>)>,
}

impl Default for PathTrie {
    fn default() -> Self {
        Self {
            nodes: vec![PathNode::default()],
        }
    }
}

impl PathTrie {
    /// The node above the converted element.
    pub(crate) const ROOT: u32 = 0;

    /// The node with this id (ids come from `step`, so they exist).
    pub(crate) fn node(&self, id: u32) -> Option<&PathNode> {
        self.nodes.get(id as usize)
    }

    /// Whether the mapping has no path entries at all (the common fast path).
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Appends to `states` the nodes reached through an element `(ns, local)` from the nodes
    /// `states[parents]`; exact names come before `*` so that their hints win.
    pub(crate) fn step(
        &self,
        states: &mut Vec<u32>,
        parents: std::ops::Range<usize>,
        ns: NsRef,
        local: &str,
    ) {
        for index in parents {
            let Some(node) = states.get(index).and_then(|&id| self.node(id)) else {
                continue;
            };
            for (segment, target) in &node.edges {
                let matches = match segment {
                    Segment::Name(seg_ns, seg_local) => *seg_ns == ns && **seg_local == *local,
                    Segment::Any => true,
                };
                if matches {
                    states.push(*target);
                }
            }
        }
    }

    /// Adds a path and returns the node (and attribute) it names.
    ///
    /// `resolve` maps a JSON prefix (`""` for none) to a namespace; `allow_attribute` permits a
    /// last `@name` segment.
    pub(crate) fn insert(
        &mut self,
        entry: &str,
        path: &str,
        allow_attribute: bool,
        resolve: &dyn Fn(&str) -> Option<NsRef>,
    ) -> Result<PathTarget, MappingError> {
        let fail = |reason: String| MappingError::Path {
            entry: entry.to_owned(),
            path: path.to_owned(),
            reason,
        };
        let segments: Vec<&str> = path.split('/').collect();
        let mut node = Self::ROOT;
        let mut attribute = None;
        for (index, raw) in segments.iter().enumerate() {
            let is_last = index + 1 == segments.len();
            if raw.is_empty() {
                return Err(fail(
                    "empty segment (paths are like a/b/c, without leading or trailing /)".into(),
                ));
            }
            let segment = if *raw == "*" {
                Segment::Any
            } else if let Some(attr) = raw.strip_prefix('@') {
                if !(is_last && allow_attribute) {
                    return Err(fail(
                        "an @attribute segment may only end a path in `types`".into(),
                    ));
                }
                if index == 0 {
                    return Err(fail("an @attribute needs an element path before it".into()));
                }
                let (ns, local) = resolve_name(attr, resolve).map_err(fail)?;
                attribute = Some((ns, local.into()));
                continue;
            } else {
                let (ns, local) = resolve_name(raw, resolve).map_err(fail)?;
                Segment::Name(ns, local.into())
            };
            node = self.child(node, segment);
        }
        Ok(PathTarget { node, attribute })
    }

    /// Mutable access to a node returned by `insert`.
    pub(crate) fn node_mut(&mut self, id: u32) -> Option<&mut PathNode> {
        self.nodes.get_mut(id as usize)
    }

    fn child(&mut self, parent: u32, segment: Segment) -> u32 {
        let existing = self.node(parent).and_then(|node| {
            node.edges
                .iter()
                .find(|(s, _)| *s == segment)
                .map(|(_, target)| *target)
        });
        if let Some(target) = existing {
            return target;
        }
        let id = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.nodes.push(PathNode::default());
        if let Some(node) = self.nodes.get_mut(parent as usize) {
            node.edges.push((segment, id));
            // Exact names first, so their hints win over `*` in `step`.
            node.edges.sort_by_key(|(s, _)| matches!(s, Segment::Any));
        }
        id
    }
}

/// Resolves a JSON-style name `p:local` or `local` against the mapping's prefixes.
pub(crate) fn resolve_name<'n>(
    name: &'n str,
    resolve: &dyn Fn(&str) -> Option<NsRef>,
) -> Result<(NsRef, &'n str), String> {
    let (prefix, local) = split_qname(name).map_err(|reason| format!("{name:?}: {reason}"))?;
    let ns = resolve(prefix)
        .ok_or_else(|| format!("prefix '{prefix}' is not declared in namespaces"))?;
    Ok((ns, local))
}
