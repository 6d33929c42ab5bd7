//! XML Schema, as far as the importer needs it: global elements, complex and simple types,
//! particles with their occurrence, attributes, `complexContent` extension and
//! `simpleContent`; schemas found inline in a WSDL or through `xs:import`/`xs:include`
//! (resolved relative to the importing file; local files only).

use std::collections::BTreeMap;
use std::path::Path;

use super::load::Loader;
use super::tree::{Node, QName, XSD_NS};

/// How many times an element may occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaxOccurs {
    /// At most this many.
    Bounded(u64),
    /// `unbounded`.
    Unbounded,
}

impl MaxOccurs {
    /// Whether more than one occurrence is allowed.
    pub(crate) fn repeats(self) -> bool {
        !matches!(self, MaxOccurs::Bounded(0 | 1))
    }
}

/// The type of an element or attribute.
#[derive(Debug, Clone)]
pub(crate) enum TypeRef {
    /// A named type (built in, simple or complex).
    Named(QName),
    /// An anonymous complex type.
    Complex(Box<ComplexType>),
    /// An anonymous simple type, resolved to its base.
    Simple(QName),
    /// `ref=`: the type of this global element.
    Ref(QName),
    /// No type given: anything.
    Any,
}

/// An element declaration (global, local or reached through `ref`).
#[derive(Debug, Clone)]
pub(crate) struct ElementDecl {
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) type_ref: TypeRef,
    pub(crate) repeats: bool,
    /// `minOccurs` ≥ 1 (the default).
    pub(crate) required: bool,
    /// `nillable="true"`.
    pub(crate) nillable: bool,
    /// The facets of an anonymous simple type.
    pub(crate) facets: Facets,
}

/// The facets of a simple type restriction the importer turns into request checks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facets {
    pub(crate) enumeration: Vec<String>,
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    /// The `pattern` facets (alternatives), as written.
    pub(crate) patterns: Vec<String>,
}

/// An attribute declaration.
#[derive(Debug, Clone)]
pub(crate) struct AttributeDecl {
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) type_ref: TypeRef,
}

/// A complex type, with extension bases already in front.
#[derive(Debug, Clone, Default)]
pub(crate) struct ComplexType {
    /// `complexContent` extension base.
    pub(crate) base: Option<QName>,
    pub(crate) particles: Vec<ElementDecl>,
    pub(crate) attributes: Vec<AttributeDecl>,
    /// `simpleContent`: the type of the text.
    pub(crate) text: Option<QName>,
}

/// Every declaration of every schema read.
#[derive(Debug, Default)]
pub(crate) struct Schemas {
    pub(crate) elements: BTreeMap<QName, ElementDecl>,
    pub(crate) complex_types: BTreeMap<QName, ComplexType>,
    /// Simple type → its base type.
    pub(crate) simple_types: BTreeMap<QName, QName>,
    /// Named simple type → its own facets.
    pub(crate) simple_facets: BTreeMap<QName, Facets>,
    /// Prefixes the documents declare for each namespace (first seen wins).
    pub(crate) prefixes: BTreeMap<String, String>,
    /// Things the importer could not represent.
    pub(crate) warnings: Vec<String>,
}

/// The settings of one schema document that local declarations depend on.
struct SchemaContext {
    target: Option<String>,
    qualified: bool,
    attributes_qualified: bool,
}

