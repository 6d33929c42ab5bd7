//! Errors of the XML engine: conversion errors (`XmlError`) and mapping validation errors (`MappingError`).

use thiserror::Error;

use crate::model::{Code, Status};

/// Why a conversion between XML and JSON failed.
///
/// Messages are meant for API clients: they name the byte offset (XML input), the JSON key path
/// (JSON input) or the limit that was hit. [`XmlError::code`] gives a stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XmlError {
    /// The document contains a `<!DOCTYPE …>` declaration; DTDs are never processed.
    #[error("XML document type declarations (DOCTYPE) are not allowed (at byte {offset})")]
    DoctypeForbidden {
        /// Byte offset of the declaration in the (UTF-8) document.
        offset: usize,
    },
    /// Elements (or JSON objects) are nested deeper than the mapping allows.
    #[error("nesting deeper than the limit of {limit} levels at {at}")]
    TooDeep {
        /// The configured `max_depth`.
        limit: usize,
        /// Where the limit was hit: a byte offset (`byte 123`) or a JSON key path.
        at: String,
    },
    /// The input is larger than the mapping allows.
    #[error("document of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The configured `max_bytes`.
        limit: usize,
        /// Size seen so far (the whole input, or the bytes read when the limit was crossed).
        size: usize,
    },
    /// An element has more attributes than the mapping allows.
    #[error("element <{element}> has more than {limit} attributes (at byte {offset})")]
    TooManyAttributes {
        /// The configured `max_attributes`.
        limit: usize,
        /// The element's name as written in the document.
        element: String,
        /// Byte offset of the element.
        offset: usize,
    },
    /// The document declares (or the content type names) an encoding polygate does not decode.
    #[error("unsupported character encoding: {0}")]
    UnsupportedEncoding(String),
    /// The bytes are not valid in the document's encoding.
    #[error("the document is not valid {encoding}: invalid bytes at offset {offset}")]
    BadEncoding {
        /// Name of the encoding the document was decoded with.
        encoding: &'static str,
        /// Byte offset of the first invalid sequence in the input.
        offset: usize,
    },
    /// The XML is not well-formed.
    #[error("malformed XML at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset where the problem was detected.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// An entity reference other than `lt`, `gt`, `amp`, `apos`, `quot` or a character reference.
    #[error("undefined entity &{name}; at byte {offset} (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)")]
    UnknownEntity {
        /// The entity name.
        name: String,
        /// Byte offset of the reference (or of the element holding the attribute).
        offset: usize,
    },
    /// A character that XML 1.0 does not allow, found in the XML input.
    #[error("character U+{code:04X} is not allowed in XML 1.0 (at byte {offset})")]
    IllegalChar {
        /// The code point.
        code: u32,
        /// Byte offset of the text, attribute or reference holding it.
        offset: usize,
    },
    /// An element or attribute uses a prefix the document does not declare.
    #[error("namespace prefix '{prefix}' is not declared (at byte {offset})")]
    UndeclaredPrefix {
        /// The prefix.
        prefix: String,
        /// Byte offset of the element.
        offset: usize,
    },
    /// An element or attribute is in a namespace the mapping has no prefix for (and
    /// `drop_prefixes` is off), so it has no JSON key.
    #[error("{name} at {at} is in namespace '{uri}', which the mapping does not declare")]
    UnmappedNamespace {
        /// Local name (with `@` for attributes).
        name: String,
        /// Namespace URI.
        uri: String,
        /// JSON key path of the containing element.
        at: String,
    },
    /// A value does not have the lexical form its type hint requires.
    #[error("value at {at} is not a valid {expected}: {found:?}")]
    InvalidValue {
        /// JSON key path of the value.
        at: String,
        /// The hinted type.
        expected: &'static str,
        /// The offending value (shortened to 64 characters).
        found: String,
    },
    /// An element marked `xsi:nil="true"` has content.
    #[error("element at {at} is marked xsi:nil=\"true\" but has content")]
    NilWithContent {
        /// JSON key path of the element.
        at: String,
    },
    /// A JSON key is not a valid XML name (or not a valid `@attribute` / `#text` key).
    #[error("JSON key {key:?} at {at} is not a valid XML name: {reason}")]
    InvalidName {
        /// The key.
        key: String,
        /// JSON key path of the object holding it.
        at: String,
        /// Why the name is invalid.
        reason: &'static str,
    },
    /// A JSON key uses a prefix the mapping does not declare.
    #[error("JSON key {key:?} at {at} uses prefix '{prefix}', which the mapping does not declare")]
    UnknownPrefix {
        /// The key.
        key: String,
        /// The prefix.
        prefix: String,
        /// JSON key path of the object holding it.
        at: String,
    },
    /// A JSON string holds a character that XML 1.0 cannot carry.
    #[error("value of {key:?} at {at} contains U+{code:04X}, which XML 1.0 does not allow")]
    InvalidChar {
        /// The key whose value holds the character.
        key: String,
        /// JSON key path of the value.
        at: String,
        /// The code point.
        code: u32,
    },
    /// The same key appears twice in one JSON object.
    #[error("JSON key {key:?} appears more than once at {at}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// JSON key path of the object.
        at: String,
    },
    /// A JSON key is not among the children the mapping's `order` lists for this element
    /// (only with `unknown_children: reject`).
    #[error("JSON key {key:?} at {at} is not a known child of this element")]
    UnknownChild {
        /// The key.
        key: String,
        /// JSON key path of the object.
        at: String,
    },
    /// The JSON has a shape the convention cannot express in XML (array of arrays, object as
    /// attribute value, array as document root …).
    #[error("cannot express the JSON at {at} as XML: {reason}")]
    Unrepresentable {
        /// JSON key path of the value.
        at: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A request value the schema forbids (a required element missing, `null` where the
    /// element is not nillable, a value outside its enumeration, range or date form).
    #[error("{at}: {reason}")]
    SchemaViolation {
        /// JSON path of the value (or of the missing member).
        at: String,
        /// What the schema says.
        reason: String,
    },
    /// The root element name given to the writer is not a valid `prefix:name`.
    #[error("invalid root element name {name:?}: {reason}")]
    InvalidRoot {
        /// The name given.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
}

impl XmlError {
    /// Stable machine-readable code for error bodies and metrics, e.g. `xml_doctype_forbidden`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DoctypeForbidden { .. } => "xml_doctype_forbidden",
            Self::TooDeep { .. } => "xml_too_deep",
            Self::TooLarge { .. } => "xml_too_large",
            Self::TooManyAttributes { .. } => "xml_too_many_attributes",
            Self::UnsupportedEncoding(_) => "xml_unsupported_encoding",
            Self::BadEncoding { .. } => "xml_bad_encoding",
            Self::Malformed { .. } | Self::UndeclaredPrefix { .. } => "xml_malformed",
            Self::UnknownEntity { .. } => "xml_undefined_entity",
            Self::IllegalChar { .. } => "xml_illegal_char",
            Self::UnmappedNamespace { .. } => "xml_unmapped_namespace",
            Self::InvalidValue { .. } | Self::NilWithContent { .. } => "xml_invalid_value",
            Self::InvalidName { .. }
            | Self::UnknownPrefix { .. }
            | Self::InvalidChar { .. }
            | Self::DuplicateKey { .. }
            | Self::UnknownChild { .. }
            | Self::Unrepresentable { .. }
            | Self::Json(_) => "json_not_convertible",
            Self::InvalidRoot { .. } => "xml_invalid_root_name",
            Self::SchemaViolation { .. } => "xml_schema_violation",
        }
    }

    /// Builds a `Malformed` error from a reason and an offset.
    pub(crate) fn malformed(offset: usize, reason: impl Into<String>) -> Self {
        Self::Malformed {
            offset,
            reason: reason.into(),
        }
    }

    /// Translates a quick-xml error into the matching precise variant.
    pub(crate) fn from_reader(err: quick_xml::Error, offset: usize) -> Self {
        use quick_xml::escape::{EscapeError, ParseCharRefError};
        use quick_xml::name::NamespaceError;
        match err {
            quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, name)) => {
                Self::UnknownEntity { name, offset }
            }
            quick_xml::Error::Escape(EscapeError::InvalidCharRef(
                ParseCharRefError::IllegalCharacter(code)
                | ParseCharRefError::InvalidCodepoint(code),
            )) => Self::IllegalChar { code, offset },
            quick_xml::Error::Namespace(NamespaceError::UnknownPrefix(prefix)) => {
                Self::UndeclaredPrefix { prefix, offset }
            }
            other => Self::malformed(offset, other.to_string()),
        }
    }
}

