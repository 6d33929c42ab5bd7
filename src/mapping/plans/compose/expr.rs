//! Values of a composed route: paths into the client's request, an earlier step's answer or
//! the current array element (`{request.sku}`, `{item.sku}`, `{each}`), and the request
//! templates built from them, JSON types kept.

use serde_json::{Map, Value};

/// What a path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// The client's request object.
    Request,
    /// The answer of the step at this index.
    Step(usize),
    /// The element of `for_each:` (or the whole array of `collect:`).
    Each,
}

/// A path: a root and the members below it; a member of an array is taken from each element.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub(crate) root: Root,
    pub(crate) members: Vec<String>,
    /// As written, for error messages.
    pub(crate) text: String,
}

/// The values a path can reach while a composed call runs.
pub(crate) struct Scope<'a> {
    pub(crate) request: &'a Value,
    pub(crate) answers: &'a [Option<Value>],
    pub(crate) each: Option<&'a Value>,
}

impl Expr {
    /// Parses `text` (without braces); `steps` are the step names, `each` whether `{each}` is
    /// bound.
    pub(crate) fn parse(text: &str, steps: &[&str], each: bool) -> Result<Self, String> {
        let text = text.trim();
        let mut parts = text.split('.');
        let first = parts.next().unwrap_or_default();
        let members: Vec<String> = parts.map(str::to_owned).collect();
        if members.iter().any(String::is_empty) || first.is_empty() {
            return Err(format!("{{{text}}} is not a path"));
        }
        let root = match first {
            "request" => Root::Request,
            "each" if each => Root::Each,
            "each" => {
                return Err(format!(
                    "{{{text}}}: each is bound only in a step with for_each: or collect:"
                ))
            }
            name => match steps.iter().position(|s| *s == name) {
                Some(index) => Root::Step(index),
                None => {
                    return Err(format!(
                        "{{{text}}} names no step '{name}' (steps: {}; the client's request is {{request.…}})",
                        steps.join(", ")
                    ))
                }
            },
        };
        Ok(Self {
            root,
            members,
            text: text.to_owned(),
        })
    }

    /// The value at the path; `None` when it is missing or null.
    pub(crate) fn resolve(&self, scope: &Scope<'_>) -> Option<Value> {
        let start = match self.root {
            Root::Request => Some(scope.request),
            Root::Step(index) => scope.answers.get(index).and_then(Option::as_ref),
            Root::Each => scope.each,
        }?;
        let value = descend(start, &self.members)?;
        (!value.is_null()).then_some(value)
    }
}

fn descend(value: &Value, members: &[String]) -> Option<Value> {
    let Some((first, rest)) = members.split_first() else {
        return Some(value.clone());
    };
    match value {
        Value::Object(map) => descend(map.get(first)?, rest),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|item| match item {
                    Value::Object(map) => map.get(first).and_then(|v| descend(v, rest)),
                    _ => None,
                })
                .filter(|v| !v.is_null())
                .collect(),
        )),
        _ => None,
    }
}

/// A value as text in a URL or a string: strings as they are, numbers and booleans as JSON
/// writes them; `None` for arrays and objects.
pub(crate) fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A step's request object, compiled.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// A literal.
    Literal(Value),
    /// `"{path}"`: the value, its JSON type kept.
    Value(Expr),
    /// Text with placeholders.
    Text(Vec<Piece>),
    /// An object.
    Object(Vec<(String, Template)>),
    /// An array.
    Array(Vec<Template>),
}

/// A piece of a text template.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Literal(String),
    Value(Expr),
}

/// The `{…}` placeholders of `text`, as written.
pub(crate) fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("'{text}': '{{' without '}}'"))?;
        found.push(after[..close].trim());
        rest = &after[close + 1..];
    }
    Ok(found)
}

