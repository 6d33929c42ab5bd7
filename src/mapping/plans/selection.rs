//! JSON-to-JSON selection of an answer: one value at a slash-separated path (`data/user`,
//! `items/0`), or an object of several picked values; values are copied as raw text, never
//! re-encoded.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::model::{Code, Payload, Status};

/// What of the JSON answer a route returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// The whole answer.
    Whole,
    /// The value at this path (`null` when absent).
    Path(Vec<String>),
    /// An object of output key → the value at a path (absent values are left out).
    Fields(Vec<(String, Vec<String>)>),
}

impl Selection {
    /// The selection of `response_body` / `response_fields`.
    pub(crate) fn new(
        response_body: &str,
        response_fields: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        if !response_body.is_empty() {
            return Ok(Selection::Path(split(response_body, "response_body")?));
        }
        if response_fields.is_empty() {
            return Ok(Selection::Whole);
        }
        let fields = response_fields
            .iter()
            .map(|(key, path)| Ok((key.clone(), split(path, &format!("response_fields.{key}"))?)))
            .collect::<Result<_, String>>()?;
        Ok(Selection::Fields(fields))
    }

    /// Whether the whole answer is returned.
    pub(crate) fn is_whole(&self) -> bool {
        *self == Selection::Whole
    }

    /// The client's answer: `json` from `backend`, with the selection applied.
    pub(crate) fn answer(&self, json: Bytes, backend: &str) -> Result<Payload, Status> {
        match self.apply(&json) {
            Ok(None) => Ok(Payload::Json(json)),
            Ok(Some(selected)) => Ok(Payload::Json(Bytes::from(selected))),
            Err(e) => Err(Status::upstream_fault(
                Code::Internal,
                format!("backend '{backend}': {e}"),
            )
            .with_reason("UPSTREAM_NOT_JSON")),
        }
    }

    /// Applies the selection to a JSON answer; `None` means the answer is kept as it is.
    pub(crate) fn apply(&self, json: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self {
            Selection::Whole => Ok(None),
            Selection::Path(path) => {
                let root: &RawValue = parse(json)?;
                Ok(Some(match find(root, path)? {
                    Some(value) => value.get().as_bytes().to_vec(),
                    None => b"null".to_vec(),
                }))
            }
            Selection::Fields(fields) => {
                let root: &RawValue = parse(json)?;
                let mut out = Vec::with_capacity(json.len().min(4096));
                out.push(b'{');
                let mut first = true;
                for (key, path) in fields {
                    if let Some(value) = find(root, path)? {
                        if !std::mem::replace(&mut first, false) {
                            out.push(b',');
                        }
                        serde_json::to_writer(&mut out, key).map_err(|e| e.to_string())?;
                        out.push(b':');
                        out.extend_from_slice(value.get().as_bytes());
                    }
                }
                out.push(b'}');
                Ok(Some(out))
            }
        }
    }
}

fn split(path: &str, what: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
    if segments.iter().any(String::is_empty) {
        return Err(format!(
            "{what} '{path}' has an empty segment (write a/b/c)"
        ));
    }
    Ok(segments)
}

fn parse(json: &[u8]) -> Result<&RawValue, String> {
    serde_json::from_slice(json).map_err(|e| format!("the answer is not valid JSON: {e}"))
}

/// The value at `path`: object members by key, array items by index.
fn find<'a>(root: &'a RawValue, path: &[String]) -> Result<Option<&'a RawValue>, String> {
    let mut current = root;
    for segment in path {
        let text = current.get();
        let next = if text.starts_with('{') {
            let members: BTreeMap<String, &RawValue> =
                serde_json::from_str(text).map_err(|e| e.to_string())?;
            members.get(segment.as_str()).copied()
        } else if text.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
            segment
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).copied())
        } else {
            None
        };
        match next {
            Some(value) => current = value,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pick_one_value_and_fields_build_an_object() {
        let json =
            br#"{"data":{"user":{"uid":7,"profile":{"name":"Ann"}},"items":[{"n":1},{"n":2}]}}"#;
        let path = Selection::new("data/user/profile", &BTreeMap::new()).unwrap();
        assert_eq!(path.apply(json).unwrap().unwrap(), br#"{"name":"Ann"}"#);
        let item = Selection::new("data/items/1/n", &BTreeMap::new()).unwrap();
        assert_eq!(item.apply(json).unwrap().unwrap(), b"2");
        let missing = Selection::new("data/nothing", &BTreeMap::new()).unwrap();
        assert_eq!(missing.apply(json).unwrap().unwrap(), b"null");
        let fields: BTreeMap<String, String> = [
            ("id".to_owned(), "data/user/uid".to_owned()),
            ("name".to_owned(), "data/user/profile/name".to_owned()),
            ("zip".to_owned(), "data/user/zip".to_owned()),
        ]
        .into();
        let fields = Selection::new("", &fields).unwrap();
        assert_eq!(
            fields.apply(json).unwrap().unwrap(),
            br#"{"id":7,"name":"Ann"}"#
        );
        assert_eq!(
            Selection::new("", &BTreeMap::new())
                .unwrap()
                .apply(json)
                .unwrap(),
            None
        );
    }

    #[test]
    fn bad_paths_and_bad_answers_are_errors() {
        assert_eq!(
            Selection::new("a//b", &BTreeMap::new()).unwrap_err(),
            "response_body 'a//b' has an empty segment (write a/b/c)"
        );
        let path = Selection::new("a", &BTreeMap::new()).unwrap();
        assert!(path
            .apply(b"{oops")
            .unwrap_err()
            .starts_with("the answer is not valid JSON"));
    }
}
