//! JSON Schemas (2020-12, as OpenAPI 3.1 and AsyncAPI 3.0 embed them) of protobuf messages in
//! their proto3 JSON form: 64-bit integers as strings, bytes as base64, enums by name (or
//! number), the well-known types as their JSON forms, maps as `additionalProperties`, oneofs
//! as alternatives, messages as shared components reached by `$ref` (so recursion is fine),
//! and proto comments as descriptions.

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};

use crate::codec::protojson::JsonOptions;

/// The JSON options that change a message's JSON form; each combination in use gets its own
/// components (`pkg.Msg`, `pkg.Msg-proto_names`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Style {
    /// Fields by their proto names instead of lowerCamelCase.
    pub(crate) proto_names: bool,
    /// Enums as numbers.
    pub(crate) enum_ints: bool,
    /// Fields without presence are always written (answers only): they are `required`.
    pub(crate) emit_unpopulated: bool,
}

impl Style {
    /// The style of a route's JSON options; `answer` for what polygate writes (where
    /// `emit_unpopulated` applies), not for what it reads.
    pub(crate) fn of(options: &JsonOptions, answer: bool) -> Self {
        Self {
            proto_names: options.use_proto_names,
            enum_ints: options.enums_as_ints,
            emit_unpopulated: answer && options.emit_unpopulated,
        }
    }

    fn suffix(&self) -> String {
        let mut suffix = String::new();
        if self.proto_names {
            suffix.push_str("-proto_names");
        }
        if self.enum_ints {
            suffix.push_str("-enum_ints");
        }
        if self.emit_unpopulated {
            suffix.push_str("-emit_unpopulated");
        }
        suffix
    }

    /// The name a field is written under.
    pub(crate) fn field_name<'f>(&self, field: &'f FieldDescriptor) -> &'f str {
        if self.proto_names {
            field.name()
        } else {
            field.json_name()
        }
    }
}

/// The schemas of one document: components by name, filled as messages are referenced.
pub(crate) struct SchemaSet {
    prefix: &'static str,
    components: BTreeMap<String, Value>,
    comments: Comments,
}

