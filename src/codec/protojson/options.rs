//! Options of polygate's proto3 JSON mapping, shared by both transcoding directions.

use prost_reflect::{DeserializeOptions, SerializeOptions};

/// How JSON is read and written by the transcoder.
///
/// The defaults follow the canonical proto3 JSON mapping for output, and are lenient on input
/// (unknown fields are ignored), which is what a gateway facing many client versions wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonOptions {
    /// Write fields without presence (scalars, repeated fields and maps) even when they hold their
    /// default value. Message fields, `optional` fields and oneof members are still left out when
    /// unset, as in prost-reflect and C++ `always_print_fields_with_no_presence`.
    pub emit_unpopulated: bool,
    /// Write the proto field names (`price_cents`) instead of the lowerCamel JSON names
    /// (`priceCents`). Both forms are always accepted on input.
    pub use_proto_names: bool,
    /// Write enum values as numbers instead of names. Both forms are always accepted on input.
    pub enums_as_ints: bool,
    /// Skip JSON members that name no field instead of rejecting the request.
    pub ignore_unknown_fields: bool,
    /// Skip enum names that the enum does not define (the field is left unset) instead of
    /// rejecting the request. Routes set this from `json.unknown_enum_values` (default reject);
    /// the transcoder's own default follows prost-reflect and ignores them.
    pub ignore_unknown_enum_values: bool,
}

impl Default for JsonOptions {
    fn default() -> Self {
        Self {
            emit_unpopulated: false,
            use_proto_names: false,
            enums_as_ints: false,
            ignore_unknown_fields: true,
            ignore_unknown_enum_values: true,
        }
    }
}

impl JsonOptions {
    /// The prost-reflect options that give the same input behaviour, for the subtrees
    /// (`Any`, `Struct`, `Value`, `ListValue`) handed to `DynamicMessage`.
    pub(crate) fn deserialize_options(&self) -> DeserializeOptions {
        DeserializeOptions::new().deny_unknown_fields(!self.ignore_unknown_fields)
    }

    /// The prost-reflect options that give the same output, for the subtrees handed to
    /// `DynamicMessage`.
    pub(crate) fn serialize_options(&self) -> SerializeOptions {
        SerializeOptions::new()
            .skip_default_fields(!self.emit_unpopulated)
            .use_proto_field_name(self.use_proto_names)
            .use_enum_numbers(self.enums_as_ints)
            .stringify_64_bit_integers(true)
    }
}
