//! Request router for `google.api.http` templates: a segment trie that maps (method, raw path) to a route.
//!
//! Matching rules, as polygate applies them:
//! - The path is the raw request path (still percent-encoded, no query string) and is split on raw `/` only, so
//!   `%2F` inside a segment never splits it. A trailing `/` is an empty last segment.
//! - Literal segments compare with the request segment after percent-decoding it once (`shel%76es` matches
//!   `shelves`). `*` matches one non-empty segment; `**` matches zero or more segments, empty ones included.
//! - At every segment a literal is tried before `*`, and `*` before `**`; when a branch fails deeper (path or
//!   method), the next branch is tried. A template ending at the current node wins over `**` matching nothing.
//! - Verbs: the last segment is split at a raw `:` (an encoded `%3A` is data) and the text after it, percent-decoded,
//!   must equal a route's verb. Splits are tried from the leftmost `:` (longest verb) to the rightmost, then the
//!   whole segment is tried against verbless templates, so `/v1/a:b` can still match `/v1/{id}` with `id = a:b`.
//! - A path that matches some template only under other methods gives [`MatchError::MethodNotAllowed`].
//!
//! Decoding of captured values (polygate's choice; the HttpRule spec leaves it open):
//! - A variable covering exactly one segment (`{id}`, `{id=*}`, `{name=shelves}`) is percent-decoded once, so
//!   `%2F` becomes `/`.
//! - A variable covering several segments or `**` keeps `%2F`/`%2f` encoded (a decoded `/` could not be told
//!   apart from a separator) and decodes every other escape once.
//! - Nothing is decoded twice (`%252F` gives `%2F`), `+` stays a plus, an invalid escape such as `%zz` is kept
//!   as written, and a value needing no decoding is borrowed from the path.

use http::Method;
use percent_encoding::percent_decode_str;

use crate::mapping::captures::decode_captured;
pub use crate::mapping::captures::{Capture, Captures};
use crate::mapping::template::{PathTemplate, Segment, Variable};

/// Why a route could not be added to a [`Router`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The method already has a template with the same segments, wildcards and verb.
    #[error("route {method} {template} duplicates {method} {existing}: same method and an equivalent template")]
    Duplicate {
        /// The method of both routes.
        method: Method,
        /// The template being inserted.
        template: String,
        /// The template already in the router.
        existing: String,
    },
}

/// Why a request path found no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// No template matches the path.
    #[error("no route matches the request path")]
    NotFound,
    /// Templates match the path, but only under other methods.
    #[error("method not allowed for this path; allowed: {}", join_methods(.allowed))]
    MethodNotAllowed {
        /// The methods that would match, sorted by name and deduplicated.
        allowed: Vec<Method>,
    },
    /// A captured value is not valid UTF-8 after percent-decoding.
    #[error("invalid request path: {0}")]
    InvalidPath(String),
}

fn join_methods(methods: &[Method]) -> String {
    let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    names.join(", ")
}

/// A successful lookup: the route's value and template, and the captured variables.
#[derive(Debug, Clone)]
pub struct RouteMatch<'r, 'p, T> {
    /// The value stored with the route.
    pub value: &'r T,
    /// The route's template.
    pub template: &'r PathTemplate,
    /// One binding per template variable, in the order the variables appear.
    pub bindings: Captures<'r, 'p>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Literal children sorted by their (decoded) text, for binary search.
    literals: Vec<(Box<str>, Node)>,
    wildcard: Option<Box<Node>>,
    double_wildcard: Option<Box<Node>>,
    /// Routes whose template ends here, one entry per verb.
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone)]
struct Endpoint {
    /// Index into `Router::verbs`; `None` for templates without a verb.
    verb: Option<usize>,
    /// Method and index into `Router::routes`.
    routes: Vec<(Method, usize)>,
}

#[derive(Debug, Clone)]
struct Route<T> {
    method: Method,
    template: PathTemplate,
    value: T,
}