impl Template {
    /// Compiles a `request:` value.
    pub(crate) fn compile(value: &Value, steps: &[&str], each: bool) -> Result<Self, String> {
        Ok(match value {
            Value::String(text) => {
                let names = placeholders(text)?;
                let whole = names.len() == 1
                    && text.starts_with('{')
                    && text.ends_with('}')
                    && text.matches('{').count() == 1;
                if whole {
                    Template::Value(Expr::parse(names[0], steps, each)?)
                } else if names.is_empty() {
                    Template::Literal(value.clone())
                } else {
                    let mut pieces = Vec::new();
                    let mut rest = text.as_str();
                    while let Some(open) = rest.find('{') {
                        let close = rest[open..].find('}').map_or(rest.len(), |c| c + open);
                        if open > 0 {
                            pieces.push(Piece::Literal(rest[..open].to_owned()));
                        }
                        pieces.push(Piece::Value(Expr::parse(
                            &rest[open + 1..close],
                            steps,
                            each,
                        )?));
                        rest = &rest[close + 1..];
                    }
                    if !rest.is_empty() {
                        pieces.push(Piece::Literal(rest.to_owned()));
                    }
                    Template::Text(pieces)
                }
            }
            Value::Object(members) => Template::Object(
                members
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Template::compile(v, steps, each)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .map(|v| Template::compile(v, steps, each))
                    .collect::<Result<_, String>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    /// Every path the template reads.
    pub(crate) fn exprs<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            Template::Literal(_) => {}
            Template::Value(expr) => out.push(expr),
            Template::Text(pieces) => out.extend(pieces.iter().filter_map(|p| match p {
                Piece::Value(expr) => Some(expr),
                Piece::Literal(_) => None,
            })),
            Template::Object(members) => members.iter().for_each(|(_, t)| t.exprs(out)),
            Template::Array(items) => items.iter().for_each(|t| t.exprs(out)),
        }
    }

    /// The value; `Err` names the first missing path.
    pub(crate) fn render(&self, scope: &Scope<'_>) -> Result<Value, String> {
        Ok(match self {
            Template::Literal(value) => value.clone(),
            Template::Value(expr) => expr.resolve(scope).ok_or_else(|| missing(expr))?,
            Template::Text(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Literal(text) => out.push_str(text),
                        Piece::Value(expr) => {
                            let value = expr.resolve(scope).ok_or_else(|| missing(expr))?;
                            out.push_str(&as_text(&value).ok_or_else(|| not_text(expr))?);
                        }
                    }
                }
                Value::String(out)
            }
            Template::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, template) in members {
                    map.insert(key.clone(), template.render(scope)?);
                }
                Value::Object(map)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(scope))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// The message of a missing value.
pub(crate) fn missing(expr: &Expr) -> String {
    format!("the value {{{}}} is missing", expr.text)
}

/// The message of a value that cannot be text.
pub(crate) fn not_text(expr: &Expr) -> String {
    format!(
        "the value {{{}}} is an array or object, not text",
        expr.text
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const STEPS: &[&str] = &["item", "list"];

    fn render(template: Value, request: Value, answers: &[Option<Value>]) -> Result<Value, String> {
        let template = Template::compile(&template, STEPS, false)?;
        template.render(&Scope {
            request: &request,
            answers,
            each: None,
        })
    }

    #[test]
    fn paths_name_the_request_a_step_or_each() {
        assert_eq!(
            Expr::parse("request.sku", STEPS, false).unwrap().root,
            Root::Request
        );
        assert_eq!(
            Expr::parse("list.items", STEPS, false).unwrap().root,
            Root::Step(1)
        );
        assert_eq!(Expr::parse("each", STEPS, true).unwrap().root, Root::Each);
        assert_eq!(
            Expr::parse("each.sku", STEPS, false).unwrap_err(),
            "{each.sku}: each is bound only in a step with for_each: or collect:"
        );
        assert_eq!(
            Expr::parse("stock.n", STEPS, false).unwrap_err(),
            "{stock.n} names no step 'stock' (steps: item, list; the client's request is {request.…})"
        );
        assert_eq!(
            Expr::parse("item..n", STEPS, false).unwrap_err(),
            "{item..n} is not a path"
        );
    }

    #[test]
    fn values_keep_their_json_types_and_arrays_project() {
        let answers = [
            Some(json!({"id": "9007199254740993", "price": 10.5, "ok": true})),
            Some(json!({"items": [{"sku": "a"}, {"sku": null}, {"sku": "c"}]})),
        ];
        let rendered = render(
            json!({
                "id": "{item.id}",
                "price": "{item.price}",
                "ok": "{item.ok}",
                "skus": "{list.items.sku}",
                "label": "{item.id}-{item.price}-{item.ok}",
                "fixed": 3,
                "nested": {"q": "{request.q}"},
            }),
            json!({"q": "x"}),
            &answers,
        )
        .unwrap();
        assert_eq!(
            rendered,
            json!({
                "id": "9007199254740993",
                "price": 10.5,
                "ok": true,
                "skus": ["a", "c"],
                "label": "9007199254740993-10.5-true",
                "fixed": 3,
                "nested": {"q": "x"},
            })
        );
    }

    #[test]
    fn missing_null_and_non_text_values_are_named() {
        let answers = [Some(json!({"gone": null, "list": [1]})), None];
        assert_eq!(
            render(json!({"a": "{item.gone}"}), json!({}), &answers).unwrap_err(),
            "the value {item.gone} is missing"
        );
        assert_eq!(
            render(json!({"a": "{list.items}"}), json!({}), &answers).unwrap_err(),
            "the value {list.items} is missing"
        );
        assert_eq!(
            render(json!({"a": "x-{item.list}"}), json!({}), &answers).unwrap_err(),
            "the value {item.list} is an array or object, not text"
        );
    }
}
