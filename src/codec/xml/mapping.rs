//! `XmlMapping`: a validated, shareable mapping compiled from an [`XmlMappingConfig`].

use std::sync::Arc;

use super::error::MappingError;
use super::names::{first_illegal_char, ncname_error, split_qname};
use super::options::{
    EmptyAs, UnknownChildren, ValueType, XmlLimits, XmlMappingConfig, MAX_DEPTH_CEILING,
};
use super::paths::{resolve_name, AttributeHint, ElementName, PathTrie};

/// The namespace bound to the `xml` prefix by the XML specification.
pub(crate) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xsi:nil`, always available as prefix `xsi`.
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Index of the `xml` entry in the namespace table.
const XML_INDEX: u8 = 0;
/// Index of the `xsi` entry in the namespace table.
pub(crate) const XSI_INDEX: u8 = 1;
/// Namespace declarations are tracked in a `u64` bit set while writing.
const MAX_NAMESPACES: usize = 64;

/// Which namespace a name is in, from the mapping's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NsRef {
    /// No namespace, or the mapping's default namespace: the JSON key has no prefix.
    Unprefixed,
    /// The mapping's namespace with this index: the JSON key is `prefix:local`.
    Mapped(u8),
    /// A namespace the mapping does not know.
    Unmapped,
}

#[derive(Debug)]
struct Namespace {
    prefix: Box<str>,
    uri: Box<str>,
}

/// A validated XML⇄JSON mapping, built once at configuration load; cloning is cheap (`Arc`).
///
/// ```
/// use polygate::codec::xml::{xml_to_json, XmlMapping, XmlMappingConfig};
///
/// let mut config = XmlMappingConfig::default();
/// config.namespaces.insert("m".into(), "urn:orders".into());
/// config.arrays.push("m:orders/m:order".into());
/// let mapping = XmlMapping::new(&config).unwrap();
///
/// let mut json = Vec::new();
/// xml_to_json(br#"<o:orders xmlns:o="urn:orders"><o:order>1</o:order></o:orders>"#, &mapping, &mut json).unwrap();
/// assert_eq!(json, br#"{"m:order":["1"]}"#);
/// ```
#[derive(Debug, Clone)]
pub struct XmlMapping {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    namespaces: Vec<Namespace>,
    pub(crate) default_namespace: Option<Box<str>>,
    pub(crate) drop_prefixes: bool,
    pub(crate) empty_as: EmptyAs,
    pub(crate) recognise_scalars: bool,
    pub(crate) unknown_children: UnknownChildren,
    pub(crate) int64_as_number: bool,
    pub(crate) decimal_as_number: bool,
    pub(crate) limits: XmlLimits,
    pub(crate) paths: PathTrie,
    /// The configuration as written (arrays, types, order), for the API description.
    config: Option<Box<XmlMappingConfig>>,
}

impl Default for XmlMapping {
    /// No namespaces, no hints, default limits.
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                namespaces: builtin_namespaces(),
                default_namespace: None,
                drop_prefixes: false,
                empty_as: EmptyAs::default(),
                recognise_scalars: false,
                unknown_children: UnknownChildren::default(),
                int64_as_number: false,
                decimal_as_number: false,
                limits: XmlLimits::default(),
                paths: PathTrie::default(),
                config: None,
            }),
        }
    }
}

fn builtin_namespaces() -> Vec<Namespace> {
    vec![
        Namespace {
            prefix: "xml".into(),
            uri: XML_NS.into(),
        },
        Namespace {
            prefix: "xsi".into(),
            uri: XSI_NS.into(),
        },
    ]
}

