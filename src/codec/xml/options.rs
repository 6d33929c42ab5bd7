//! The XML mapping as configured (deserialisable from YAML): namespaces, hints, order, limits.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One XML⇄JSON mapping as written in configuration; validate it with
/// [`XmlMapping::new`](super::XmlMapping::new).
///
/// Paths are slash-separated JSON keys starting with the converted element's own key, e.g.
/// `m:GetOrdersResponse/orders/order`; a `*` segment matches any one element; a last segment
/// `@name` names an attribute (in `types` only). See the module documentation for the whole
/// convention.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XmlMappingConfig {
    /// Prefix → namespace URI. JSON keys use these prefixes (`m:order`), whatever prefixes the
    /// XML document uses. `xml` and `xsi` are built in.
    pub namespaces: BTreeMap<String, String>,
    /// Namespace of un-prefixed JSON keys. When unset, un-prefixed keys are elements in no
    /// namespace (`elementFormDefault="unqualified"`).
    pub default_namespace: Option<String>,
    /// XML → JSON: write local names only (`order` instead of `m:order`); elements in namespaces
    /// the mapping does not declare are then accepted too.
    pub drop_prefixes: bool,
    /// XML → JSON: the value of an empty element without type hint (`<x/>`).
    pub empty_as: EmptyAs,
    /// XML → JSON: turn untyped text that is a JSON number (no leading zeros, within ±2^53) or
    /// `true`/`false` into a JSON number or boolean. Off by default: values stay strings.
    pub recognise_scalars: bool,
    /// Paths of elements that are always JSON arrays, even when they occur once. XML → JSON:
    /// one that does not occur at all is `[]` under its parent (unless `omit_empty_arrays`,
    /// or its parent path has a `*`).
    pub arrays: Vec<String>,
    /// XML → JSON: leave a declared array with no occurrence out instead of writing `[]`.
    pub omit_empty_arrays: bool,
    /// Path → type of the element's text (or of an attribute with a last segment `@name`).
    pub types: BTreeMap<String, ValueType>,
    /// JSON → XML: element path → its child names in schema order.
    pub order: BTreeMap<String, Vec<String>>,
    /// JSON → XML: what to do with keys that the element's `order` list does not name.
    pub unknown_children: UnknownChildren,
    /// XML → JSON: write `int64`-typed values as JSON numbers instead of strings.
    pub int64_as_number: bool,
    /// XML → JSON: write `decimal`-typed values as JSON number tokens instead of strings
    /// (lexically, never through a float).
    pub decimal_as_number: bool,
    /// Size and depth limits.
    pub limits: XmlLimits,
    /// JSON → XML: what the schema says of request elements (required, nillable, enumeration,
    /// integer range, date format), checked before a request is sent; path → check.
    pub checks: BTreeMap<String, ElementCheck>,
}

/// What the schema says of one request element; checked before the request is sent, a
/// violation being a 400 that names the JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElementCheck {
    /// The element must be present in its parent (XSD `minOccurs` ≥ 1). Default false.
    pub required: bool,
    /// `null` is allowed (written `xsi:nil="true"`; XSD `nillable="true"`). Default true; the
    /// WSDL importer writes the schema's value, false unless declared.
    pub nillable: bool,
    /// The values allowed (XSD enumeration facets). Default: any.
    #[serde(rename = "enum")]
    pub enumeration: Vec<String>,
    /// Smallest integer allowed (XSD integer types and `minInclusive`).
    pub min: Option<i64>,
    /// Largest integer allowed (XSD integer types and `maxInclusive`).
    pub max: Option<i64>,
    /// The lexical form of a date or time (XSD `date`, `dateTime`, `time`).
    pub format: Option<DateFormat>,
    /// A regular expression the whole value must match (XSD `pattern`; Rust `regex` syntax,
    /// anchored at both ends).
    pub pattern: Option<String>,
}

impl Default for ElementCheck {
    fn default() -> Self {
        Self {
            required: false,
            nillable: true,
            enumeration: Vec::new(),
            min: None,
            max: None,
            format: None,
            pattern: None,
        }
    }
}

/// XSD date and time forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFormat {
    /// `2026-12-05`, optionally with a zone (`Z`, `+01:00`).
    Date,
    /// `2026-12-05T09:30:00`, optional fraction and zone.
    DateTime,
    /// `09:30:00`, optional fraction and zone.
    Time,
}

/// Value of an empty element (`<x/>` or `<x></x>`) that has no type hint (or a `string` hint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyAs {
    /// `""` (the default). `xsi:nil="true"` still gives `null`.
    #[default]
    EmptyString,
    /// `null`, like `xsi:nil="true"`.
    Null,
}

/// Type hint for an element's text or an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Text, kept verbatim (the default for every value).
    String,
    /// Integer within ±(2^53−1), written as a JSON number.
    Int,
    /// 64-bit integer, written as a JSON string (proto3 JSON style) unless `int64_as_number`.
    Int64,
    /// `xs:decimal`, written as a JSON string unless `decimal_as_number`.
    Decimal,
    /// `xs:double`, written as a JSON number; `INF`, `-INF` and `NaN` stay strings.
    Double,
    /// `xs:boolean` (`true`, `false`, `1`, `0`), written as a JSON boolean.
    Boolean,
}

impl ValueType {
    /// The name used in configuration and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Int64 => "int64",
            Self::Decimal => "decimal",
            Self::Double => "double",
            Self::Boolean => "boolean",
        }
    }
}

/// JSON → XML: keys of an object whose element has an `order` entry but that the entry does not
/// list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownChildren {
    /// Written after the listed children, in JSON order (the default).
    #[default]
    Append,
    /// Refused with [`XmlError::UnknownChild`](super::XmlError::UnknownChild).
    Reject,
}

/// Limits that keep hostile input cheap to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XmlLimits {
    /// Deepest element nesting, the converted element counting as 1 (default 64, at most 256).
    pub max_depth: usize,
    /// Largest input accepted, in bytes (default 4 MiB); a number or a size such as `8MiB`.
    #[serde(deserialize_with = "byte_size")]
    pub max_bytes: usize,
    /// Most attributes on one element (default 256).
    pub max_attributes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_bytes: 4 * 1024 * 1024,
            max_attributes: 256,
        }
    }
}

fn byte_size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let size = crate::config::units::ByteSize::deserialize(deserializer)?;
    usize::try_from(size.0).map_err(|_| serde::de::Error::custom("size too large"))
}

/// Highest `max_depth` accepted; converters recurse (writer) or keep a frame (reader) per level.
pub(crate) const MAX_DEPTH_CEILING: usize = 256;
