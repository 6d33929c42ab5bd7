//! Parser for the `google.api.http` path-template grammar (`/v1/{name=shelves/*}:archive`).
//!
//! ```text
//! Template  = "/" Segments [ Verb ] ;
//! Segments  = Segment { "/" Segment } ;
//! Segment   = "*" | "**" | LITERAL | Variable ;
//! Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb      = ":" LITERAL ;
//! ```
//!
//! polygate's reading of the grammar:
//! - `{var}` means `{var=*}`; `**` may only be the last segment (a verb may follow it).
//! - A `:` inside a literal segment that is not the last one belongs to the literal; in the last top-level
//!   segment the first `:` starts the verb, and the verb may itself contain `:` (`/v1/*:custom:sub`).
//!   Inside a variable's `=` part a `:` is always literal text.
//! - Literal segments and the verb are percent-decoded once when parsed, so that they compare directly with
//!   percent-decoded request segments; [`PathTemplate`]'s `Display` re-encodes them.
//! - Offsets in error messages are byte offsets into the template text.

use std::fmt;

pub use super::template_error::{TemplateError, TemplateProblem};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// Upper bound on the segments of one template; keeps the matcher's trie (and its recursion) shallow.
pub const MAX_SEGMENTS: usize = 128;

/// Characters re-encoded when a literal is printed, so that the printed template parses back to itself.
const LITERAL_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'/')
    .add(b'{')
    .add(b'}')
    .add(b'*')
    .add(b':')
    .add(b'?')
    .add(b'#');

/// Like [`LITERAL_ESCAPES`], but a verb keeps its `:` characters readable.
const VERB_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'/')
    .add(b'{')
    .add(b'}')
    .add(b'*')
    .add(b'?')
    .add(b'#');

/// One segment of a template, with variables flattened away (see [`Variable`] for their extents).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Text that must equal the percent-decoded request segment; stored decoded.
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Wildcard,
    /// `**`: zero or more segments; always the last segment.
    DoubleWildcard,
}

/// A dotted message field path such as `book.shelf.id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    /// A field path with no names; polygate uses it only as a placeholder, never in a parsed template.
    pub const EMPTY: FieldPath = FieldPath {
        segments: Vec::new(),
    };

    /// The field names, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Parses `book.shelf.id`: dot-separated names of letters, digits and `_`.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_field_path(text, 0).map_err(|problem| match problem {
            TemplateProblem::InvalidFieldPath { reason, .. } => {
                format!("field path '{text}': {reason}")
            }
            _ => "a field path is empty".to_owned(),
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, name) in self.segments.iter().enumerate() {
            if index > 0 {
                f.write_str(".")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// A `{field_path=…}` binding: it captures template segments `start_segment..end_segment`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variable {
    /// The request message field the captured text is written to.
    pub field_path: FieldPath,
    /// Index of the first template segment the variable covers.
    pub start_segment: usize,
    /// Index one past the last template segment the variable covers.
    pub end_segment: usize,
    /// Whether the variable's last segment is `**`, so it extends to the end of the path.
    pub ends_with_double_wildcard: bool,
}

impl Variable {
    /// Whether the variable captures exactly one request segment (`{id}`, `{id=*}`, `{name=shelves}`).
    pub fn is_single_segment(&self) -> bool {
        !self.ends_with_double_wildcard && self.end_segment == self.start_segment + 1
    }
}

/// A parsed `google.api.http` path template.
///
/// Equality compares the parsed structure (segments, variables, verb), not the original text, so `/v1/{id}` equals
/// `/v1/{id=*}`.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
}

impl PartialEq for PathTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.segments == other.segments
            && self.variables == other.variables
            && self.verb == other.verb
    }
}

impl Eq for PathTemplate {}

impl PathTemplate {
    /// Parses a template such as `/v1/{name=shelves/*/books/*}:archive`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Parser::new(text).parse().map_err(|problem| TemplateError {
            template: text.to_owned(),
            problem,
        })
    }

    /// The template text exactly as it was given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The segments, variables flattened (a variable's segments appear in place).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The variables in the order they appear.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The custom verb (`archive` in `…:archive`), percent-decoded.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    fn write_segments(
        &self,
        f: &mut fmt::Formatter<'_>,
        range: std::ops::Range<usize>,
    ) -> fmt::Result {
        let segments = self.segments.get(range).unwrap_or_default();
        for (index, segment) in segments.iter().enumerate() {
            if index > 0 {
                f.write_str("/")?;
            }
            match segment {
                Segment::Literal(text) => {
                    write!(f, "{}", utf8_percent_encode(text, LITERAL_ESCAPES))?
                }
                Segment::Wildcard => f.write_str("*")?,
                Segment::DoubleWildcard => f.write_str("**")?,
            }
        }
        Ok(())
    }
}

