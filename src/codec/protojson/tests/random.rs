//! Random messages of the test types, built deterministically from a seed, for the property
//! tests. Values favour edge cases: extremes, zeros, NaN, escapes, unknown enum numbers.

use prost::bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

use super::fixtures::message as descriptor;

/// xorshift64*: small, seedable, good enough for test data.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn random_string(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "a", "Z", "0", " ", "é", "😀", "\"", "\\", "\n", "\u{1}", "\u{7f}", "/", "_", "\u{2028}",
    ];
    (0..rng.below(6)).map(|_| rng.pick(PIECES)).collect()
}

fn random_f64(rng: &mut Rng) -> f64 {
    match rng.below(10) {
        0 => 0.0,
        1 => -0.0,
        2 => f64::NAN,
        3 => f64::INFINITY,
        4 => f64::NEG_INFINITY,
        5 => rng.pick(&[1.5, -261_368.209_721_212_62, 4.65, 1e300, 5e-324, 1.0]),
        _ => {
            let value = f64::from_bits(rng.next());
            if value.is_finite() {
                value
            } else {
                0.25
            }
        }
    }
}

fn random_scalar(kind: &Kind, rng: &mut Rng) -> Value {
    let wide = rng.next();
    match kind {
        Kind::Double => Value::F64(random_f64(rng)),
        Kind::Float => Value::F32(match rng.below(4) {
            0 => random_f64(rng) as f32,
            1 => 0.1,
            _ => f32::from_bits(wide as u32),
        }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(rng.pick(&[0, 1, -1, i32::MIN, i32::MAX, wide as i32]))
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(rng.pick(&[0, 1, -1, i64::MIN, i64::MAX, wide as i64]))
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.pick(&[0, 1, u32::MAX, wide as u32])),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.pick(&[0, 1, u64::MAX, wide])),
        Kind::Bool => Value::Bool(rng.chance(50)),
        Kind::String => Value::String(random_string(rng)),
        Kind::Bytes => Value::Bytes(Bytes::from(
            (0..rng.below(7))
                .map(|_| rng.next() as u8)
                .collect::<Vec<_>>(),
        )),
        Kind::Enum(_) => Value::EnumNumber(rng.pick(&[0, 1, 2, 99, -5])),
        Kind::Message(_) => Value::Bool(false),
    }
}

fn random_key(kind: &Kind, rng: &mut Rng) -> MapKey {
    match random_scalar(kind, rng) {
        Value::I32(v) => MapKey::I32(v),
        Value::I64(v) => MapKey::I64(v),
        Value::U32(v) => MapKey::U32(v),
        Value::U64(v) => MapKey::U64(v),
        Value::Bool(v) => MapKey::Bool(v),
        Value::String(v) => MapKey::String(v),
        _ => MapKey::Bool(false),
    }
}

fn random_value(field: &FieldDescriptor, kind: &Kind, rng: &mut Rng, depth: u32) -> Option<Value> {
    match kind {
        Kind::Message(desc) => {
            (depth > 0).then(|| Value::Message(random_message(desc, rng, depth - 1)))
        }
        _ => {
            let _ = field;
            Some(random_scalar(kind, rng))
        }
    }
}

/// A random message of type `desc`, nested at most `depth` levels.
pub(super) fn random_message(
    desc: &MessageDescriptor,
    rng: &mut Rng,
    depth: u32,
) -> DynamicMessage {
    let mut message = DynamicMessage::new(desc.clone());
    match desc.full_name() {
        "google.protobuf.Timestamp" => {
            let seconds = if rng.chance(95) {
                rng.below(253_402_300_800 + 62_135_596_800) as i64 - 62_135_596_800
            } else {
                i64::MAX
            };
            let any_nanos = rng.below(1_000_000_000) as i32;
            let nanos = rng.pick(&[0, 123_000_000, 456_000, 789, any_nanos]);
            message.set_field_by_name("seconds", Value::I64(seconds));
            message.set_field_by_name("nanos", Value::I32(nanos));
        }
        "google.protobuf.Duration" => {
            let seconds = rng.below(315_576_000_001) as i64;
            let any_nanos = rng.below(1_000_000_000) as i32;
            let nanos = rng.pick(&[0, 500_000_000, 1_000, 7, any_nanos]);
            let sign = if rng.chance(50) { -1 } else { 1 };
            message.set_field_by_name("seconds", Value::I64(sign * seconds));
            message.set_field_by_name("nanos", Value::I32(sign as i32 * nanos));
        }
        "google.protobuf.FieldMask" => {
            let paths = (0..rng.below(4))
                .map(|_| {
                    Value::String(
                        rng.pick(&["foo_bar", "a.b_c", "x", "foo_1", "with__double"])
                            .to_owned(),
                    )
                })
                .collect();
            message.set_field_by_name("paths", Value::List(paths));
        }
        "google.protobuf.Any" => {
            if rng.chance(90) {
                let inner = message_name_for_any(rng);
                let payload = random_message(&descriptor(inner), rng, depth.saturating_sub(1));
                message.set_field_by_name(
                    "type_url",
                    Value::String(format!("type.googleapis.com/{inner}")),
                );
                message
                    .set_field_by_name("value", Value::Bytes(Bytes::from(payload.encode_to_vec())));
            }
        }
        "google.protobuf.Value" => {
            let pick = if depth == 0 {
                rng.below(4)
            } else {
                rng.below(6)
            };
            let (name, value) = match pick {
                0 => ("null_value", Value::EnumNumber(0)),
                1 => (
                    "number_value",
                    Value::F64(rng.pick(&[0.0, 1.5, -2.0, 1e21])),
                ),
                2 => ("string_value", Value::String(random_string(rng))),
                3 => ("bool_value", Value::Bool(rng.chance(50))),
                4 => (
                    "struct_value",
                    Value::Message(random_message(
                        &descriptor("google.protobuf.Struct"),
                        rng,
                        depth - 1,
                    )),
                ),
                _ => (
                    "list_value",
                    Value::Message(random_message(
                        &descriptor("google.protobuf.ListValue"),
                        rng,
                        depth - 1,
                    )),
                ),
            };
            message.set_field_by_name(name, value);
        }
        _ => fill_fields(&mut message, desc, rng, depth),
    }
    message
}

fn message_name_for_any(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "test.v1.Scalars",
        "google.protobuf.Duration",
        "google.protobuf.Empty",
        "test.v1.Oneofs",
    ])
}

fn fill_fields(message: &mut DynamicMessage, desc: &MessageDescriptor, rng: &mut Rng, depth: u32) {
    for field in desc.fields() {
        if !rng.chance(50) {
            continue;
        }
        if let Some(oneof) = field.containing_oneof() {
            if oneof.fields().any(|member| message.has_field(&member)) {
                continue;
            }
        }
        let kind = field.kind();
        let value = if field.is_map() {
            let Kind::Message(entry) = &kind else {
                continue;
            };
            let key_kind = entry.map_entry_key_field().kind();
            let value_field = entry.map_entry_value_field();
            let value_kind = value_field.kind();
            let mut map = std::collections::HashMap::new();
            for _ in 0..rng.below(4) {
                if let Some(value) = random_value(&value_field, &value_kind, rng, depth) {
                    map.insert(random_key(&key_kind, rng), value);
                }
            }
            Value::Map(map)
        } else if field.is_list() {
            let items = (0..rng.below(4))
                .filter_map(|_| random_value(&field, &kind, rng, depth))
                .collect();
            Value::List(items)
        } else {
            match random_value(&field, &kind, rng, depth) {
                Some(value) => value,
                None => continue,
            }
        };
        message.set_field(&field, value);
    }
}
