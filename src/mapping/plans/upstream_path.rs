//! Upstream path templates of XML and REST routes: `/api/users.php?uid={id}` rewritten from the
//! route's path variables, each value percent-encoded for where it lands (path or query).

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::mapping::matcher::Capture;
use crate::mapping::route::RoutePattern;

/// Escaped in a value that fills one path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'/')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// Escaped in a value that fills several segments (`{path=**}`): its `/` are separators, and
/// the `%2F` the matcher kept encoded stays as it is.
const SEGMENTS: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// Escaped in a query component.
pub(crate) const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'=')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Variable {
        index: usize,
        in_query: bool,
        multi: bool,
    },
}

/// A compiled upstream path template.
#[derive(Debug, Clone)]
pub(crate) struct TargetPath {
    pieces: Vec<Piece>,
    text: String,
}

impl TargetPath {
    /// Compiles `text` against the route's pattern: every `{name}` must be one of its
    /// variables.
    pub(crate) fn compile(text: &str, route: &RoutePattern) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(format!("path '{text}' must start with '/'"));
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut in_query = false;
        let mut sample = String::with_capacity(text.len());
        while let Some(open) = rest.find('{') {
            let (literal, after) = rest.split_at(open);
            let close = after
                .find('}')
                .ok_or_else(|| format!("path '{text}': '{{' without '}}'"))?;
            let name = after.get(1..close).unwrap_or_default().trim();
            let variables = route.variables();
            let index = variables
                .iter()
                .position(|v| v.field_path.to_string() == name)
                .ok_or_else(|| {
                    let known: Vec<String> = variables.iter().map(|v| v.field_path.to_string()).collect();
                    format!(
                        "path '{text}': {{{name}}} is not a variable of the route's {} {} (its variables: {})",
                        if matches!(route, RoutePattern::Topic(_)) { "topic" } else { "path" },
                        route.address(),
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    )
                })?;
            in_query |= literal.contains('?');
            sample.push_str(literal);
            sample.push('x');
            pieces.push(Piece::Literal(literal.to_owned()));
            let multi = variables.get(index).is_some_and(|v| !v.single);
            pieces.push(Piece::Variable {
                index,
                in_query,
                multi,
            });
            rest = after.get(close + 1..).unwrap_or_default();
        }
        if rest.contains('}') {
            return Err(format!("path '{text}': '}}' without '{{'"));
        }
        sample.push_str(rest);
        pieces.push(Piece::Literal(rest.to_owned()));
        sample
            .parse::<http::uri::PathAndQuery>()
            .map_err(|e| format!("path '{text}' is not a valid path and query: {e}"))?;
        Ok(Self {
            pieces,
            text: text.to_owned(),
        })
    }

    /// The template as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The upstream path and query for a request's path variables, with the client's query
    /// appended when `client_query` is given.
    pub(crate) fn render(&self, path: &[Capture<'_, '_>], client_query: Option<&str>) -> String {
        let mut out = String::with_capacity(self.text.len() + 32);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Variable {
                    index,
                    in_query,
                    multi,
                } => {
                    let value = path.get(*index).map_or("", |b| b.value.as_ref());
                    let set = match (in_query, multi) {
                        (true, _) => QUERY,
                        (false, true) => SEGMENTS,
                        (false, false) => SEGMENT,
                    };
                    out.extend(utf8_percent_encode(value, set));
                }
            }
        }
        if let Some(query) = client_query.filter(|q| !q.is_empty()) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(query);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::mapping::template::PathTemplate;

    fn http(template: PathTemplate) -> RoutePattern {
        RoutePattern::Http {
            method: http::Method::GET,
            template,
        }
    }

    #[test]
    fn variables_are_encoded_for_the_path_or_the_query() {
        let template = PathTemplate::parse("/v1/users/{id}/files/{name=**}").unwrap();
        let variables = template.variables().to_vec();
        let route = http(template);
        let target = TargetPath::compile("/api/{name}/users.php?uid={id}", &route).unwrap();
        let bindings = [
            Capture {
                field_path: &variables[0].field_path,
                value: Cow::Borrowed("a&b c/d"),
            },
            Capture {
                field_path: &variables[1].field_path,
                value: Cow::Borrowed("x y/z%2Fq"),
            },
        ];
        assert_eq!(
            target.render(&bindings, Some("verbose=1")),
            "/api/x%20y/z%2Fq/users.php?uid=a%26b%20c/d&verbose=1"
        );
        let single = TargetPath::compile("/u/{id}", &route).unwrap();
        assert_eq!(single.render(&bindings, None), "/u/a&b%20c%2Fd");
    }

    #[test]
    fn unknown_variables_and_bad_paths_are_refused() {
        let route = http(PathTemplate::parse("/v1/users/{id}").unwrap());
        assert_eq!(
            TargetPath::compile("/api/{uid}", &route).unwrap_err(),
            "path '/api/{uid}': {uid} is not a variable of the route's path /v1/users/{id} (its variables: id)"
        );
        assert_eq!(
            TargetPath::compile("api", &route).unwrap_err(),
            "path 'api' must start with '/'"
        );
        assert!(TargetPath::compile("/a b", &route).is_err());
    }
}