/// Routes (method, template, value) and finds the best one for a request path without scanning them all.
#[derive(Debug, Clone)]
pub struct Router<T> {
    root: Node,
    routes: Vec<Route<T>>,
    /// Distinct verbs, decoded.
    verbs: Vec<Box<str>>,
    /// Longest raw (percent-encoded) verb text that can decode to a known verb: three bytes per decoded byte.
    longest_raw_verb: usize,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
            routes: Vec::new(),
            verbs: Vec::new(),
            longest_raw_verb: 0,
        }
    }
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the router has no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The routes in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Method, &PathTemplate, &T)> + '_ {
        self.routes
            .iter()
            .map(|route| (&route.method, &route.template, &route.value))
    }

    /// Adds a route; fails if `method` already has an equivalent template (variable names ignored).
    pub fn insert(
        &mut self,
        method: Method,
        template: PathTemplate,
        value: T,
    ) -> Result<(), InsertError> {
        let verb = template.verb().map(|verb| self.verb_id_or_insert(verb));
        let mut node = &mut self.root;
        for segment in template.segments() {
            node = match segment {
                Segment::Literal(text) => {
                    let position = match node
                        .literals
                        .binary_search_by(|(literal, _)| literal.as_ref().cmp(text.as_str()))
                    {
                        Ok(position) => position,
                        Err(position) => {
                            node.literals
                                .insert(position, (text.as_str().into(), Node::default()));
                            position
                        }
                    };
                    // `position` was just found or inserted, so it is in bounds.
                    &mut node.literals[position].1
                }
                Segment::Wildcard => node.wildcard.get_or_insert_with(Box::default),
                Segment::DoubleWildcard => node.double_wildcard.get_or_insert_with(Box::default),
            };
        }
        let route_index = self.routes.len();
        match node
            .endpoints
            .iter_mut()
            .find(|endpoint| endpoint.verb == verb)
        {
            Some(endpoint) => {
                if let Some((_, existing)) =
                    endpoint.routes.iter().find(|(known, _)| *known == method)
                {
                    let existing = self
                        .routes
                        .get(*existing)
                        .map(|route| route.template.as_str());
                    return Err(InsertError::Duplicate {
                        method,
                        template: template.as_str().to_owned(),
                        existing: existing.unwrap_or_default().to_owned(),
                    });
                }
                endpoint.routes.push((method.clone(), route_index));
            }
            None => node.endpoints.push(Endpoint {
                verb,
                routes: vec![(method.clone(), route_index)],
            }),
        }
        self.routes.push(Route {
            method,
            template,
            value,
        });
        Ok(())
    }

    fn verb_id_or_insert(&mut self, verb: &str) -> usize {
        if let Some(id) = self.verbs.iter().position(|known| known.as_ref() == verb) {
            return id;
        }
        self.verbs.push(verb.into());
        self.longest_raw_verb = self.longest_raw_verb.max(verb.len().saturating_mul(3));
        self.verbs.len() - 1
    }

    /// Finds the route for `method` and the raw request `path` (percent-encoded, without the query string).
    pub fn find<'r, 'p>(
        &'r self,
        method: &Method,
        path: &'p str,
    ) -> Result<RouteMatch<'r, 'p, T>, MatchError> {
        let Some(body) = path.strip_prefix('/') else {
            return Err(MatchError::NotFound);
        };
        let mut other_methods = false;
        let mut hit = None;
        self.for_each_split(body, |segments, verb| {
            hit = self
                .first_route(segments, verb, method, &mut other_methods)
                .map(|route| (route, segments));
            hit.is_some()
        });
        match hit {
            Some((route_index, segments)) => self.build_match(route_index, segments),
            None if other_methods => Err(MatchError::MethodNotAllowed {
                allowed: self.allowed_methods(body),
            }),
            None => Err(MatchError::NotFound),
        }
    }

    /// Calls `attempt(segments, verb)` for each verb split of the path's last segment, then for the path without a
    /// verb, until `attempt` returns true.
    fn for_each_split<'p>(
        &self,
        body: &'p str,
        mut attempt: impl FnMut(&'p str, Option<usize>) -> bool,
    ) {
        if !self.verbs.is_empty() {
            let last_segment = body.rfind('/').map_or(0, |slash| slash + 1);
            // Only a suffix no longer than the longest encoded verb can be a verb: bounds work on long segments.
            let window = body.len().saturating_sub(self.longest_raw_verb + 1);
            let first = last_segment.max(window);
            for (offset, byte) in body.bytes().enumerate().skip(first) {
                if byte != b':' {
                    continue;
                }
                let (Some(segments), Some(raw_verb)) = (body.get(..offset), body.get(offset + 1..))
                else {
                    continue;
                };
                let verb = self
                    .verbs
                    .iter()
                    .position(|known| decodes_to(raw_verb, known));
                if verb.is_some() && attempt(segments, verb) {
                    return;
                }
            }
        }
        attempt(body, None);
    }

    fn first_route(
        &self,
        segments: &str,
        verb: Option<usize>,
        method: &Method,
        other_methods: &mut bool,
    ) -> Option<usize> {
        let mut found = None;
        walk(&self.root, Some(segments), &mut |node: &Node| {
            for endpoint in node
                .endpoints
                .iter()
                .filter(|endpoint| endpoint.verb == verb)
            {
                match endpoint.routes.iter().find(|(known, _)| known == method) {
                    Some((_, route)) => {
                        found = Some(*route);
                        return true;
                    }
                    None => *other_methods = true,
                }
            }
            false
        });
        found
    }

    fn allowed_methods(&self, body: &str) -> Vec<Method> {
        let mut allowed = Vec::new();
        self.for_each_split(body, |segments, verb| {
            walk(&self.root, Some(segments), &mut |node: &Node| {
                for endpoint in node
                    .endpoints
                    .iter()
                    .filter(|endpoint| endpoint.verb == verb)
                {
                    allowed.extend(endpoint.routes.iter().map(|(method, _)| method.clone()));
                }
                false
            });
            false
        });
        allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        allowed.dedup();
        allowed
    }

    fn build_match<'r, 'p>(
        &'r self,
        route_index: usize,
        segments: &'p str,
    ) -> Result<RouteMatch<'r, 'p, T>, MatchError> {
        let route = self.routes.get(route_index).ok_or(MatchError::NotFound)?;
        let mut bindings = Captures::new();
        capture(route.template.variables(), segments, &mut bindings)?;
        Ok(RouteMatch {
            value: &route.value,
            template: &route.template,
            bindings,
        })
    }
}