/// Prints a canonical form that parses back to an equal template: `{id=*}` prints as `{id}`, and literals are
/// percent-encoded where needed.
impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut variables = self.variables.iter().peekable();
        let mut index = 0;
        while index < self.segments.len() {
            f.write_str("/")?;
            match variables.next_if(|variable| variable.start_segment == index) {
                Some(variable) => {
                    let end = variable.end_segment.max(index + 1);
                    let bare =
                        end == index + 1 && self.segments.get(index) == Some(&Segment::Wildcard);
                    if bare {
                        write!(f, "{{{}}}", variable.field_path)?;
                    } else {
                        write!(f, "{{{}=", variable.field_path)?;
                        self.write_segments(f, index..end)?;
                        f.write_str("}")?;
                    }
                    index = end;
                }
                None => {
                    self.write_segments(f, index..index + 1)?;
                    index += 1;
                }
            }
        }
        if let Some(verb) = &self.verb {
            write!(f, ":{}", utf8_percent_encode(verb, VERB_ESCAPES))?;
        }
        Ok(())
    }
}

/// Where a run of segments ends: the whole template or one variable's `=` part.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    TopLevel,
    Variable,
}

struct Parser<'t> {
    text: &'t str,
    position: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
    /// Offset of a `**` already parsed; anything but the verb after it is an error.
    double_wildcard_at: Option<usize>,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        Parser {
            text,
            position: 0,
            segments: Vec::new(),
            variables: Vec::new(),
            verb: None,
            double_wildcard_at: None,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    fn unexpected(&self, expected: &'static str) -> TemplateProblem {
        let found = self
            .text
            .get(self.position..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{FFFD}');
        if found == '}' {
            return TemplateProblem::UnmatchedCloseBrace {
                offset: self.position,
            };
        }
        TemplateProblem::UnexpectedChar {
            found,
            offset: self.position,
            expected,
        }
    }

    fn parse(mut self) -> Result<PathTemplate, TemplateProblem> {
        if self.peek() != Some(b'/') {
            return Err(TemplateProblem::MissingLeadingSlash);
        }
        self.position = 1;
        let end = self.text.len();
        loop {
            self.parse_segment(Scope::TopLevel, end)?;
            match self.peek() {
                None => break,
                Some(b':') => {
                    let colon = self.position;
                    self.verb = Some(self.parse_verb(colon)?);
                    break;
                }
                Some(_) => self.reject_after_double_wildcard()?,
            }
            if self.peek() != Some(b'/') {
                return Err(self.unexpected("'/', ':' or the end of the template"));
            }
            self.position += 1;
        }
        Ok(PathTemplate {
            source: self.text.to_owned(),
            segments: self.segments,
            variables: self.variables,
            verb: self.verb,
        })
    }

    fn reject_after_double_wildcard(&self) -> Result<(), TemplateProblem> {
        match self.double_wildcard_at {
            Some(offset) => Err(TemplateProblem::DoubleWildcardNotLast { offset }),
            None => Ok(()),
        }
    }

    fn push_segment(&mut self, segment: Segment) -> Result<(), TemplateProblem> {
        if self.segments.len() >= MAX_SEGMENTS {
            return Err(TemplateProblem::TooManySegments);
        }
        self.segments.push(segment);
        Ok(())
    }

    /// Parses one segment starting at `self.position`, not reading past `end`.
    fn parse_segment(&mut self, scope: Scope, end: usize) -> Result<(), TemplateProblem> {
        let start = self.position;
        match self.peek() {
            Some(b'*') => {
                if self.text.as_bytes().get(start + 1) == Some(&b'*') {
                    self.double_wildcard_at = Some(start);
                    self.position += 2;
                    self.push_segment(Segment::DoubleWildcard)
                } else {
                    self.position += 1;
                    self.push_segment(Segment::Wildcard)
                }
            }
            Some(b'{') if scope == Scope::Variable => {
                Err(TemplateProblem::NestedVariable { offset: start })
            }
            Some(b'{') => self.parse_variable(),
            _ => self.parse_literal(scope, end),
        }
    }

    fn parse_literal(&mut self, scope: Scope, end: usize) -> Result<(), TemplateProblem> {
        let start = self.position;
        let rest = self.text.get(start..end).unwrap_or_default();
        let length = rest.find(['/', '{', '}', '*']).unwrap_or(rest.len());
        let mut literal = rest.get(..length).unwrap_or_default();
        self.position = start + length;
        // The verb belongs to the last top-level segment only; elsewhere ':' is literal text.
        let is_last = self.peek() != Some(b'/');
        if scope == Scope::TopLevel && is_last {
            if let Some(colon) = literal.find(':') {
                literal = literal.get(..colon).unwrap_or_default();
                self.position = start + colon;
            }
        }
        if literal.is_empty() {
            return Err(TemplateProblem::EmptySegment { offset: start });
        }
        let decoded = decode_literal(literal, start)?;
        self.push_segment(Segment::Literal(decoded))
    }

    /// Parses the verb after the `:` at `colon`; the verb runs to the end of the template.
    fn parse_verb(&mut self, colon: usize) -> Result<String, TemplateProblem> {
        let raw = self.text.get(colon + 1..).unwrap_or_default();
        if raw.is_empty() {
            return Err(TemplateProblem::EmptyVerb { offset: colon });
        }
        if let Some(bad) = raw.find(['/', '{', '}', '*']) {
            self.position = colon + 1 + bad;
            return Err(self.unexpected("a verb without '/', '{', '}' or '*'"));
        }
        self.position = self.text.len();
        decode_literal(raw, colon + 1)
    }

    fn parse_variable(&mut self) -> Result<(), TemplateProblem> {
        let open = self.position;
        let body_start = open + 1;
        let after_open = self.text.get(body_start..).unwrap_or_default();
        let close = match after_open.find(['{', '}']) {
            Some(found) if after_open.as_bytes().get(found) == Some(&b'{') => {
                return Err(TemplateProblem::NestedVariable {
                    offset: body_start + found,
                })
            }
            Some(found) => body_start + found,
            None => return Err(TemplateProblem::UnclosedBrace { offset: open }),
        };
        let body = self.text.get(body_start..close).unwrap_or_default();
        let (field_text, pattern_start) = match body.find('=') {
            Some(equals) => (
                body.get(..equals).unwrap_or_default(),
                Some(body_start + equals + 1),
            ),
            None => (body, None),
        };
        let field_path = parse_field_path(field_text, body_start)?;
        if self
            .variables
            .iter()
            .any(|variable| variable.field_path == field_path)
        {
            return Err(TemplateProblem::DuplicateFieldPath {
                field_path: field_path.to_string(),
                offset: open,
            });
        }
        let start_segment = self.segments.len();
        match pattern_start {
            None => self.push_segment(Segment::Wildcard)?,
            Some(pattern_start) => {
                self.position = pattern_start;
                loop {
                    self.parse_segment(Scope::Variable, close)?;
                    if self.position >= close {
                        break;
                    }
                    self.reject_after_double_wildcard()?;
                    if self.peek() != Some(b'/') {
                        return Err(self.unexpected("'/' or '}'"));
                    }
                    self.position += 1;
                }
            }
        }
        self.variables.push(Variable {
            field_path,
            start_segment,
            end_segment: self.segments.len(),
            ends_with_double_wildcard: self.segments.last() == Some(&Segment::DoubleWildcard),
        });
        self.position = close + 1;
        Ok(())
    }
}

fn parse_field_path(text: &str, offset: usize) -> Result<FieldPath, TemplateProblem> {
    if text.is_empty() {
        return Err(TemplateProblem::EmptyFieldPath { offset });
    }
    let invalid = |reason| TemplateProblem::InvalidFieldPath {
        field_path: text.to_owned(),
        offset,
        reason,
    };
    let mut segments = Vec::new();
    for name in text.split('.') {
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(invalid("a field name between dots is empty")),
            Some(first) if !(first.is_ascii_alphabetic() || first == '_') => {
                return Err(invalid("a field name must start with a letter or '_'"))
            }
            Some(_) => {}
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                "a field name may only contain letters, digits and '_'",
            ));
        }
        segments.push(name.to_owned());
    }
    Ok(FieldPath { segments })
}

fn decode_literal(raw: &str, offset: usize) -> Result<String, TemplateProblem> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| TemplateProblem::InvalidUtf8 { offset })
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