impl Schemas {
    /// Reads an `xs:schema` element found in `file` (inline in a WSDL, or a schema file);
    /// `chameleon` is the includer's namespace for a schema without `targetNamespace`.
    pub(crate) fn read(
        &mut self,
        schema: &Node,
        file: &Path,
        chameleon: Option<&str>,
        loader: &mut Loader,
    ) -> Result<(), String> {
        for (prefix, uri) in schema.scope.iter() {
            if !prefix.is_empty() {
                self.prefixes
                    .entry(uri.clone())
                    .or_insert_with(|| prefix.clone());
            }
        }
        let context = SchemaContext {
            target: schema
                .attr("targetNamespace")
                .map(str::to_owned)
                .or_else(|| chameleon.map(str::to_owned)),
            qualified: schema.attr("elementFormDefault") == Some("qualified"),
            attributes_qualified: schema.attr("attributeFormDefault") == Some("qualified"),
        };
        for child in &schema.children {
            if child.namespace.as_deref() != Some(XSD_NS) {
                continue;
            }
            match child.local.as_str() {
                "import" | "include" => {
                    let Some(location) = child.attr("schemaLocation") else {
                        // Namespaces imported without a location are inline schemas of the same WSDL.
                        continue;
                    };
                    let path = loader.resolve(file, location)?;
                    if let Some(root) = loader.load(&path)? {
                        if !root.is(XSD_NS, "schema") {
                            return Err(format!(
                                "{}: not an XML Schema (root element <{}>)",
                                path.display(),
                                root.local
                            ));
                        }
                        let chameleon = (child.local == "include")
                            .then(|| context.target.clone())
                            .flatten();
                        self.read(&root, &path, chameleon.as_deref(), loader)?;
                    }
                }
                "redefine" | "override" => {
                    return Err(format!(
                        "{}: xs:{} is not supported",
                        file.display(),
                        child.local
                    ))
                }
                "element" => {
                    let decl = self.element(child, &context, true)?;
                    self.elements
                        .insert((decl.namespace.clone(), decl.name.clone()), decl);
                }
                "complexType" => {
                    let name = required(child, "name")?;
                    let complex = self.complex_type(child, &context)?;
                    self.complex_types
                        .insert((context.target.clone(), name), complex);
                }
                "simpleType" => {
                    let name = required(child, "name")?;
                    let base = simple_base(child)?;
                    self.simple_facets
                        .insert((context.target.clone(), name.clone()), facets(child));
                    self.simple_types
                        .insert((context.target.clone(), name), base);
                }
                "group" | "attributeGroup" => self.warnings.push(format!(
                    "xs:{} {:?} in {} is not expanded; its members get no hints",
                    child.local,
                    child.attr("name").unwrap_or_default(),
                    file.display()
                )),
                _ => {}
            }
        }
        Ok(())
    }

    fn element(
        &mut self,
        node: &Node,
        context: &SchemaContext,
        global: bool,
    ) -> Result<ElementDecl, String> {
        let repeats = occurs(node)?;
        let min_required = global || node.attr("minOccurs").is_none_or(|m| m.trim() != "0");
        let nillable = node.attr("nillable") == Some("true");
        if let Some(target) = node.qname_attr("ref")? {
            return Ok(ElementDecl {
                namespace: target.0.clone(),
                name: target.1.clone(),
                type_ref: TypeRef::Ref(target),
                repeats,
                required: min_required,
                nillable,
                facets: Facets::default(),
            });
        }
        let name = required(node, "name")?;
        let qualified = match node.attr("form") {
            Some(form) => form == "qualified",
            None => global || context.qualified,
        };
        let namespace = if qualified {
            context.target.clone()
        } else {
            None
        };
        let mut own_facets = Facets::default();
        let type_ref = if let Some(named) = node.qname_attr("type")? {
            TypeRef::Named(named)
        } else if let Some(complex) = node.child(XSD_NS, "complexType") {
            TypeRef::Complex(Box::new(self.complex_type(complex, context)?))
        } else if let Some(simple) = node.child(XSD_NS, "simpleType") {
            own_facets = facets(simple);
            TypeRef::Simple(simple_base(simple)?)
        } else {
            TypeRef::Any
        };
        Ok(ElementDecl {
            namespace,
            name,
            type_ref,
            repeats,
            required: min_required,
            nillable,
            facets: own_facets,
        })
    }

    fn complex_type(
        &mut self,
        node: &Node,
        context: &SchemaContext,
    ) -> Result<ComplexType, String> {
        let mut complex = ComplexType::default();
        let mut body = node;
        if let Some(content) = node.child(XSD_NS, "complexContent") {
            if let Some(derived) = content
                .child(XSD_NS, "extension")
                .or_else(|| content.child(XSD_NS, "restriction"))
            {
                if derived.local == "extension" {
                    complex.base = derived.qname_attr("base")?;
                }
                body = derived;
            }
        } else if let Some(content) = node.child(XSD_NS, "simpleContent") {
            if let Some(derived) = content
                .child(XSD_NS, "extension")
                .or_else(|| content.child(XSD_NS, "restriction"))
            {
                complex.text = derived.qname_attr("base")?;
                body = derived;
            }
        }
        for child in &body.children {
            if child.namespace.as_deref() != Some(XSD_NS) {
                continue;
            }
            match child.local.as_str() {
                "sequence" | "all" | "choice" => {
                    self.particles(child, context, false, &mut complex.particles)?
                }
                "attribute" => complex.attributes.push(self.attribute(child, context)?),
                "group" => self
                    .warnings
                    .push("an xs:group reference is not expanded; its members get no hints".into()),
                _ => {}
            }
        }
        Ok(complex)
    }

