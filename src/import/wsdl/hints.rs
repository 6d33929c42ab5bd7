//! The XML mapping hints of an operation's request and response elements, walked through the
//! schema: repeated elements → `arrays`, numeric and boolean XSD types → `types`, sequence
//! order → `order`. Recursive types stop the walk (with a warning); depth is bounded.

use std::collections::{BTreeMap, BTreeSet};

use super::schema::{ComplexType, ElementDecl, Schemas, TypeRef};
use super::tree::{QName, XSD_NS};

/// Deepest element path described.
const MAX_PATH: usize = 24;
/// Most `complexContent` extension steps followed.
const MAX_BASES: usize = 16;

/// A path of element names from the operation's element down.
pub(crate) type ElementPath = Vec<QName>;

/// The hints of every walked element.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    pub(crate) arrays: BTreeSet<ElementPath>,
    /// (element path, attribute name if an attribute) → type name.
    pub(crate) types: BTreeMap<(ElementPath, Option<QName>), &'static str>,
    pub(crate) order: BTreeMap<ElementPath, Vec<QName>>,
    /// Element path (below its root) → what the schema says of it, for request checks.
    pub(crate) checks: BTreeMap<ElementPath, CheckHint>,
    /// Every element namespace (`None`: no namespace) and qualified attribute namespace met.
    pub(crate) namespaces: BTreeSet<Option<String>>,
    /// Whether some element lists two children with the same local name.
    pub(crate) local_name_clash: bool,
    pub(crate) warnings: BTreeSet<String>,
}

/// What the schema says of one element: `xml_mapping.checks` of request elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CheckHint {
    pub(crate) required: bool,
    pub(crate) nillable: bool,
    pub(crate) enumeration: Vec<String>,
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    pub(crate) format: Option<&'static str>,
    pub(crate) pattern: Option<String>,
}

/// The value range of a built-in XSD integer type, where it is narrower than JSON's.
fn integer_range(builtin: &str) -> (Option<i64>, Option<i64>) {
    match builtin {
        "int" => (Some(i64::from(i32::MIN)), Some(i64::from(i32::MAX))),
        "short" => (Some(i64::from(i16::MIN)), Some(i64::from(i16::MAX))),
        "byte" => (Some(i64::from(i8::MIN)), Some(i64::from(i8::MAX))),
        "unsignedInt" => (Some(0), Some(i64::from(u32::MAX))),
        "unsignedShort" => (Some(0), Some(i64::from(u16::MAX))),
        "unsignedByte" => (Some(0), Some(i64::from(u8::MAX))),
        "nonNegativeInteger" | "unsignedLong" => (Some(0), None),
        "positiveInteger" => (Some(1), None),
        "nonPositiveInteger" => (None, Some(0)),
        "negativeInteger" => (None, Some(-1)),
        _ => (None, None),
    }
}

/// The JSON type name the mapping uses for a built-in XSD type, if it is not a string.
pub(crate) fn value_type(builtin: &str) -> Option<&'static str> {
    Some(match builtin {
        "int" | "short" | "byte" | "unsignedShort" | "unsignedByte" | "unsignedInt" => "int",
        "long" => "int64",
        "decimal" | "integer" | "nonNegativeInteger" | "positiveInteger" | "nonPositiveInteger"
        | "negativeInteger" | "unsignedLong" => "decimal",
        "float" | "double" => "double",
        "boolean" => "boolean",
        _ => return None,
    })
}

impl Hints {
    /// Walks the global element `root` (an operation's request or response element).
    pub(crate) fn collect(&mut self, schemas: &Schemas, root: &QName) -> Result<(), String> {
        let decl = schemas
            .elements
            .get(root)
            .ok_or_else(|| format!("element {} is not declared in any schema", display(root)))?;
        let mut path = Vec::new();
        let mut types_on_path = Vec::new();
        self.walk(schemas, decl, &mut path, &mut types_on_path);
        Ok(())
    }

