//! The request object of a SOAP or XML route: the client's JSON body (whole, or under one
//! member), path variables and query parameters merged into one JSON object, written as text
//! without building a value tree (body members keep their order; path values win or are refused
//! on collision, as `body_field_collision` says).

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::value::RawValue;

use crate::mapping::captures::Capture;
use crate::mapping::options::{BodyFieldCollision, UnknownQueryParameters};
use crate::model::Status;

/// Most dot-separated segments in a query parameter name (the merge recurses per segment).
const MAX_NAME_SEGMENTS: usize = 32;

/// Where the client's body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyTarget {
    /// The route takes no body.
    None,
    /// The body is the whole request object.
    Whole,
    /// The body is the value of this member.
    Member(String),
}

impl BodyTarget {
    /// The target a route's `body` setting names: empty, `*`, or a member.
    pub(crate) fn from_setting(body: &str) -> Self {
        match body {
            "" => BodyTarget::None,
            "*" => BodyTarget::Whole,
            name => BodyTarget::Member(name.to_owned()),
        }
    }
}

/// Values from the URL, as a small tree of members in the order they were given.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    members: Vec<(String, Extra)>,
}

#[derive(Debug)]
enum Extra {
    /// One or more values (repeated query parameters become an array).
    Text(Vec<String>),
    /// Nested members (`customer.id`).
    Object(Extras),
}