impl XmlMapping {
    /// Validates a configuration; the error names the entry at fault.
    pub fn new(config: &XmlMappingConfig) -> Result<Self, MappingError> {
        validate_limits(&config.limits)?;
        let namespaces = compile_namespaces(config)?;
        let default_namespace = match &config.default_namespace {
            None => None,
            Some(uri) => {
                check_uri("(default)", uri)?;
                if let Some(ns) = namespaces.iter().find(|ns| *ns.uri == **uri) {
                    return Err(MappingError::Namespace {
                        prefix: "(default)".into(),
                        reason: format!("'{uri}' is already declared with prefix '{}'", ns.prefix),
                    });
                }
                Some(uri.as_str().into())
            }
        };
        let mut inner = Inner {
            namespaces,
            default_namespace,
            drop_prefixes: config.drop_prefixes,
            empty_as: config.empty_as,
            recognise_scalars: config.recognise_scalars,
            unknown_children: config.unknown_children,
            int64_as_number: config.int64_as_number,
            decimal_as_number: config.decimal_as_number,
            limits: config.limits,
            paths: PathTrie::default(),
            config: Some(Box::new(config.clone())),
        };
        inner.paths = compile_paths(config, &inner)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The configuration this mapping was built from (`None` for the default mapping).
    pub fn config(&self) -> Option<&XmlMappingConfig> {
        self.inner.config.as_deref()
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The configured limits.
    pub fn limits(&self) -> &XmlLimits {
        &self.inner.limits
    }

    /// Checks that `name` (`prefix:local` or `local`) is an element name this mapping can
    /// write: a valid XML name whose prefix the mapping declares.
    pub fn check_element_name(&self, name: &str) -> Result<(), String> {
        let (prefix, _) = split_qname(name).map_err(|reason| format!("{name:?}: {reason}"))?;
        match self.inner.ns_for_prefix(prefix) {
            Some(_) => Ok(()),
            None => Err(format!(
                "{name:?}: prefix '{prefix}' is not declared in the XML mapping's namespaces"
            )),
        }
    }
}

impl Inner {
    /// Namespace of a JSON prefix (`""` for un-prefixed keys).
    pub(crate) fn ns_for_prefix(&self, prefix: &str) -> Option<NsRef> {
        if prefix.is_empty() {
            return Some(NsRef::Unprefixed);
        }
        self.namespaces
            .iter()
            .position(|ns| *ns.prefix == *prefix)
            .and_then(|index| u8::try_from(index).ok())
            .map(NsRef::Mapped)
    }

    /// Namespace of an element found in a document (`None` = no namespace).
    pub(crate) fn ns_for_element_uri(&self, uri: Option<&str>) -> NsRef {
        match uri {
            None => NsRef::Unprefixed,
            Some(uri) if self.default_namespace.as_deref() == Some(uri) => NsRef::Unprefixed,
            Some(uri) => self.ns_for_uri(uri),
        }
    }

    /// Namespace of a prefixed attribute found in a document.
    pub(crate) fn ns_for_uri(&self, uri: &str) -> NsRef {
        self.namespaces
            .iter()
            .position(|ns| *ns.uri == *uri)
            .and_then(|index| u8::try_from(index).ok())
            .map_or(NsRef::Unmapped, NsRef::Mapped)
    }

    /// The JSON prefix of a mapped namespace.
    pub(crate) fn prefix(&self, index: u8) -> &str {
        self.namespaces
            .get(usize::from(index))
            .map_or("", |ns| &ns.prefix)
    }

    /// The URI of a mapped namespace.
    pub(crate) fn uri(&self, index: u8) -> &str {
        self.namespaces
            .get(usize::from(index))
            .map_or("", |ns| &ns.uri)
    }

    /// Number of mapped namespaces (including `xml` and `xsi`).
    pub(crate) fn namespace_count(&self) -> usize {
        self.namespaces.len()
    }

    /// Whether the namespace needs no declaration when written (`xml`).
    pub(crate) fn is_predeclared(index: u8) -> bool {
        index == XML_INDEX
    }
}

fn validate_limits(limits: &XmlLimits) -> Result<(), MappingError> {
    if limits.max_depth == 0 || limits.max_depth > MAX_DEPTH_CEILING {
        return Err(MappingError::Limit {
            name: "max_depth",
            reason: format!("must be between 1 and {MAX_DEPTH_CEILING}"),
        });
    }
    if limits.max_bytes == 0 {
        return Err(MappingError::Limit {
            name: "max_bytes",
            reason: "must be at least 1".into(),
        });
    }
    if limits.max_attributes == 0 {
        return Err(MappingError::Limit {
            name: "max_attributes",
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

fn check_uri(prefix: &str, uri: &str) -> Result<(), MappingError> {
    let fail = |reason: &str| MappingError::Namespace {
        prefix: prefix.to_owned(),
        reason: reason.to_owned(),
    };
    if uri.is_empty() {
        return Err(fail("the namespace URI is empty"));
    }
    if first_illegal_char(uri).is_some() {
        return Err(fail(
            "the namespace URI contains a character XML does not allow",
        ));
    }
    if uri == XMLNS_NS || uri == XML_NS || uri == XSI_NS {
        return Err(fail(
            "this namespace URI is reserved (xml, xmlns and xsi are built in)",
        ));
    }
    Ok(())
}

fn compile_namespaces(config: &XmlMappingConfig) -> Result<Vec<Namespace>, MappingError> {
    let mut namespaces = builtin_namespaces();
    for (prefix, uri) in &config.namespaces {
        let fail = |reason: String| MappingError::Namespace {
            prefix: prefix.clone(),
            reason,
        };
        if let Some(reason) = ncname_error(prefix) {
            return Err(fail(format!(
                "the prefix is not a valid XML name: {reason}"
            )));
        }
        match (prefix.as_str(), uri.as_str()) {
            ("xml", XML_NS) | ("xsi", XSI_NS) => continue,
            ("xml" | "xsi" | "xmlns", _) => {
                return Err(fail(
                    "this prefix is reserved (xml and xsi are built in)".into(),
                ))
            }
            _ => check_uri(prefix, uri)?,
        }
        if let Some(other) = namespaces.iter().find(|ns| *ns.uri == **uri) {
            return Err(fail(format!(
                "'{uri}' is already declared with prefix '{}'",
                other.prefix
            )));
        }
        if namespaces.len() == MAX_NAMESPACES {
            return Err(fail(format!(
                "at most {} namespaces may be declared",
                MAX_NAMESPACES - 2
            )));
        }
        namespaces.push(Namespace {
            prefix: prefix.as_str().into(),
            uri: uri.as_str().into(),
        });
    }
    Ok(namespaces)
}

fn compile_paths(config: &XmlMappingConfig, inner: &Inner) -> Result<PathTrie, MappingError> {
    let resolve = |prefix: &str| inner.ns_for_prefix(prefix);
    let mut trie = PathTrie::default();
    for (index, path) in config.arrays.iter().enumerate() {
        let target = trie.insert(&format!("arrays[{index}]"), path, false, &resolve)?;
        if let Some(node) = trie.node_mut(target.node) {
            node.array = true;
        }
    }
    for (path, value_type) in &config.types {
        let target = trie.insert("types", path, true, &resolve)?;
        if let Some(node) = trie.node_mut(target.node) {
            match target.attribute {
                Some((ns, local)) => node.attributes.push(AttributeHint {
                    ns,
                    local,
                    value_type: *value_type,
                }),
                None => node.value_type = Some(*value_type),
            }
        }
    }
    for (path, children) in &config.order {
        let target = trie.insert("order", path, false, &resolve)?;
        let names = compile_order(path, children, &resolve)?;
        if let Some(node) = trie.node_mut(target.node) {
            node.order = Some(names.into_boxed_slice());
        }
    }
    Ok(trie)
}

fn compile_order(
    path: &str,
    children: &[String],
    resolve: &dyn Fn(&str) -> Option<NsRef>,
) -> Result<Vec<ElementName>, MappingError> {
    let mut names: Vec<ElementName> = Vec::with_capacity(children.len());
    for child in children {
        let fail = |reason: String| MappingError::OrderChild {
            path: path.to_owned(),
            child: child.clone(),
            reason,
        };
        let (ns, local) = resolve_name(child, resolve).map_err(fail)?;
        if names.iter().any(|n| n.ns == ns && *n.local == *local) {
            return Err(fail("listed twice".into()));
        }
        names.push(ElementName {
            ns,
            local: local.into(),
        });
    }
    Ok(names)
}

/// Shorthand used by the converters: the hint type of a trie node set.
pub(crate) fn first_value_type(paths: &PathTrie, states: &[u32]) -> Option<ValueType> {
    states
        .iter()
        .find_map(|&id| paths.node(id).and_then(|node| node.value_type))
}

#[cfg(test)]
mod tests {
    use super::super::{EmptyAs, MappingError, UnknownChildren, XmlMappingConfig};
    use super::*;

    #[test]
    fn mapping_validation_names_the_entry() {
        let build = |configure: fn(&mut XmlMappingConfig)| {
            let mut config = XmlMappingConfig::default();
            configure(&mut config);
            XmlMapping::new(&config).map(|_| ())
        };
        assert_eq!(
            build(|c| {
                c.namespaces.insert("1m".into(), "urn:x".into());
            }),
            Err(MappingError::Namespace {
                prefix: "1m".into(),
                reason:
                    "the prefix is not a valid XML name: a name must start with a letter or '_'"
                        .into(),
            })
        );
        assert_eq!(
            build(|c| {
                c.namespaces.insert("a".into(), "urn:x".into());
                c.namespaces.insert("b".into(), "urn:x".into());
            }),
            Err(MappingError::Namespace {
                prefix: "b".into(),
                reason: "'urn:x' is already declared with prefix 'a'".into(),
            })
        );
        assert_eq!(
            build(|c| c.arrays = vec!["r/a".into(), "r//b".into()]),
            Err(MappingError::Path {
                entry: "arrays[1]".into(),
                path: "r//b".into(),
                reason: "empty segment (paths are like a/b/c, without leading or trailing /)"
                    .into(),
            })
        );
        assert_eq!(
            build(|c| c.arrays = vec!["r/q:a".into()]),
            Err(MappingError::Path {
                entry: "arrays[0]".into(),
                path: "r/q:a".into(),
                reason: "prefix 'q' is not declared in namespaces".into(),
            })
        );
        assert_eq!(
            build(|c| c.arrays = vec!["r/@a".into()]),
            Err(MappingError::Path {
                entry: "arrays[0]".into(),
                path: "r/@a".into(),
                reason: "an @attribute segment may only end a path in `types`".into(),
            })
        );
        assert_eq!(
            build(|c| {
                c.order.insert("r".into(), vec!["a".into(), "a b".into()]);
            }),
            Err(MappingError::OrderChild {
                path: "r".into(),
                child: "a b".into(),
                reason:
                    "\"a b\": the name contains a character not allowed in XML names (or a second ':')"
                        .into(),
            })
        );
        assert_eq!(
            build(|c| c.limits.max_depth = 1000),
            Err(MappingError::Limit {
                name: "max_depth",
                reason: "must be between 1 and 256".into(),
            })
        );
    }

    #[test]
    fn mapping_config_reads_from_json() {
        let config: XmlMappingConfig = serde_json::from_str(
            r#"{"namespaces":{"m":"urn:orders"},"empty_as":"null","types":{"m:r/n":"int64"},
                "order":{"m:r":["b","a"]},"unknown_children":"reject","limits":{"max_depth":8}}"#,
        )
        .expect("parses");
        assert_eq!(config.empty_as, EmptyAs::Null);
        assert_eq!(config.unknown_children, UnknownChildren::Reject);
        assert_eq!(config.limits.max_depth, 8);
        assert_eq!(config.limits.max_bytes, 4 * 1024 * 1024);
        assert!(XmlMapping::new(&config).is_ok());
        assert!(serde_json::from_str::<XmlMappingConfig>(r#"{"typo":1}"#).is_err());
    }
}
