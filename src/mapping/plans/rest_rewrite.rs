//! REST rewrites, declared in a `rest:` target: the query string sent upstream (parameters
//! renamed, added from static text or path variables, dropped) and members set in the JSON body
//! (a path variable becoming a body field). Compiled once at load; applied per request.

use std::borrow::Cow;

use bytes::Bytes;
use percent_encoding::utf8_percent_encode;
use serde_json::{Map, Value};

use super::query::form_decode;
use super::upstream_path::QUERY;
use crate::mapping::captures::Capture;
use crate::mapping::route::{Route, RoutePattern};
use crate::mapping::source::{BodyValueConfig, QueryRewriteConfig};
use crate::model::Status;

/// Text with `{variable}` placeholders.
#[derive(Debug, Clone)]
struct TextTemplate(Vec<Piece>);

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Variable(usize),
}

impl TextTemplate {
    fn compile(text: &str, pattern: &RoutePattern, what: &str) -> Result<Self, String> {
        let variables = pattern.variables();
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let (literal, after) = rest.split_at(open);
            let close = after
                .find('}')
                .ok_or_else(|| format!("{what} '{text}': '{{' without '}}'"))?;
            let name = after.get(1..close).unwrap_or_default().trim();
            let index = variables
                .iter()
                .position(|v| v.field_path.to_string() == name)
                .ok_or_else(|| {
                    format!(
                        "{what} '{text}': {{{name}}} is not a variable of the route's path {}",
                        pattern.address()
                    )
                })?;
            if !literal.is_empty() {
                pieces.push(Piece::Literal(literal.to_owned()));
            }
            pieces.push(Piece::Variable(index));
            rest = after.get(close + 1..).unwrap_or_default();
        }
        if rest.contains('}') {
            return Err(format!("{what} '{text}': '}}' without '{{'"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        Ok(Self(pieces))
    }

    fn render(&self, captures: &[Capture<'_, '_>]) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Variable(index) => {
                    out.push_str(captures.get(*index).map_or("", |c| c.value.as_ref()));
                }
            }
        }
        out
    }
}

/// A value `set_body` writes.
#[derive(Debug, Clone)]
enum BodyValue {
    Static(Value),
    Text(TextTemplate),
}

/// The compiled rewrites of one `rest:` route.
#[derive(Debug, Clone, Default)]
pub(crate) struct RestRewrites {
    rename: Vec<(String, String)>,
    add: Vec<(String, TextTemplate)>,
    drop: Vec<String>,
    body: Vec<(Vec<String>, BodyValue)>,
}

impl RestRewrites {
    /// Compiles the `query` and `set_body` settings against the route's variables.
    pub(crate) fn compile(
        query: Option<&QueryRewriteConfig>,
        set_body: &std::collections::BTreeMap<String, BodyValueConfig>,
        pattern: &RoutePattern,
    ) -> Result<Self, String> {
        let mut rewrites = Self::default();
        if let Some(query) = query {
            for (from, to) in &query.rename {
                if from.is_empty() || to.is_empty() {
                    return Err("query.rename: parameter names must not be empty".into());
                }
                rewrites.rename.push((from.clone(), to.clone()));
            }
            for (name, value) in &query.add {
                if name.is_empty() {
                    return Err("query.add: parameter names must not be empty".into());
                }
                let template = TextTemplate::compile(value, pattern, &format!("query.add.{name}"))?;
                rewrites.add.push((name.clone(), template));
            }
            rewrites.drop.clone_from(&query.drop);
        }
        for (path, value) in set_body {
            let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err(format!("set_body: '{path}' is not a dotted member path"));
            }
            let value = match value {
                BodyValueConfig::Bool(b) => BodyValue::Static(Value::Bool(*b)),
                BodyValueConfig::Int(i) => BodyValue::Static(Value::from(*i)),
                BodyValueConfig::Text(text) => BodyValue::Text(TextTemplate::compile(
                    text,
                    pattern,
                    &format!("set_body.{path}"),
                )?),
            };
            rewrites.body.push((segments, value));
        }
        Ok(rewrites)
    }

    /// Whether the route sets body members.
    pub(crate) fn sets_body(&self) -> bool {
        !self.body.is_empty()
    }

    /// The query string sent upstream: the client's (when forwarded) with parameters dropped
    /// and renamed, then the added ones. `None` when nothing is left.
    pub(crate) fn query<'q>(
        &self,
        client: Option<&'q str>,
        captures: &[Capture<'_, '_>],
    ) -> Result<Option<Cow<'q, str>>, Status> {
        if self.rename.is_empty() && self.add.is_empty() && self.drop.is_empty() {
            return Ok(client.map(Cow::Borrowed));
        }
        let mut out = String::with_capacity(client.map_or(0, str::len) + 32);
        for pair in client
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (raw_key, raw_value) = match pair.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (pair, None),
            };
            let key = form_decode(raw_key)?;
            if self.drop.iter().any(|d| *d == key) {
                continue;
            }
            if !out.is_empty() {
                out.push('&');
            }
            match self.rename.iter().find(|(from, _)| *from == key) {
                Some((_, to)) => out.extend(utf8_percent_encode(to, QUERY)),
                None => out.push_str(raw_key),
            }
            if let Some(value) = raw_value {
                out.push('=');
                out.push_str(value);
            }
        }
        for (name, template) in &self.add {
            if !out.is_empty() {
                out.push('&');
            }
            out.extend(utf8_percent_encode(name, QUERY));
            out.push('=');
            out.extend(utf8_percent_encode(&template.render(captures), QUERY));
        }
        Ok((!out.is_empty()).then_some(Cow::Owned(out)))
    }

    /// The JSON body with the route's members set (an empty body is `{}`); the body must be an
    /// object.
    pub(crate) fn body(
        &self,
        route: &Route,
        json: &[u8],
        captures: &[Capture<'_, '_>],
    ) -> Result<Bytes, Status> {
        let mut object = if json.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(json) {
                Ok(Value::Object(object)) => object,
                Ok(_) => {
                    return Err(Status::invalid_argument(format!(
                        "{} sets members of the body, so the body must be a JSON object",
                        route.pattern
                    )))
                }
                Err(e) => return Err(Status::invalid_argument(format!("invalid JSON body: {e}"))),
            }
        };
        for (path, value) in &self.body {
            let value = match value {
                BodyValue::Static(value) => value.clone(),
                BodyValue::Text(template) => Value::String(template.render(captures)),
            };
            set_member(&mut object, path, value).map_err(|parent| {
                Status::invalid_argument(format!(
                    "body member '{parent}' is not an object, so '{}' cannot be set inside it",
                    path.join(".")
                ))
            })?;
        }
        serde_json::to_vec(&Value::Object(object))
            .map(Bytes::from)
            .map_err(|e| Status::internal(format!("the body cannot be written: {e}")))
    }
}

/// Sets `value` at `path`, creating objects on the way; the path of a member in the way that
/// is not an object is the error.
fn set_member(
    object: &mut Map<String, Value>,
    path: &[String],
    value: Value,
) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut current = object;
    for (i, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        current = match entry {
            Value::Object(inner) => inner,
            _ => return Err(path[..=i].join(".")),
        };
    }
    current.insert(last.clone(), value);
    Ok(())
}
