//! Topic templates and their router: what a route listens on when clients publish messages to
//! topics (MQTT) rather than send requests to paths.
//!
//! A template is a topic filter whose one-level wildcards may be named after a request field:
//! `devices/{device_id}/telemetry`, `plant/{site}/+/alarm`, `logs/#`. Levels are split on `/`
//! and compared exactly (topics are not percent-encoded); `+` and `{field}` match one level,
//! `#` (last only) any number of levels, none included. At each level a literal is tried before
//! a one-level wildcard, and that before `#`; the router backtracks. As MQTT requires, a topic
//! whose first level starts with `$` matches no wildcard in that level.

use std::borrow::Cow;
use std::fmt;

use super::captures::{Capture, Captures};
use super::template::FieldPath;

/// The most levels a template may have (the path templates' bound, so the walk stays shallow).
const MAX_LEVELS: usize = 64;

/// One level of a topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    /// Text the topic level must equal.
    Literal(String),
    /// `+`: any one level.
    Any,
    /// `{field}`: any one level, bound to the variable with this index.
    Variable(usize),
    /// `#`: the rest of the topic, possibly nothing; last only.
    Rest,
}

/// A parsed topic template.
#[derive(Debug, Clone)]
pub struct TopicTemplate {
    source: String,
    levels: Vec<Level>,
    variables: Vec<FieldPath>,
}

impl TopicTemplate {
    /// Parses a template, naming the problem precisely.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a topic template is empty".into());
        }
        if text.starts_with('$') {
            return Err(format!(
                "topic '{text}': topics starting with '$' are reserved to brokers ($SYS, $share)"
            ));
        }
        if text.contains('\0') {
            return Err(format!("topic '{text}' contains a NUL character"));
        }
        let count = text.split('/').count();
        if count > MAX_LEVELS {
            return Err(format!(
                "topic '{text}' has {count} levels; at most {MAX_LEVELS} are allowed"
            ));
        }
        let mut levels = Vec::with_capacity(count);
        let mut variables: Vec<FieldPath> = Vec::new();
        for (index, level) in text.split('/').enumerate() {
            let parsed = match level {
                "+" => Level::Any,
                "#" if index + 1 == count => Level::Rest,
                "#" => return Err(format!("topic '{text}': '#' must be the last level")),
                _ if level.starts_with('{') && level.ends_with('}') => {
                    let field_path = FieldPath::parse(&level[1..level.len() - 1])
                        .map_err(|e| format!("topic '{text}': {e}"))?;
                    if variables.contains(&field_path) {
                        return Err(format!(
                            "topic '{text}' binds {{{field_path}}} twice"
                        ));
                    }
                    variables.push(field_path);
                    Level::Variable(variables.len() - 1)
                }
                _ if level.contains(['+', '#', '{', '}']) => {
                    return Err(format!(
                        "topic '{text}': level '{level}' mixes text with '+', '#' or braces; a wildcard or {{variable}} must be a whole level"
                    ))
                }
                _ => Level::Literal(level.to_owned()),
            };
            levels.push(parsed);
        }
        Ok(Self {
            source: text.to_owned(),
            levels,
            variables,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The variables, in the order they appear.
    pub fn variables(&self) -> &[FieldPath] {
        &self.variables
    }

    /// The level (counted from 0) that the variable written `name` takes, if it is one.
    pub fn level_of(&self, name: &str) -> Option<usize> {
        self.levels.iter().position(
            |level| matches!(level, Level::Variable(i) if self.variables[*i].to_string() == name),
        )
    }

    /// The topic filter a client subscribes with: every variable becomes `+`.
    pub fn filter(&self) -> String {
        let mut filter = String::with_capacity(self.source.len());
        for (index, level) in self.levels.iter().enumerate() {
            if index > 0 {
                filter.push('/');
            }
            match level {
                Level::Literal(text) => filter.push_str(text),
                Level::Any | Level::Variable(_) => filter.push('+'),
                Level::Rest => filter.push('#'),
            }
        }
        filter
    }
}

impl fmt::Display for TopicTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for TopicTemplate {
    /// Templates are equal when they match the same topics, whatever their variable names.
    fn eq(&self, other: &Self) -> bool {
        self.filter() == other.filter()
    }
}

impl Eq for TopicTemplate {}

#[derive(Debug, Default)]
struct Node {
    /// Literal children sorted by text, for binary search.
    literals: Vec<(Box<str>, Node)>,
    any: Option<Box<Node>>,
    /// The route whose template ends with `#` here.
    rest: Option<usize>,
    /// The route whose template ends here.
    end: Option<usize>,
}

/// Topic templates with a value each; finds the best template for a topic without a scan.
#[derive(Debug)]
pub struct TopicRouter<T> {
    root: Node,
    routes: Vec<(TopicTemplate, T)>,
}

impl<T> Default for TopicRouter<T> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            routes: Vec::new(),
        }
    }
}