/// Shortens a value for an error message to at most 64 characters.
pub(crate) fn shorten(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// Why an [`XmlMappingConfig`](super::XmlMappingConfig) was rejected; each names the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    /// A `namespaces` entry (or `default_namespace`) is invalid.
    #[error("namespaces.{prefix}: {reason}")]
    Namespace {
        /// The prefix of the entry (`(default)` for `default_namespace`).
        prefix: String,
        /// What is wrong.
        reason: String,
    },
    /// A path in `arrays`, `types` or `order` is invalid.
    #[error("{entry}: invalid path {path:?}: {reason}")]
    Path {
        /// Which entry, e.g. `arrays[2]` or `types`.
        entry: String,
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A child name listed in `order` is invalid.
    #[error("order.{path}: invalid child name {child:?}: {reason}")]
    OrderChild {
        /// The element path the list belongs to.
        path: String,
        /// The child name.
        child: String,
        /// What is wrong.
        reason: String,
    },
    /// A limit is out of range.
    #[error("limits.{name}: {reason}")]
    Limit {
        /// The limit's name.
        name: &'static str,
        /// The allowed range.
        reason: String,
    },
}

impl XmlError {
    /// A client's JSON that cannot become the XML a route sends: `INVALID_ARGUMENT`, with the
    /// engine's reason.
    pub fn request_status(&self) -> Status {
        Status::invalid_argument(format!("the request cannot be sent as XML: {self}"))
            .with_reason(&self.code().to_ascii_uppercase())
    }

    /// A backend's XML that polygate refuses or cannot convert: an upstream fault (502) with
    /// code `INTERNAL` and the engine's reason.
    pub fn answer_status(&self, backend: &str) -> Status {
        Status::upstream_fault(
            Code::Internal,
            format!("backend '{backend}' answered with XML that cannot be used: {self}"),
        )
        .with_reason(&self.code().to_ascii_uppercase())
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;
    use crate::model::Rejection;

    #[test]
    fn xml_errors_become_400_for_requests_and_502_for_answers() {
        let error = XmlError::DoctypeForbidden { offset: 0 };
        let status = error.answer_status("orders");
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.rejection(), Some(&Rejection::UpstreamFault));
        assert_eq!(
            status.message(),
            "backend 'orders' answered with XML that cannot be used: XML document type declarations (DOCTYPE) are not allowed (at byte 0)"
        );
        assert!(status.details()[0]
            .get()
            .contains(r#""reason":"XML_DOCTYPE_FORBIDDEN""#));
        let status = XmlError::Json("expected value at line 1 column 1".into()).request_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.details()[0]
            .get()
            .contains(r#""reason":"JSON_NOT_CONVERTIBLE""#));
    }
}
