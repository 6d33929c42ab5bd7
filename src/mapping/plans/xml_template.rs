//! XML request templates: literal XML with `{{path}}` placeholders filled from the request
//! object (body members, path variables, query parameters), each value checked and escaped.
//!
//! `{{a/b}}` is the value at that slash-separated path of the request object; `{{a/b?}}` may be
//! absent (it then writes nothing). Values must be strings, numbers or booleans. Templates are
//! checked at load: with every placeholder filled, they must be well-formed XML (one or more
//! elements, every prefix declared inside the template).

use serde_json::Value;

use crate::codec::xml::walk::Walker;
use crate::model::Status;

/// Nesting limit used when a template is checked.
const TEMPLATE_DEPTH: usize = 64;

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Value { path: Vec<String>, optional: bool },
}

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct XmlTemplate {
    pieces: Vec<Piece>,
}

impl XmlTemplate {
    /// Compiles and checks a template.
    pub(crate) fn compile(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let (literal, after) = rest.split_at(open);
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "template: '{{{{' at byte {} has no '}}}}'",
                    text.len() - rest.len() + open
                )
            })?;
            let name = after.get(2..close).unwrap_or_default().trim();
            let (name, optional) = match name.strip_suffix('?') {
                Some(name) => (name.trim_end(), true),
                None => (name, false),
            };
            let path: Vec<String> = name.split('/').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                return Err(format!(
                    "template: placeholder {{{{{name}}}}} has an empty path segment"
                ));
            }
            pieces.push(Piece::Text(literal.to_owned()));
            pieces.push(Piece::Value { path, optional });
            rest = after.get(close + 2..).unwrap_or_default();
        }
        pieces.push(Piece::Text(rest.to_owned()));
        let template = Self { pieces };
        template.check()?;
        Ok(template)
    }

    /// Renders the template with the values of `object`.
    pub(crate) fn render(&self, object: &Value, out: &mut Vec<u8>) -> Result<(), Status> {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
                Piece::Value { path, optional } => {
                    let value = path.iter().try_fold(object, |value, key| value.get(key));
                    let name = path.join("/");
                    match value {
                        None | Some(Value::Null) if *optional => {}
                        None | Some(Value::Null) => {
                            return Err(Status::invalid_argument(format!(
                                "the request has no value for '{name}', which this route needs"
                            )))
                        }
                        Some(Value::String(text)) => escape(out, text, &name)?,
                        Some(Value::Number(number)) => out.extend_from_slice(number.to_string().as_bytes()),
                        Some(Value::Bool(flag)) => out.extend_from_slice(if *flag { b"true" } else { b"false" }),
                        Some(_) => {
                            return Err(Status::invalid_argument(format!(
                                "'{name}' must be a string, number or boolean for this route, not an object or array"
                            )))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Fills every placeholder with `0` and walks the result as a document.
    fn check(&self) -> Result<(), String> {
        let mut sample = String::from("<polygate-template>");
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => sample.push_str(strip_declaration(text)),
                Piece::Value { .. } => sample.push('0'),
            }
        }
        sample.push_str("</polygate-template>");
        let mut walker = Walker::new(&sample, TEMPLATE_DEPTH);
        walker
            .finish()
            .map_err(|e| format!("template is not well-formed XML once filled in: {e}"))
    }
}

/// The text without a leading XML declaration (allowed at the start of a document template).
fn strip_declaration(text: &str) -> &str {
    let trimmed = text.trim_start();
    match trimmed
        .strip_prefix("<?xml")
        .and_then(|rest| rest.find("?>").and_then(|end| rest.get(end + 2..)))
    {
        Some(rest) if trimmed.starts_with("<?xml ") => rest,
        _ => text,
    }
}

/// Appends `text` escaped for element content and attribute values; refuses characters XML
/// 1.0 does not allow.
fn escape(out: &mut Vec<u8>, text: &str, name: &str) -> Result<(), Status> {
    for c in text.chars() {
        match c {
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '&' => out.extend_from_slice(b"&amp;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&apos;"),
            '\t' | '\n' | '\r' => out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes()),
            '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}' => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "'{name}' contains U+{:04X}, which XML 1.0 does not allow",
                    u32::from(other)
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(template: &str, object: Value) -> Result<String, String> {
        let template = XmlTemplate::compile(template)?;
        let mut out = Vec::new();
        template
            .render(&object, &mut out)
            .map_err(|s| s.message().to_owned())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn placeholders_take_escaped_values_by_path() {
        assert_eq!(
            render(
                r#"<m:Find xmlns:m="urn:m" by="{{ mode }}"><m:q>{{query/text}}</m:q><m:n>{{n}}</m:n><m:o>{{opt?}}</m:o></m:Find>"#,
                json!({"mode": "a\"b", "query": {"text": "<x> & 'y'"}, "n": 5})
            ),
            Ok(r#"<m:Find xmlns:m="urn:m" by="a&quot;b"><m:q>&lt;x&gt; &amp; &apos;y&apos;</m:q><m:n>5</m:n><m:o></m:o></m:Find>"#.into())
        );
    }

    #[test]
    fn missing_values_bad_values_and_bad_templates_are_refused() {
        assert_eq!(
            render("<a>{{b}}</a>", json!({})),
            Err("the request has no value for 'b', which this route needs".into())
        );
        assert_eq!(
            render("<a>{{b}}</a>", json!({"b": [1]})),
            Err(
                "'b' must be a string, number or boolean for this route, not an object or array"
                    .into()
            )
        );
        assert_eq!(
            render("<a>{{b}}</a>", json!({"b": "\u{1}"})),
            Err("'b' contains U+0001, which XML 1.0 does not allow".into())
        );
        assert!(XmlTemplate::compile("<a>{{b}</a>")
            .unwrap_err()
            .starts_with("template: '{{' at byte 3"));
        assert_eq!(
            XmlTemplate::compile("<m:a>x</m:a>").unwrap_err(),
            "template is not well-formed XML once filled in: namespace prefix 'm' is not declared (at byte 19)"
        );
        assert!(XmlTemplate::compile("<?xml version=\"1.0\"?>\n<a>{{b}}</a>").is_ok());
        assert!(XmlTemplate::compile("<a><b></a>").is_err());
    }
}