impl SchemaSet {
    /// An empty set whose references start with `prefix` (`#/components/schemas/`).
    pub(crate) fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            components: BTreeMap::new(),
            comments: Comments::default(),
        }
    }

    /// Every component schema referenced so far, by name.
    pub(crate) fn into_components(self) -> Map<String, Value> {
        self.components.into_iter().collect()
    }

    /// Adds a component of polygate's own (the error shape) and returns its reference.
    pub(crate) fn insert(&mut self, name: &str, schema: Value) -> Value {
        self.components.insert(name.to_owned(), schema);
        json!({"$ref": format!("{}{name}", self.prefix)})
    }

    /// The schema of `message` in `style`: a well-known type's JSON form inline, any other
    /// message a `$ref` to its component.
    pub(crate) fn message(&mut self, message: &MessageDescriptor, style: Style) -> Value {
        if let Some(schema) = well_known(message.full_name()) {
            return schema;
        }
        let name = format!("{}{}", message.full_name(), style.suffix());
        if !self.components.contains_key(&name) {
            // Placed first, so a recursive reference finds it and stops.
            self.components.insert(name.clone(), Value::Bool(true));
            let schema = self.message_schema(message, style, &[]);
            self.components.insert(name.clone(), schema);
        }
        json!({"$ref": format!("{}{name}", self.prefix)})
    }

    /// The schema of `message` written out (not a reference), leaving out the top-level
    /// fields named in `omit` (those a path variable sets).
    pub(crate) fn message_schema(
        &mut self,
        message: &MessageDescriptor,
        style: Style,
        omit: &[&str],
    ) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            if omit.contains(&field.name()) {
                continue;
            }
            let name = style.field_name(&field).to_owned();
            let mut schema = self.field(&field, style);
            if let Some(text) = self.comments.of_field(&field) {
                describe(&mut schema, text);
            }
            if style.emit_unpopulated && !field.supports_presence() {
                required.push(Value::String(name.clone()));
            }
            properties.insert(name, schema);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        if let Some(text) = self.comments.of_message(message) {
            schema["description"] = Value::String(text);
        }
        let alternatives: Vec<Value> = message
            .oneofs()
            .filter(|oneof| !oneof.is_synthetic())
            .map(|oneof| {
                let members: Vec<String> = oneof
                    .fields()
                    .filter(|f| !omit.contains(&f.name()))
                    .map(|f| style.field_name(&f).to_owned())
                    .collect();
                one_of(oneof.name(), &members)
            })
            .filter(|alternative| !alternative.is_null())
            .collect();
        match alternatives.len() {
            0 => {}
            1 => {
                if let (Some(Value::Object(alternative)), Some(object)) =
                    (alternatives.into_iter().next(), schema.as_object_mut())
                {
                    object.extend(alternative);
                }
            }
            _ => schema["allOf"] = Value::Array(alternatives),
        }
        schema
    }

    /// The schema of one field's JSON value: a list, a map or one value.
    pub(crate) fn field(&mut self, field: &FieldDescriptor, style: Style) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({"type": "object"});
            };
            let key = entry.map_entry_key_field();
            let value = self.kind(&entry.map_entry_value_field().kind(), style);
            let mut schema = json!({"type": "object", "additionalProperties": value});
            match key.kind() {
                Kind::Bool => schema["propertyNames"] = json!({"enum": ["true", "false"]}),
                Kind::String => {}
                _ => schema["propertyNames"] = json!({"pattern": "^-?[0-9]+$"}),
            }
            return schema;
        }
        let item = self.kind(&field.kind(), style);
        if field.is_list() {
            json!({"type": "array", "items": item})
        } else {
            item
        }
    }

    /// The schema of one value of `kind`.
    pub(crate) fn kind(&mut self, kind: &Kind, style: Style) -> Value {
        match kind {
            Kind::Double => float("double"),
            Kind::Float => float("float"),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": 4294967295u64})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"})
            }
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte", "contentEncoding": "base64"}),
            Kind::Enum(descriptor) => self.enumeration(descriptor, style),
            Kind::Message(message) => self.message(message, style),
        }
    }

    fn enumeration(&mut self, descriptor: &EnumDescriptor, style: Style) -> Value {
        if descriptor.full_name() == "google.protobuf.NullValue" {
            return json!({"type": "null"});
        }
        let name = format!(
            "{}{}",
            descriptor.full_name(),
            if style.enum_ints { "-enum_ints" } else { "" }
        );
        if !self.components.contains_key(&name) {
            let mut lines = Vec::new();
            if let Some(text) = self.comments.of_enum(descriptor) {
                lines.push(text);
            }
            for value in descriptor.values() {
                match self.comments.of_enum_value(&value) {
                    Some(text) => {
                        lines.push(format!("- `{}` ({}): {text}", value.name(), value.number()))
                    }
                    None => lines.push(format!("- `{}` ({})", value.name(), value.number())),
                }
            }
            let mut schema = if style.enum_ints {
                let numbers: Vec<i32> = descriptor.values().map(|v| v.number()).collect();
                json!({"type": "integer", "format": "int32", "enum": numbers})
            } else {
                let names: Vec<String> = descriptor.values().map(|v| v.name().to_owned()).collect();
                json!({"type": "string", "enum": names})
            };
            schema["description"] = Value::String(lines.join("\n"));
            self.components.insert(name.clone(), schema);
        }
        json!({"$ref": format!("{}{name}", self.prefix)})
    }

    /// The comments of a method, if the descriptors kept them.
    pub(crate) fn method_comment(
        &mut self,
        method: &prost_reflect::MethodDescriptor,
    ) -> Option<String> {
        self.comments.lookup(&method.parent_file(), method.path())
    }
}

/// Adds a description to a schema (beside a `$ref`, which JSON Schema 2020-12 allows).
pub(crate) fn describe(schema: &mut Value, text: String) {
    if let Value::Object(map) = schema {
        map.insert("description".into(), Value::String(text));
    }
}

/// A number in proto3 JSON: a JSON number, or one of the strings for the special values.
fn float(format: &str) -> Value {
    json!({"oneOf": [
        {"type": "number", "format": format},
        {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}
    ]})
}