/// A topic's route and what its variables captured.
#[derive(Debug)]
pub struct TopicMatch<'r, 'p, T> {
    /// The value stored with the template.
    pub value: &'r T,
    /// The template.
    pub template: &'r TopicTemplate,
    /// One capture per variable, in template order.
    pub captures: Captures<'r, 'p>,
}

impl<T> TopicRouter<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many templates there are.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every template with its value, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicTemplate, &T)> + '_ {
        self.routes
            .iter()
            .map(|(template, value)| (template, value))
    }

    /// Adds a template; an equivalent one already present is returned as the error.
    pub fn insert(&mut self, template: TopicTemplate, value: T) -> Result<(), String> {
        let index = self.routes.len();
        let mut node = &mut self.root;
        for level in &template.levels {
            node = match level {
                Level::Literal(text) => {
                    let at = match node
                        .literals
                        .binary_search_by(|(known, _)| known.as_ref().cmp(text))
                    {
                        Ok(at) => at,
                        Err(at) => {
                            node.literals
                                .insert(at, (text.as_str().into(), Node::default()));
                            at
                        }
                    };
                    &mut node.literals[at].1
                }
                Level::Any | Level::Variable(_) => node.any.get_or_insert_with(Box::default),
                Level::Rest => {
                    if let Some(existing) = node.rest {
                        return Err(self.routes[existing].0.source.clone());
                    }
                    node.rest = Some(index);
                    self.routes.push((template, value));
                    return Ok(());
                }
            };
        }
        if let Some(existing) = node.end {
            return Err(self.routes[existing].0.source.clone());
        }
        node.end = Some(index);
        self.routes.push((template, value));
        Ok(())
    }

    /// The route for `topic`, if any template matches it.
    pub fn find<'r, 'p>(&'r self, topic: &'p str) -> Option<TopicMatch<'r, 'p, T>> {
        let system = topic.starts_with('$');
        let index = walk(&self.root, Some(topic), system)?;
        let (template, value) = self.routes.get(index)?;
        let mut captures = Captures::new();
        for (level, text) in template.levels.iter().zip(topic.split('/')) {
            if let Level::Variable(variable) = level {
                captures.push(Capture {
                    field_path: &template.variables[*variable],
                    value: Cow::Borrowed(text),
                });
            }
        }
        Some(TopicMatch {
            value,
            template,
            captures,
        })
    }
}

