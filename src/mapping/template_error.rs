//! Why a path template was rejected: the template and the precise problem, with its offset.

use super::template::MAX_SEGMENTS;

/// A template that failed to parse: the template text and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template {template:?}: {problem}")]
pub struct TemplateError {
    pub(super) template: String,
    pub(super) problem: TemplateProblem,
}

impl TemplateError {
    /// The template text that was rejected.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// What is wrong with the template.
    pub fn problem(&self) -> &TemplateProblem {
        &self.problem
    }
}

/// The reason a path template was rejected; offsets are byte offsets into the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    /// The template does not start with `/`.
    #[error("a template must start with '/'")]
    MissingLeadingSlash,
    /// A `{` has no matching `}`.
    #[error("unclosed '{{' at offset {offset}")]
    UnclosedBrace {
        /// Offset of the `{`.
        offset: usize,
    },
    /// A `}` closes nothing.
    #[error("unmatched '}}' at offset {offset}")]
    UnmatchedCloseBrace {
        /// Offset of the `}`.
        offset: usize,
    },
    /// A `{` appears inside another variable.
    #[error("nested variable at offset {offset}: variables cannot contain variables")]
    NestedVariable {
        /// Offset of the inner `{`.
        offset: usize,
    },
    /// A variable without a field path (`{}` or `{=*}`).
    #[error("empty field path at offset {offset}")]
    EmptyFieldPath {
        /// Offset where the field path should start.
        offset: usize,
    },
    /// A field path that is not `IDENT { "." IDENT }`.
    #[error("invalid field path {field_path:?} at offset {offset}: {reason}")]
    InvalidFieldPath {
        /// The field path text as written.
        field_path: String,
        /// Offset of the field path.
        offset: usize,
        /// Which part is wrong.
        reason: &'static str,
    },
    /// Two variables bind the same field path.
    #[error("field path {field_path:?} is bound twice (again at offset {offset})")]
    DuplicateFieldPath {
        /// The dotted field path.
        field_path: String,
        /// Offset of the second binding.
        offset: usize,
    },
    /// An empty segment, as in `//`, a trailing `/` or `{name=}`.
    #[error("empty segment at offset {offset}")]
    EmptySegment {
        /// Offset where the segment should start.
        offset: usize,
    },
    /// A `:` with nothing after it.
    #[error("empty verb at offset {offset}")]
    EmptyVerb {
        /// Offset of the `:`.
        offset: usize,
    },
    /// Something other than the verb follows `**`.
    #[error("'**' at offset {offset} must be the last segment (only a verb may follow it)")]
    DoubleWildcardNotLast {
        /// Offset of the `**`.
        offset: usize,
    },
    /// A character that cannot appear where it was found.
    #[error("unexpected {found:?} at offset {offset}, expected {expected}")]
    UnexpectedChar {
        /// The offending character.
        found: char,
        /// Its offset.
        offset: usize,
        /// What the grammar allows there.
        expected: &'static str,
    },
    /// A literal or verb whose percent-decoded bytes are not UTF-8.
    #[error("literal at offset {offset} is not valid UTF-8 after percent-decoding")]
    InvalidUtf8 {
        /// Offset of the literal.
        offset: usize,
    },
    /// More segments than [`MAX_SEGMENTS`].
    #[error("more than {MAX_SEGMENTS} segments")]
    TooManySegments,
}