/// At most one member of a oneof is set: one alternative per member, plus none.
fn one_of(name: &str, members: &[String]) -> Value {
    if members.is_empty() {
        return Value::Null;
    }
    let each: Vec<Value> = members.iter().map(|m| json!({"required": [m]})).collect();
    let mut alternatives = each.clone();
    alternatives.push(json!({"not": {"anyOf": each}}));
    json!({
        "oneOf": alternatives,
        "x-oneof": name,
    })
}

/// The JSON form of a well-known type, or `None` for any other message.
pub(crate) fn well_known(full_name: &str) -> Option<Value> {
    let nullable = |schema: Value| {
        let mut schema = schema;
        if let Some(kind) = schema.get("type").cloned() {
            schema["type"] = json!([kind, "null"]);
        }
        schema
    };
    let schema = match full_name {
        "google.protobuf.Timestamp" => {
            json!({"type": "string", "format": "date-time", "description": "RFC 3339, e.g. 2024-01-01T00:00:00Z"})
        }
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "description": "seconds with an `s` suffix, e.g. 1.5s"})
        }
        "google.protobuf.FieldMask" => {
            json!({"type": "string", "description": "comma-separated lowerCamelCase field paths"})
        }
        "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
        "google.protobuf.Value" => json!({"description": "any JSON value"}),
        "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
        "google.protobuf.Empty" => json!({"type": "object", "maxProperties": 0}),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": {"@type": {"type": "string", "description": "type URL, e.g. type.googleapis.com/pkg.Message"}},
            "required": ["@type"],
            "additionalProperties": true
        }),
        "google.protobuf.DoubleValue" => json!({"oneOf": [
            {"type": "number", "format": "double"},
            {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
            {"type": "null"}
        ]}),
        "google.protobuf.FloatValue" => json!({"oneOf": [
            {"type": "number", "format": "float"},
            {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
            {"type": "null"}
        ]}),
        "google.protobuf.Int64Value" => {
            nullable(json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}))
        }
        "google.protobuf.UInt64Value" => {
            nullable(json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}))
        }
        "google.protobuf.Int32Value" => nullable(json!({"type": "integer", "format": "int32"})),
        "google.protobuf.UInt32Value" => nullable(
            json!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": 4294967295u64}),
        ),
        "google.protobuf.BoolValue" => nullable(json!({"type": "boolean"})),
        "google.protobuf.StringValue" => nullable(json!({"type": "string"})),
        "google.protobuf.BytesValue" => {
            nullable(json!({"type": "string", "format": "byte", "contentEncoding": "base64"}))
        }
        _ => return None,
    };
    Some(schema)
}

/// Proto comments by file and descriptor path, read from the files' source info on first use.
#[derive(Default)]
struct Comments {
    files: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Comments {
    fn lookup(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let by_path = self
            .files
            .entry(file.name().to_owned())
            .or_insert_with(|| index(file));
        by_path.get(path).cloned()
    }

    fn of_message(&mut self, message: &MessageDescriptor) -> Option<String> {
        self.lookup(&message.parent_file(), message.path())
    }

    fn of_field(&mut self, field: &FieldDescriptor) -> Option<String> {
        self.lookup(&field.parent_file(), field.path())
    }

    fn of_enum(&mut self, descriptor: &EnumDescriptor) -> Option<String> {
        self.lookup(&descriptor.parent_file(), descriptor.path())
    }

    fn of_enum_value(&mut self, value: &prost_reflect::EnumValueDescriptor) -> Option<String> {
        self.lookup(&value.parent_file(), value.path())
    }
}

/// Every commented location of `file`: the leading comment, else the trailing one.
fn index(file: &FileDescriptor) -> HashMap<Vec<i32>, String> {
    let Some(info) = &file.file_descriptor_proto().source_code_info else {
        return HashMap::new();
    };
    info.location
        .iter()
        .filter_map(|location| {
            let text = location
                .leading_comments
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .or(location.trailing_comments.as_deref())?;
            let text = text
                .lines()
                .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned();
            (!text.is_empty()).then(|| (location.path.clone(), text))
        })
        .collect()
}
