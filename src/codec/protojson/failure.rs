//! Transcoding failures as they travel up through nested fields, collecting the field path
//! (`dimensions.widthCm`, `tags[2]`, `labels["k"]`) that the final client-facing error names.

use super::TranscodeError;

/// What went wrong, before the path is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FailureKind {
    /// A JSON value does not fit its field.
    InvalidValue,
    /// A JSON member names no field (its name is the last path segment).
    UnknownField,
    /// Protobuf bytes are malformed.
    InvalidWire,
    /// A well-formed protobuf value has no JSON form (e.g. a timestamp out of range).
    Unrepresentable,
}

#[derive(Debug, Clone)]
enum Segment {
    Field(String),
    Index(usize),
    Key(String),
}

/// A failure with the path from the innermost field outwards.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    kind: FailureKind,
    reason: String,
    /// Innermost segment first: segments are added while the failure travels outwards.
    segments: Vec<Segment>,
}

impl Failure {
    pub(super) fn new(kind: FailureKind, reason: impl Into<String>) -> Box<Self> {
        Box::new(Self {
            kind,
            reason: reason.into(),
            segments: Vec::new(),
        })
    }

    /// Notes that the failure happened inside field `name`.
    pub(super) fn within_field(&mut self, name: &str) {
        self.segments.push(Segment::Field(name.to_owned()));
    }

    /// Notes that the failure happened inside element `index` of a repeated field.
    pub(super) fn within_index(&mut self, index: usize) {
        self.segments.push(Segment::Index(index));
    }

    /// Notes that the failure happened inside the value of map key `key`.
    pub(super) fn within_key(&mut self, key: String) {
        self.segments.push(Segment::Key(key));
    }

    /// The dotted path, outermost field first.
    pub(super) fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.segments.iter().rev() {
            match segment {
                Segment::Field(name) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                Segment::Index(index) => {
                    path.push('[');
                    path.push_str(&index.to_string());
                    path.push(']');
                }
                Segment::Key(key) => {
                    path.push_str("[\"");
                    path.push_str(key);
                    path.push_str("\"]");
                }
            }
        }
        path
    }

    pub(super) fn into_error(self) -> TranscodeError {
        let field = self.path();
        let reason = self.reason;
        match self.kind {
            FailureKind::InvalidValue => TranscodeError::InvalidValue { field, reason },
            FailureKind::UnknownField => TranscodeError::UnknownField { field },
            FailureKind::InvalidWire => TranscodeError::InvalidProtobuf { field, reason },
            FailureKind::Unrepresentable => TranscodeError::Unrepresentable { field, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lists_outermost_first() {
        let mut failure = Failure::new(FailureKind::InvalidValue, "bad");
        failure.within_field("widthCm");
        failure.within_index(2);
        failure.within_field("boxes");
        failure.within_key("k".to_owned());
        failure.within_field("labels");
        assert_eq!(failure.path(), "labels[\"k\"].boxes[2].widthCm");
        assert_eq!(
            failure.into_error().to_string(),
            "invalid value for field 'labels[\"k\"].boxes[2].widthCm': bad"
        );
    }
}
