//! Field kinds as polygate's transcoder dispatches on them: scalar kinds with their wire
//! types, enums, plain messages and the well-known types that have a special JSON form.

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use super::wire::{FIXED32, FIXED64, LEN, VARINT};

/// The protobuf scalar types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarKind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
}

impl ScalarKind {
    /// The scalar kind of `kind`, or `None` for enums and messages.
    pub(super) fn of(kind: &Kind) -> Option<Self> {
        Some(match kind {
            Kind::Double => Self::Double,
            Kind::Float => Self::Float,
            Kind::Int32 => Self::Int32,
            Kind::Int64 => Self::Int64,
            Kind::Uint32 => Self::Uint32,
            Kind::Uint64 => Self::Uint64,
            Kind::Sint32 => Self::Sint32,
            Kind::Sint64 => Self::Sint64,
            Kind::Fixed32 => Self::Fixed32,
            Kind::Fixed64 => Self::Fixed64,
            Kind::Sfixed32 => Self::Sfixed32,
            Kind::Sfixed64 => Self::Sfixed64,
            Kind::Bool => Self::Bool,
            Kind::String => Self::String,
            Kind::Bytes => Self::Bytes,
            Kind::Message(_) | Kind::Enum(_) => return None,
        })
    }

    /// The wire type a single value of this kind is written with.
    pub(super) fn wire_type(self) -> u8 {
        match self {
            Self::Double | Self::Fixed64 | Self::Sfixed64 => FIXED64,
            Self::Float | Self::Fixed32 | Self::Sfixed32 => FIXED32,
            Self::String | Self::Bytes => LEN,
            _ => VARINT,
        }
    }

    /// The name of the type in .proto syntax, for error messages.
    pub(super) fn proto_name(self) -> &'static str {
        match self {
            Self::Double => "double",
            Self::Float => "float",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Uint32 => "uint32",
            Self::Uint64 => "uint64",
            Self::Sint32 => "sint32",
            Self::Sint64 => "sint64",
            Self::Fixed32 => "fixed32",
            Self::Fixed64 => "fixed64",
            Self::Sfixed32 => "sfixed32",
            Self::Sfixed64 => "sfixed64",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Bytes => "bytes",
        }
    }
}

/// What one value of a field is: the element type for repeated fields.
#[derive(Debug, Clone)]
pub(super) enum ValueKind {
    Scalar(ScalarKind),
    Enum(EnumDescriptor),
    Message(MessageDescriptor),
}

impl ValueKind {
    pub(super) fn of(kind: Kind) -> Self {
        match kind {
            Kind::Enum(desc) => Self::Enum(desc),
            Kind::Message(desc) => Self::Message(desc),
            other => match ScalarKind::of(&other) {
                Some(scalar) => Self::Scalar(scalar),
                // Every non-message, non-enum kind is a scalar; keep a harmless fallback.
                None => Self::Scalar(ScalarKind::Bytes),
            },
        }
    }

    pub(super) fn of_field(field: &FieldDescriptor) -> Self {
        Self::of(field.kind())
    }

    /// The wire type of one value, for packed-encoding decisions.
    pub(super) fn wire_type(&self) -> u8 {
        match self {
            Self::Scalar(scalar) => scalar.wire_type(),
            Self::Enum(_) => VARINT,
            Self::Message(_) => LEN,
        }
    }

    /// Whether repeated values of this kind may be packed.
    pub(super) fn is_packable(&self) -> bool {
        !matches!(
            self,
            Self::Message(_) | Self::Scalar(ScalarKind::String | ScalarKind::Bytes)
        )
    }
}

/// Whether `desc` is `google.protobuf.NullValue`, whose JSON form is `null`.
pub(super) fn is_null_value(desc: &EnumDescriptor) -> bool {
    desc.full_name() == "google.protobuf.NullValue"
}

/// Well-known message types with a JSON form of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WellKnown {
    Timestamp,
    Duration,
    FieldMask,
    Empty,
    /// `google.protobuf.*Value` wrappers, with the kind of their `value` field.
    Wrapper(ScalarKind),
    /// `Any`, `Struct`, `Value` and `ListValue`: handed to prost-reflect's `DynamicMessage`.
    Delegated,
}

impl WellKnown {
    pub(super) fn of(desc: &MessageDescriptor) -> Option<Self> {
        let name = desc.full_name().strip_prefix("google.protobuf.")?;
        Some(match name {
            "Timestamp" => Self::Timestamp,
            "Duration" => Self::Duration,
            "FieldMask" => Self::FieldMask,
            "Empty" => Self::Empty,
            "DoubleValue" => Self::Wrapper(ScalarKind::Double),
            "FloatValue" => Self::Wrapper(ScalarKind::Float),
            "Int64Value" => Self::Wrapper(ScalarKind::Int64),
            "UInt64Value" => Self::Wrapper(ScalarKind::Uint64),
            "Int32Value" => Self::Wrapper(ScalarKind::Int32),
            "UInt32Value" => Self::Wrapper(ScalarKind::Uint32),
            "BoolValue" => Self::Wrapper(ScalarKind::Bool),
            "StringValue" => Self::Wrapper(ScalarKind::String),
            "BytesValue" => Self::Wrapper(ScalarKind::Bytes),
            "Any" | "Struct" | "Value" | "ListValue" => Self::Delegated,
            _ => return None,
        })
    }
}
