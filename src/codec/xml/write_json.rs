//! JSON → XML helpers: borrowing one object's members or one array's items as raw JSON slices
//! (no value tree), and XML escaping.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::mapping::NsRef;

/// What a JSON key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// `@name`: an attribute.
    Attribute,
    /// `#text`: the element's text.
    Text,
    /// Anything else: a child element.
    Element,
}

/// One member of the JSON object being written.
pub(super) struct Member<'de> {
    pub(super) key: Cow<'de, str>,
    pub(super) value: &'de RawValue,
    pub(super) kind: KeyKind,
    pub(super) ns: NsRef,
    /// Byte index of the local name in `key`.
    pub(super) local_at: usize,
    /// Already written (schema order pass).
    pub(super) placed: bool,
}

impl Member<'_> {
    /// The local name (after `@` and the prefix).
    pub(super) fn local(&self) -> &str {
        self.key.get(self.local_at..).unwrap_or_default()
    }
}

/// Appends the members of a JSON object to a vector, borrowing values as raw slices.
pub(super) struct MembersSeed<'a, 'de>(pub(super) &'a mut Vec<Member<'de>>);

impl<'de> DeserializeSeed<'de> for MembersSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(KeyCow(key)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            self.0.push(Member {
                key,
                value,
                kind: KeyKind::Element,
                ns: NsRef::Unprefixed,
                local_at: 0,
                placed: false,
            });
        }
        Ok(())
    }
}

/// A JSON key, borrowed unless it contains escapes.
struct KeyCow<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for KeyCow<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyCow<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(KeyCow(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(KeyCow(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(KeyCow(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Appends the items of a JSON array to a vector as raw slices.
pub(super) struct ItemsSeed<'a, 'de>(pub(super) &'a mut Vec<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            self.0.push(item);
        }
        Ok(())
    }
}

/// Runs a seed over one raw JSON value.
pub(super) fn parse_into<'de, S: DeserializeSeed<'de, Value = ()>>(
    raw: &'de RawValue,
    seed: S,
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    seed.deserialize(&mut deserializer)
}

/// The kind of a raw JSON value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RawKind {
    Object,
    Array,
    String,
    Null,
    /// Numbers and booleans: their JSON text is their XML text.
    Literal,
}

/// The kind of a raw value and its text (serde_json captures raw values without surrounding
/// whitespace).
pub(super) fn classify(raw: &RawValue) -> (RawKind, &str) {
    let text = raw.get();
    let kind = match text.as_bytes().first() {
        Some(b'{') => RawKind::Object,
        Some(b'[') => RawKind::Array,
        Some(b'"') => RawKind::String,
        Some(b'n') => RawKind::Null,
        _ => RawKind::Literal,
    };
    (kind, text)
}

/// Whether a raw array is `[]`.
pub(super) fn is_empty_array(text: &str) -> bool {
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|inner| inner.trim_matches([' ', '\t', '\r', '\n']).is_empty())
}

/// The content of a raw JSON string: borrowed when it has no escapes.
pub(super) fn string_content(text: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Ok(Cow::Borrowed(inner)),
        _ => serde_json::from_str::<String>(text).map(Cow::Owned),
    }
}

/// Appends text escaped for element content.
pub(super) fn escape_text(out: &mut Vec<u8>, text: &str) {
    escape(out, text, false);
}

/// Appends text escaped for a double-quoted attribute value (whitespace kept as references so
/// attribute normalisation does not change it).
pub(super) fn escape_attribute(out: &mut Vec<u8>, text: &str) {
    escape(out, text, true);
}

fn escape(out: &mut Vec<u8>, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let replacement: &[u8] = match byte {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\r' => b"&#13;",
            b'"' if attribute => b"&quot;",
            b'\n' if attribute => b"&#10;",
            b'\t' if attribute => b"&#9;",
            _ => continue,
        };
        if let Some(run) = bytes.get(run_start..index) {
            out.extend_from_slice(run);
        }
        out.extend_from_slice(replacement);
        run_start = index + 1;
    }
    if let Some(run) = bytes.get(run_start..) {
        out.extend_from_slice(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_text(&mut out, "a<b>&c\"'\r\n]]>");
        assert_eq!(out, b"a&lt;b&gt;&amp;c\"'&#13;\n]]&gt;");
        out.clear();
        escape_attribute(&mut out, "\"<&\t\n");
        assert_eq!(out, b"&quot;&lt;&amp;&#9;&#10;");
    }

    #[test]
    fn raw_helpers() {
        assert!(is_empty_array("[ ]"));
        assert!(!is_empty_array("[1]"));
        assert_eq!(string_content("\"abc\"").unwrap(), "abc");
        assert_eq!(string_content("\"a\\u0041\"").unwrap(), "aA");
        assert!(string_content("\"\\ud800\"").is_err());
    }
}