    /// The elements of a model group; a repeated group makes every element in it repeat.
    fn particles(
        &mut self,
        group: &Node,
        context: &SchemaContext,
        repeated: bool,
        out: &mut Vec<ElementDecl>,
    ) -> Result<(), String> {
        let repeated = repeated || occurs(group)?;
        for child in &group.children {
            if child.namespace.as_deref() != Some(XSD_NS) {
                continue;
            }
            match child.local.as_str() {
                "element" => {
                    let mut decl = self.element(child, context, false)?;
                    decl.repeats |= repeated;
                    out.push(decl);
                }
                "sequence" | "choice" | "all" => self.particles(child, context, repeated, out)?,
                "group" => self
                    .warnings
                    .push("an xs:group reference is not expanded; its members get no hints".into()),
                _ => {}
            }
        }
        Ok(())
    }

    fn attribute(&mut self, node: &Node, context: &SchemaContext) -> Result<AttributeDecl, String> {
        if let Some(target) = node.qname_attr("ref")? {
            return Ok(AttributeDecl {
                namespace: target.0.clone(),
                name: target.1,
                type_ref: TypeRef::Any,
            });
        }
        let name = required(node, "name")?;
        let qualified = match node.attr("form") {
            Some(form) => form == "qualified",
            None => context.attributes_qualified,
        };
        let type_ref = match (node.qname_attr("type")?, node.child(XSD_NS, "simpleType")) {
            (Some(named), _) => TypeRef::Named(named),
            (None, Some(simple)) => TypeRef::Simple(simple_base(simple)?),
            (None, None) => TypeRef::Any,
        };
        Ok(AttributeDecl {
            namespace: if qualified {
                context.target.clone()
            } else {
                None
            },
            name,
            type_ref,
        })
    }

    /// The first facets found on the way from a named simple type to its built-in base.
    pub(crate) fn facets_of(&self, name: &QName) -> Facets {
        let mut current = name.clone();
        for _ in 0..16 {
            if let Some(facets) = self.simple_facets.get(&current) {
                if !facets.enumeration.is_empty()
                    || facets.min.is_some()
                    || facets.max.is_some()
                    || !facets.patterns.is_empty()
                {
                    return facets.clone();
                }
            }
            match self.simple_types.get(&current) {
                Some(base) => current = base.clone(),
                None => break,
            }
        }
        Facets::default()
    }

    /// The built-in XSD type a named simple type derives from (through at most 16 steps).
    pub(crate) fn builtin(&self, name: &QName) -> Option<String> {
        let mut current = name.clone();
        for _ in 0..16 {
            if current.0.as_deref() == Some(XSD_NS) {
                return Some(current.1);
            }
            current = self.simple_types.get(&current)?.clone();
        }
        None
    }
}

fn required(node: &Node, name: &str) -> Result<String, String> {
    node.attr(name)
        .map(str::to_owned)
        .ok_or_else(|| format!("<xs:{}> has no {name} attribute", node.local))
}

/// Whether `maxOccurs` allows more than one; a malformed value is an error.
fn occurs(node: &Node) -> Result<bool, String> {
    let max = match node.attr("maxOccurs") {
        None => MaxOccurs::Bounded(1),
        Some("unbounded") => MaxOccurs::Unbounded,
        Some(value) => MaxOccurs::Bounded(
            value
                .trim()
                .parse()
                .map_err(|_| format!("maxOccurs=\"{value}\" is not a number or unbounded"))?,
        ),
    };
    Ok(max.repeats())
}

/// The enumeration and integer bound facets of a `xs:simpleType`'s restriction.
fn facets(node: &Node) -> Facets {
    let mut facets = Facets::default();
    let Some(restriction) = node.child(XSD_NS, "restriction") else {
        return facets;
    };
    for facet in &restriction.children {
        if facet.namespace.as_deref() != Some(XSD_NS) {
            continue;
        }
        let value = facet.attr("value").unwrap_or_default().trim();
        let number = value.parse::<i64>().ok();
        match facet.local.as_str() {
            "enumeration" => facets.enumeration.push(value.to_owned()),
            "minInclusive" => facets.min = number,
            "maxInclusive" => facets.max = number,
            "minExclusive" => facets.min = number.and_then(|n| n.checked_add(1)),
            "maxExclusive" => facets.max = number.and_then(|n| n.checked_sub(1)),
            "pattern" => facets.patterns.push(value.to_owned()),
            _ => {}
        }
    }
    facets
}

/// The base of an anonymous or named `xs:simpleType` (lists and unions are strings).
fn simple_base(node: &Node) -> Result<QName, String> {
    if let Some(restriction) = node.child(XSD_NS, "restriction") {
        if let Some(base) = restriction.qname_attr("base")? {
            return Ok(base);
        }
    }
    Ok((Some(XSD_NS.to_owned()), "string".to_owned()))
}