impl Extras {
    /// Whether nothing was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Adds the value at the dotted `path`; `repeat` appends to an existing value (query
    /// parameters), otherwise an existing value is kept (the path's value came first and wins).
    fn add(&mut self, path: &[&str], value: String, repeat: bool) -> Result<(), String> {
        let Some((first, rest)) = path.split_first() else {
            return Ok(());
        };
        let existing = self.members.iter_mut().find(|(key, _)| key == first);
        match (existing, rest.is_empty()) {
            (None, true) => self
                .members
                .push(((*first).to_owned(), Extra::Text(vec![value]))),
            (None, false) => {
                let mut inner = Extras::default();
                inner.add(rest, value, repeat)?;
                self.members
                    .push(((*first).to_owned(), Extra::Object(inner)));
            }
            (Some((_, Extra::Text(values))), true) if repeat => values.push(value),
            (Some((_, Extra::Text(_))), true) => {}
            (Some((_, Extra::Object(inner))), false) => inner.add(rest, value, repeat)?,
            (Some(_), _) => {
                return Err(format!(
                    "'{}' is given both as a value and as an object",
                    path.join(".")
                ))
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&Extra> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Gathers path variables (dotted field paths) and, when `query_members`, the query parameters.
pub(crate) fn gather(
    variables: &[Vec<String>],
    path: &[Capture<'_, '_>],
    query: Option<&str>,
    query_members: bool,
    unknown_query: UnknownQueryParameters,
    route: &dyn std::fmt::Display,
) -> Result<Extras, Status> {
    let mut extras = Extras::default();
    for (names, binding) in variables.iter().zip(path) {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        extras
            .add(&names, binding.value.to_string(), false)
            .map_err(Status::invalid_argument)?;
    }
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = crate::mapping::plans::query::form_decode(raw_key)?;
        if !query_members {
            if unknown_query == UnknownQueryParameters::Reject {
                return Err(Status::invalid_argument(format!(
                    "unknown query parameter '{key}': {route} takes the whole request from the body"
                )));
            }
            continue;
        }
        let value = crate::mapping::plans::query::form_decode(raw_value)?;
        let names: Vec<&str> = key.split('.').collect();
        if names.len() > MAX_NAME_SEGMENTS {
            return Err(Status::invalid_argument(format!(
                "query parameter '{}…' has more than {MAX_NAME_SEGMENTS} dot-separated segments",
                key.chars().take(64).collect::<String>()
            )));
        }
        if names.iter().any(|n| n.is_empty()) {
            return Err(Status::invalid_argument(format!(
                "query parameter '{key}' has an empty name segment"
            )));
        }
        let from_path = variables
            .iter()
            .any(|v| v.iter().map(String::as_str).eq(names.iter().copied()));
        if from_path {
            continue;
        }
        extras
            .add(&names, value.into_owned(), true)
            .map_err(|e| Status::invalid_argument(format!("query parameter {e}")))?;
    }
    Ok(extras)
}

/// The request object: `body` placed as `target` says, merged with `extras`.
pub(crate) fn request_object<'b>(
    target: &BodyTarget,
    body: Option<&'b [u8]>,
    extras: &Extras,
    collision: BodyFieldCollision,
) -> Result<Cow<'b, [u8]>, Status> {
    let body = body.filter(|b| !b.is_empty());
    match (target, body) {
        (BodyTarget::None, Some(_)) => {
            Err(Status::invalid_argument("this route takes no request body"))
        }
        (BodyTarget::Whole, Some(body)) if extras.is_empty() => Ok(Cow::Borrowed(body)),
        (BodyTarget::Whole, Some(body)) => {
            let raw = parse_raw(body)?;
            let mut out = Vec::with_capacity(body.len() + 64);
            write_merged(raw, extras, collision, "", &mut out)?;
            Ok(Cow::Owned(out))
        }
        (BodyTarget::Member(name), Some(body)) => {
            let raw = parse_raw(body)?;
            if extras.get(name).is_some() && collision == BodyFieldCollision::Reject {
                return Err(collision_error(name));
            }
            let mut out = Vec::with_capacity(body.len() + 64);
            out.push(b'{');
            write_key(&mut out, name);
            out.extend_from_slice(raw.get().as_bytes());
            for (key, value) in &extras.members {
                if key != name {
                    out.push(b',');
                    write_key(&mut out, key);
                    write_extra(value, &mut out);
                }
            }
            out.push(b'}');
            Ok(Cow::Owned(out))
        }
        (_, None) => {
            let mut out = Vec::with_capacity(64);
            write_object(extras, &mut out);
            Ok(Cow::Owned(out))
        }
    }
}

fn parse_raw(body: &[u8]) -> Result<&RawValue, Status> {
    serde_json::from_slice(body)
        .map_err(|e| Status::invalid_argument(format!("invalid JSON body: {e}")))
}

fn collision_error(key: &str) -> Status {
    Status::invalid_argument(format!("'{key}' is set by both the URL and the body"))
}

/// Writes the body object `raw` with `extras` merged in (nested objects merge member by member).
fn write_merged(
    raw: &RawValue,
    extras: &Extras,
    collision: BodyFieldCollision,
    at: &str,
    out: &mut Vec<u8>,
) -> Result<(), Status> {
    let members = object_members(raw).ok_or_else(|| {
        Status::invalid_argument(format!(
            "the JSON body{} must be an object, because the URL adds members to it",
            if at.is_empty() {
                String::new()
            } else {
                format!(" at '{at}'")
            }
        ))
    })?;
    out.push(b'{');
    let mut first = true;
    let mut separator = |out: &mut Vec<u8>| {
        if !std::mem::replace(&mut first, false) {
            out.push(b',');
        }
    };
    for (key, value) in &members {
        separator(out);
        write_key(out, key);
        let place = if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        };
        match extras.get(key) {
            None => out.extend_from_slice(value.get().as_bytes()),
            Some(Extra::Object(inner)) if value.get().starts_with('{') => {
                write_merged(value, inner, collision, &place, out)?
            }
            Some(_) if collision == BodyFieldCollision::Reject => {
                return Err(collision_error(&place))
            }
            Some(extra) => write_extra(extra, out),
        }
    }
    for (key, value) in &extras.members {
        if !members.iter().any(|(k, _)| k == key) {
            separator(out);
            write_key(out, key);
            write_extra(value, out);
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_object(extras: &Extras, out: &mut Vec<u8>) {
    out.push(b'{');
    for (index, (key, value)) in extras.members.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_key(out, key);
        write_extra(value, out);
    }
    out.push(b'}');
}

fn write_extra(extra: &Extra, out: &mut Vec<u8>) {
    match extra {
        Extra::Text(values) if values.len() == 1 => {
            values.iter().for_each(|value| write_string(out, value))
        }
        Extra::Text(values) => {
            out.push(b'[');
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_string(out, value);
            }
            out.push(b']');
        }
        Extra::Object(inner) => write_object(inner, out),
    }
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    write_string(out, key);
    out.push(b':');
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The members of a JSON object, values borrowed; `None` when `raw` is not an object.
fn object_members(raw: &RawValue) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    struct MembersVisitor;
    impl<'de> Visitor<'de> for MembersVisitor {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                members.push((key, map.next_value::<&'de RawValue>()?));
            }
            Ok(members)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    deserializer.deserialize_map(MembersVisitor).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extras(pairs: &[(&str, &str)]) -> Extras {
        let mut extras = Extras::default();
        for (key, value) in pairs {
            let names: Vec<&str> = key.split('.').collect();
            extras.add(&names, (*value).to_owned(), true).unwrap();
        }
        extras
    }

    fn object(
        target: &BodyTarget,
        body: &str,
        extras: &Extras,
        collision: BodyFieldCollision,
    ) -> Result<String, String> {
        let body = (!body.is_empty()).then_some(body.as_bytes());
        request_object(target, body, extras, collision)
            .map(|b| String::from_utf8(b.into_owned()).unwrap())
            .map_err(|s| s.message().to_owned())
    }

    #[test]
    fn url_values_merge_into_the_body_keeping_its_order() {
        let url = extras(&[
            ("id", "7"),
            ("customer.zip", "01234"),
            ("tag", "a"),
            ("tag", "b"),
        ]);
        assert_eq!(
            object(
                &BodyTarget::Whole,
                r#"{"note":"x","customer":{"name":"Ann"},"id":"9"}"#,
                &url,
                BodyFieldCollision::PathWins
            ),
            Ok(
                r#"{"note":"x","customer":{"name":"Ann","zip":"01234"},"id":"7","tag":["a","b"]}"#
                    .into()
            )
        );
        assert_eq!(
            object(
                &BodyTarget::Whole,
                r#"{"id":"9"}"#,
                &url,
                BodyFieldCollision::Reject
            ),
            Err("'id' is set by both the URL and the body".into())
        );
        assert_eq!(
            object(
                &BodyTarget::Member("order".into()),
                r#"[1,2]"#,
                &extras(&[("id", "7")]),
                BodyFieldCollision::PathWins
            ),
            Ok(r#"{"order":[1,2],"id":"7"}"#.into())
        );
        assert_eq!(
            object(&BodyTarget::None, "", &url, BodyFieldCollision::PathWins),
            Ok(r#"{"id":"7","customer":{"zip":"01234"},"tag":["a","b"]}"#.into())
        );
    }

    #[test]
    fn deep_query_names_are_refused_before_recursing() {
        let deep = format!("{}=1", vec!["a"; 40].join("."));
        let error = gather(
            &[],
            &[],
            Some(&deep),
            true,
            UnknownQueryParameters::Reject,
            &"GET /x",
        )
        .unwrap_err();
        assert_eq!(
            error.message(),
            format!(
                "query parameter '{}…' has more than 32 dot-separated segments",
                &vec!["a"; 40].join(".")[..64]
            )
        );
    }

    #[test]
    fn bodies_that_cannot_take_url_values_are_refused() {
        let url = extras(&[("id", "7")]);
        assert_eq!(
            object(
                &BodyTarget::Whole,
                "[1]",
                &url,
                BodyFieldCollision::PathWins
            ),
            Err("the JSON body must be an object, because the URL adds members to it".into())
        );
        assert_eq!(
            object(&BodyTarget::None, "{}", &url, BodyFieldCollision::PathWins),
            Err("this route takes no request body".into())
        );
        assert_eq!(
            object(
                &BodyTarget::Whole,
                "[1]",
                &Extras::default(),
                BodyFieldCollision::PathWins
            ),
            Ok("[1]".into())
        );
        let mut conflicting = Extras::default();
        conflicting.add(&["a"], "1".into(), true).unwrap();
        assert_eq!(
            conflicting.add(&["a", "b"], "2".into(), true),
            Err("'a.b' is given both as a value and as an object".into())
        );
    }
}