    fn walk(
        &mut self,
        schemas: &Schemas,
        decl: &ElementDecl,
        path: &mut ElementPath,
        types_on_path: &mut Vec<QName>,
    ) {
        if path.len() >= MAX_PATH {
            self.warnings.insert(format!(
                "elements nested deeper than {MAX_PATH} levels get no hints"
            ));
            return;
        }
        path.push((decl.namespace.clone(), decl.name.clone()));
        self.namespaces.insert(decl.namespace.clone());
        if decl.repeats && path.len() > 1 {
            self.arrays.insert(path.clone());
        }
        let mut type_ref = &decl.type_ref;
        let mut nillable = decl.nillable;
        let mut facets = decl.facets.clone();
        if let TypeRef::Ref(target) = type_ref {
            match schemas.elements.get(target) {
                Some(global) => {
                    type_ref = &global.type_ref;
                    nillable |= global.nillable;
                    facets = global.facets.clone();
                }
                None => {
                    self.warnings
                        .insert(format!("element {} is not declared", display(target)));
                }
            }
        }
        if path.len() > 1 {
            let mut check = CheckHint {
                required: decl.required,
                nillable,
                ..CheckHint::default()
            };
            let simple = match type_ref {
                TypeRef::Named(name) if name.0.as_deref() == Some(XSD_NS) => {
                    Some((name.1.clone(), None))
                }
                TypeRef::Named(name) if !schemas.complex_types.contains_key(name) => {
                    schemas.builtin(name).map(|b| (b, Some(name)))
                }
                TypeRef::Simple(base) => schemas.builtin(base).map(|b| (b, Some(base))),
                _ => None,
            };
            if let Some((builtin, named)) = simple {
                if facets.enumeration.is_empty()
                    && facets.min.is_none()
                    && facets.max.is_none()
                    && facets.patterns.is_empty()
                {
                    if let Some(named) = named {
                        facets = schemas.facets_of(named);
                    }
                }
                let (min, max) = integer_range(&builtin);
                check.min = match (min, facets.min) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                check.max = match (max, facets.max) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                check.enumeration = facets.enumeration.clone();
                check.pattern = self.pattern(&facets.patterns, path);
                check.format = match builtin.as_str() {
                    "date" => Some("date"),
                    "dateTime" => Some("date_time"),
                    "time" => Some("time"),
                    _ => None,
                };
            }
            self.checks.insert(path.clone(), check);
        }
        match type_ref {
            TypeRef::Named(name) if name.0.as_deref() == Some(XSD_NS) => {
                self.scalar(path, None, &name.1)
            }
            TypeRef::Named(name) => match schemas.complex_types.get(name) {
                Some(_) if types_on_path.contains(name) => {
                    self.warnings.insert(format!(
                        "type {} is recursive; elements below its second occurrence get no hints",
                        display(name)
                    ));
                }
                Some(complex) => {
                    types_on_path.push(name.clone());
                    self.complex(schemas, complex, path, types_on_path);
                    types_on_path.pop();
                }
                None => match schemas.builtin(name) {
                    Some(builtin) => self.scalar(path, None, &builtin),
                    None => {
                        self.warnings
                            .insert(format!("type {} is not declared", display(name)));
                    }
                },
            },
            TypeRef::Complex(complex) => self.complex(schemas, complex, path, types_on_path),
            TypeRef::Simple(base) => {
                if let Some(builtin) = schemas.builtin(base) {
                    self.scalar(path, None, &builtin);
                }
            }
            TypeRef::Ref(_) | TypeRef::Any => {}
        }
        path.pop();
    }

    /// The `pattern` facets as one regular expression, when the `regex` crate reads them the
    /// way XSD means them (XSD's `\i`, `\c` and class subtraction are not): else a warning.
    fn pattern(&mut self, patterns: &[String], path: &ElementPath) -> Option<String> {
        if patterns.is_empty() {
            return None;
        }
        let joined = if patterns.len() == 1 {
            patterns[0].clone()
        } else {
            patterns
                .iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|")
        };
        let xsd_only = ["\\i", "\\I", "\\c", "\\C", "-["];
        let readable = !xsd_only.iter().any(|x| joined.contains(x))
            && regex::Regex::new(&format!("^(?:{joined})$")).is_ok();
        if readable {
            Some(joined)
        } else {
            let at: Vec<&str> = path.iter().map(|(_, local)| local.as_str()).collect();
            self.warnings.insert(format!(
                "the pattern {joined:?} of {} is not checked (XSD-only regular expression syntax)",
                at.join("/")
            ));
            None
        }
    }

    fn scalar(&mut self, path: &ElementPath, attribute: Option<QName>, builtin: &str) {
        if let Some(type_name) = value_type(builtin) {
            self.types.insert((path.clone(), attribute), type_name);
        }
    }

    fn complex(
        &mut self,
        schemas: &Schemas,
        complex: &ComplexType,
        path: &mut ElementPath,
        types_on_path: &mut Vec<QName>,
    ) {
        // Extension bases come first, outermost base first.
        let mut chain = vec![complex];
        let mut base = complex.base.as_ref();
        while let Some(name) = base {
            if chain.len() > MAX_BASES {
                break;
            }
            match schemas.complex_types.get(name) {
                Some(parent) => {
                    chain.push(parent);
                    base = parent.base.as_ref();
                }
                None => {
                    self.warnings
                        .insert(format!("base type {} is not declared", display(name)));
                    break;
                }
            }
        }
        chain.reverse();
        let particles: Vec<&ElementDecl> = chain.iter().flat_map(|c| c.particles.iter()).collect();
        let names: Vec<QName> = particles
            .iter()
            .map(|p| (p.namespace.clone(), p.name.clone()))
            .collect();
        let locals: BTreeSet<&str> = names.iter().map(|(_, local)| local.as_str()).collect();
        if locals.len() != names.len() {
            self.local_name_clash = true;
        }
        if !names.is_empty() {
            self.order.insert(path.clone(), names);
        }
        for part in &chain {
            for attribute in &part.attributes {
                // Un-prefixed attributes are in no namespace whatever the default is.
                if attribute.namespace.is_some() {
                    self.namespaces.insert(attribute.namespace.clone());
                }
                let builtin = match &attribute.type_ref {
                    TypeRef::Named(name) | TypeRef::Simple(name) => schemas.builtin(name),
                    _ => None,
                };
                if let Some(builtin) = builtin {
                    self.scalar(
                        path,
                        Some((attribute.namespace.clone(), attribute.name.clone())),
                        &builtin,
                    );
                }
            }
            if let Some(text) = &part.text {
                if let Some(builtin) = schemas.builtin(text) {
                    self.scalar(path, None, &builtin);
                }
            }
        }
        for particle in particles {
            self.walk(schemas, particle, path, types_on_path);
        }
    }
}

/// `{namespace}local`.
pub(crate) fn display(name: &QName) -> String {
    match &name.0 {
        Some(ns) => format!("{{{ns}}}{}", name.1),
        None => name.1.clone(),
    }
}
