//! JSON ⇄ XML conversion engine: streaming, schema-hinted and safe on hostile input.
//!
//! polygate fronts SOAP and plain-XML backends with JSON APIs. This module converts one element
//! at a time between XML and JSON under an [`XmlMapping`] (built once from an
//! [`XmlMappingConfig`]). The SOAP layer walks `Envelope`/`Body` itself and hands the payload
//! element to [`element_to_json`] / writes it with [`write_element`]; plain-XML routes use
//! [`xml_to_json`] / [`json_to_xml`] on whole documents.
//!
//! # The convention
//!
//! ## Elements and keys
//! - An element becomes a JSON member whose key is its name with the **mapping's** prefix:
//!   `m:order` when its namespace URI is declared as `m` in `namespaces`, `order` when it is in no
//!   namespace or in `default_namespace`. The prefixes a document uses do not matter: elements
//!   are matched by namespace URI and local name. With `drop_prefixes: true` keys are local
//!   names only (and elements in undeclared namespaces are accepted); otherwise an element in an
//!   undeclared namespace is an error ([`XmlError::UnmappedNamespace`]).
//! - The converted element itself is not a key: [`xml_to_json`] and [`element_to_json`] produce
//!   the element's **value**, and [`json_to_xml`] takes that value plus the element's name. So
//!   `<m:GetOrdersResponse><m:orders>…</m:orders></m:GetOrdersResponse>` gives
//!   `{"m:orders": …}`, and JSON → XML → JSON is the identity for documents that follow these
//!   rules.
//!
//! ## Values
//! - An element with neither attributes nor child elements is a scalar: its text, typed by a
//!   hint (below) or a string. `<zip>01234</zip>` is `"01234"`.
//! - Otherwise it is an object: attributes first as `"@name"` (`"@p:name"` for namespaced
//!   attributes; un-prefixed attributes have no namespace), then child elements in order of
//!   first occurrence, then the text as `"#text"` if any remains. Whitespace-only text is
//!   dropped in objects (indentation); in scalars it is kept. Mixed content is supported only
//!   loosely: all text pieces are concatenated into `"#text"`, their position is lost.
//! - An element occurring more than once in its parent becomes an array in the position of its
//!   first occurrence, also when the occurrences are not adjacent (`a, b, a` → `a: […], b`).
//!   Elements named in `arrays` are arrays even when they occur once. An absent element is an
//!   absent key (even when it is in `arrays`).
//! - An empty element (`<x/>`, `<x></x>`, no attributes) is `""` (`empty_as: empty_string`, the
//!   default) or `null` (`empty_as: null`); with a non-string type hint it is `null`.
//!   `xsi:nil="true"` is `null`, or `"#text": null` beside other attributes; such an element
//!   must be empty.
//! - Text from CDATA sections, character references (`&#x41;`) and the five predefined
//!   entities is merged into the element's text. Comments and processing instructions are
//!   dropped. `xmlns` declarations and `xsi:*` attributes (`xsi:type`, schema locations) are not
//!   copied; `xml:lang` and other `xml:` attributes are (as `@xml:lang`).
//!
//! ## Types
//! Untyped text stays a string. With `recognise_scalars: true`, untyped text that is exactly
//! `true`/`false` or a JSON number (no leading zeros, no `+`, integers within ±2^53) becomes a
//! boolean/number. Hints in `types` (path → type) set a value's type; the XSD lexical form is
//! checked and normalised lexically, never through a float (`+5` → `5`, `007` → `7`, `5.` → `5`,
//! `.5` → `0.5`); a value outside the lexical space is an [`XmlError::InvalidValue`]:
//!
//! | hint | XML → JSON | JSON → XML accepts |
//! |---|---|---|
//! | `string` | string | any scalar |
//! | `int` | number (must be within ±(2^53−1)) | integer number or string |
//! | `int64` | string (`int64_as_number` → number token) | integer within i64, number or string |
//! | `decimal` | string (`decimal_as_number` → number token) | number or string without exponent |
//! | `double` | number; `INF`, `-INF`, `NaN` and out-of-range values as strings | number or string, `INF`, `NaN` |
//! | `boolean` | `true`/`1` → true, `false`/`0` → false | `true`, `false`, `"1"`, `"0"` |
//!
//! ## Paths
//! `arrays`, `types` and `order` name elements by slash-separated JSON keys starting with the
//! converted element's own key: `m:GetOrdersResponse/m:orders/m:order`. Keys use the mapping's
//! prefixes (also with `drop_prefixes`, which only changes the output). A `*` segment matches
//! any one element; in `types` a last segment `@name` names an attribute
//! (`m:GetOrdersResponse/*/m:order/@id`). When several entries match, exact names win over `*`.
//!
//! ## JSON → XML
//! - The value of an element is written as described above in reverse: `"@a"` → attribute,
//!   `"#text"` → text (before the children), an array → repeated elements (an empty array writes
//!   nothing), `null` → `<x xsi:nil="true"/>`, `""` → `<x/>`, numbers and booleans → their JSON
//!   text (so int64 strings are written as they are).
//! - Children follow the element's `order` entry (schema order), whatever the JSON key order;
//!   keys the entry does not list follow in JSON order (`unknown_children: append`) or are
//!   refused (`unknown_children: reject`). Without an entry, JSON order is kept.
//! - An un-prefixed child key that the element's `order` entry lists only in one other
//!   namespace (`t:sku`) is written in that namespace, so JSON produced with `drop_prefixes`
//!   converts back when the mapping carries the schema's order lists.
//! - Every key must be an XML name with a declared prefix (`"a b"`, `"1x"`, `"xmlns:x"` and
//!   `"x\"/><y"` are refused, [`XmlError::InvalidName`]); every character must be allowed by
//!   XML 1.0 (U+0000, U+0001, U+FFFE … are refused, [`XmlError::InvalidChar`]); duplicate keys
//!   are refused. Text and attribute values are escaped (`]]>` becomes `]]&gt;`).
//! - Namespace declarations for every prefix used (`xsi` only if a nil was written, the default
//!   namespace if an un-prefixed element was written) are placed once on the written element.
//!   Un-prefixed elements are written without namespace when no `default_namespace` is set: do
//!   not nest them under an ancestor that declares a default namespace.
//! - The JSON is read with serde_json without building a value tree: each object's members
//!   are borrowed as raw slices so that they can be reordered.
//!
//! # Hostile input
//! - Any `<!DOCTYPE …>` is refused ([`XmlError::DoctypeForbidden`]): nothing is ever expanded or
//!   fetched, which covers XXE and entity bombs. Entities other than the five predefined ones are
//!   refused ([`XmlError::UnknownEntity`]); character references and all text must be XML 1.0
//!   characters ([`XmlError::IllegalChar`]).
//! - `max_depth` (default 64) bounds nesting, `max_bytes` (default 4 MiB) the input size,
//!   `max_attributes` (default 256) the attributes per element; quick-xml bounds namespace
//!   bindings in scope (128). Memory is proportional to the input.
//! - One root element; only whitespace, comments and PIs around it; unclosed, mismatched or
//!   duplicate-attribute markup, `<` in attribute values and undeclared prefixes are
//!   [`XmlError::Malformed`] or [`XmlError::UndeclaredPrefix`].
//! - Encodings ([`decode_document`]): byte order mark, then Content-Type charset, then the XML
//!   declaration, then UTF-8; other encodings are transcoded to UTF-8 before parsing. Error
//!   offsets refer to the UTF-8 document.

mod checks;
mod encoding;
mod error;
mod mapping;
mod names;
mod options;
mod paths;
mod read;
mod read_members;
mod scalars;
pub(crate) mod walk;
mod write;
mod write_json;
mod write_object;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_props_schema;
#[cfg(test)]
mod tests_write;

pub use checks::check_request;
pub use encoding::decode_document;
pub use error::{MappingError, XmlError};
pub use mapping::XmlMapping;
pub use options::{
    DateFormat, ElementCheck, EmptyAs, UnknownChildren, ValueType, XmlLimits, XmlMappingConfig,
};
pub use read::{element_to_json, guard_event, xml_to_json};
pub use write::{json_to_xml, write_element};