/// Depth-first in precedence order: literal, one-level wildcard, then `#`; `rest` is what is
/// left of the topic (`None` once every level was consumed).
fn walk(node: &Node, rest: Option<&str>, system: bool) -> Option<usize> {
    let Some(rest) = rest else {
        return node.end.or(node.rest);
    };
    let (level, rest) = match rest.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (rest, None),
    };
    if let Ok(at) = node
        .literals
        .binary_search_by(|(known, _)| known.as_ref().cmp(level))
    {
        if let Some(found) = walk(&node.literals[at].1, rest, false) {
            return Some(found);
        }
    }
    if system {
        return None;
    }
    if let Some(found) = node.any.as_deref().and_then(|any| walk(any, rest, false)) {
        return Some(found);
    }
    node.rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(templates: &[&str]) -> TopicRouter<usize> {
        let mut router = TopicRouter::new();
        for (index, template) in templates.iter().enumerate() {
            router
                .insert(TopicTemplate::parse(template).unwrap(), index)
                .unwrap();
        }
        router
    }

    fn find(router: &TopicRouter<usize>, topic: &str) -> Option<(usize, Vec<(String, String)>)> {
        router.find(topic).map(|m| {
            let captures = m
                .captures
                .iter()
                .map(|c| (c.field_path.to_string(), c.value.to_string()))
                .collect();
            (*m.value, captures)
        })
    }

    #[test]
    fn variables_capture_one_level_each_and_filters_name_them_plus() {
        let template = TopicTemplate::parse("plant/{site}/+/alarm/{device.id}").unwrap();
        assert_eq!(template.filter(), "plant/+/+/alarm/+");
        let router = router(&["plant/{site}/+/alarm/{device.id}"]);
        assert_eq!(
            find(&router, "plant/berlin/line-3/alarm/d-7"),
            Some((
                0,
                vec![
                    ("site".into(), "berlin".into()),
                    ("device.id".into(), "d-7".into())
                ]
            ))
        );
        assert_eq!(find(&router, "plant/berlin/line-3/alarm"), None);
        assert_eq!(find(&router, "plant/berlin/line-3/alarm/d-7/x"), None);
    }

    #[test]
    fn literals_beat_wildcards_beat_rest_with_backtracking() {
        let router = router(&["a/b/c", "a/+/c", "a/#", "a/b/{x}/d"]);
        assert_eq!(find(&router, "a/b/c").unwrap().0, 0);
        assert_eq!(find(&router, "a/z/c").unwrap().0, 1);
        assert_eq!(find(&router, "a/b/q").unwrap().0, 2);
        assert_eq!(
            find(&router, "a").unwrap().0,
            2,
            "# matches the parent level too"
        );
        assert_eq!(find(&router, "a/b/q/d").unwrap().0, 3);
        assert_eq!(find(&router, "b"), None);
    }

    #[test]
    fn levels_compare_exactly_and_empty_levels_count() {
        let router = router(&["a/{x}/b"]);
        assert_eq!(
            find(&router, "a//b").unwrap().1,
            vec![("x".into(), "".into())]
        );
        assert_eq!(
            find(&router, "a/%2F/b").unwrap().1,
            vec![("x".into(), "%2F".into())]
        );
        assert_eq!(find(&router, "A/x/b"), None);
    }

    #[test]
    fn system_topics_match_no_wildcard_in_their_first_level() {
        let router = router(&["#", "+/status"]);
        assert_eq!(find(&router, "$SYS/status"), None);
        assert_eq!(find(&router, "devices/status").unwrap().0, 1);
    }

    #[test]
    fn equivalent_templates_are_refused() {
        let mut router = router(&["devices/{id}/telemetry"]);
        assert_eq!(
            router.insert(TopicTemplate::parse("devices/+/telemetry").unwrap(), 9),
            Err("devices/{id}/telemetry".into())
        );
    }

    #[test]
    fn bad_templates_say_why() {
        let error = |text: &str| TopicTemplate::parse(text).unwrap_err();
        assert_eq!(error(""), "a topic template is empty");
        assert_eq!(error("a/#/b"), "topic 'a/#/b': '#' must be the last level");
        assert_eq!(
            error("a/x+"),
            "topic 'a/x+': level 'x+' mixes text with '+', '#' or braces; a wildcard or {variable} must be a whole level"
        );
        assert_eq!(error("a/{id}/{id}"), "topic 'a/{id}/{id}' binds {id} twice");
        assert_eq!(
            error("$share/g/a"),
            "topic '$share/g/a': topics starting with '$' are reserved to brokers ($SYS, $share)"
        );
        assert_eq!(
            error("a/{1x}"),
            "topic 'a/{1x}': field path '1x': a field name must start with a letter or '_'"
        );
    }
}