/// Depth-first search in precedence order; `visit` is called on each node where the whole path is consumed and
/// returns true to stop. Recursion depth is bounded by the trie depth, which templates cap at `MAX_SEGMENTS`.
fn walk<F: FnMut(&Node) -> bool>(node: &Node, rest: Option<&str>, visit: &mut F) -> bool {
    let Some(rest) = rest else {
        return visit(node) || node.double_wildcard.as_deref().is_some_and(&mut *visit);
    };
    let (segment, next) = split_segment(rest);
    if !segment.is_empty() {
        if let Some(child) = find_literal(&node.literals, segment) {
            if walk(child, next, visit) {
                return true;
            }
        }
        if let Some(child) = node.wildcard.as_deref() {
            if walk(child, next, visit) {
                return true;
            }
        }
    }
    node.double_wildcard.as_deref().is_some_and(&mut *visit)
}

fn find_literal<'n>(literals: &'n [(Box<str>, Node)], segment: &str) -> Option<&'n Node> {
    let found = if segment.bytes().any(|b| b == b'%') {
        literals.binary_search_by(|(literal, _)| literal.bytes().cmp(percent_decode_str(segment)))
    } else {
        literals.binary_search_by(|(literal, _)| literal.as_ref().cmp(segment))
    };
    found
        .ok()
        .and_then(|index| literals.get(index))
        .map(|(_, node)| node)
}

/// The first segment of `rest` and what follows its `/`, if one does. Segments are a few bytes
/// long: a plain loop finds the `/` sooner than `str::split_once`'s searcher is set up.
fn split_segment(rest: &str) -> (&str, Option<&str>) {
    match rest.bytes().position(|b| b == b'/') {
        Some(slash) => (&rest[..slash], Some(&rest[slash + 1..])),
        None => (rest, None),
    }
}

/// Whether `raw`, percent-decoded once, equals `expected`.
fn decodes_to(raw: &str, expected: &str) -> bool {
    if raw.contains('%') {
        percent_decode_str(raw).eq(expected.bytes())
    } else {
        raw == expected
    }
}

/// Binds each variable to its span of `segments` (the path without the leading `/` and the verb).
fn capture<'r, 'p>(
    variables: &'r [Variable],
    segments: &'p str,
    bindings: &mut Captures<'r, 'p>,
) -> Result<(), MatchError> {
    let mut pending = variables.iter().peekable();
    let mut span_start = None;
    let mut offset = 0;
    let mut rest = Some(segments);
    let mut index = 0;
    while let Some(unsplit) = rest {
        let Some(variable) = pending.peek() else {
            break;
        };
        let (segment, next) = split_segment(unsplit);
        rest = next;
        let segment_start = offset;
        let segment_end = offset + segment.len();
        offset = segment_end + 1;
        if index == variable.start_segment {
            span_start = Some(segment_start);
        }
        if !variable.ends_with_double_wildcard && index + 1 == variable.end_segment {
            let start = span_start.take().unwrap_or(segment_start);
            bind(
                variable,
                segments.get(start..segment_end).unwrap_or_default(),
                bindings,
            )?;
            pending.next();
        }
        index += 1;
    }
    // Only a variable ending in `**` is left: it runs to the end, and is empty when `**` matched nothing.
    for variable in pending {
        let start = span_start.take().unwrap_or(segments.len());
        bind(
            variable,
            segments.get(start..).unwrap_or_default(),
            bindings,
        )?;
    }
    Ok(())
}

fn bind<'r, 'p>(
    variable: &'r Variable,
    raw: &'p str,
    bindings: &mut Captures<'r, 'p>,
) -> Result<(), MatchError> {
    let value = decode_captured(raw, !variable.is_single_segment()).ok_or_else(|| {
        MatchError::InvalidPath(format!(
            "path variable \"{}\" is not valid UTF-8 after percent-decoding",
            variable.field_path
        ))
    })?;
    bindings.push(Capture {
        field_path: &variable.field_path,
        value,
    });
    Ok(())
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
