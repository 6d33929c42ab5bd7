//! Tests of the transcoder: differential tests against prost-reflect's `DynamicMessage` JSON
//! (the canonical mapping), property tests, and tests of the field-level entry points and
//! their error messages.

mod api;
mod api_errors;
mod api_text;
mod differential_json;
mod differential_wire;
mod fixtures;
mod props;
mod random;
mod wire_cases;

use prost_reflect::{DynamicMessage, MessageDescriptor};

use super::{json_to_proto, proto_to_json, JsonOptions};
use fixtures::{describe, reference_parse, reference_print, same_message};

const PREFIX: &[u8] = b"prefix";

/// Compares `json_to_proto` with prost-reflect on one input: both must reject it, or both must
/// accept it and produce the same message. Output goes after existing bytes, which must survive.
fn check_json_to_proto(
    desc: &MessageDescriptor,
    json: &[u8],
    opts: &JsonOptions,
) -> Result<(), String> {
    // Invalid UTF-8 is always rejected; prost-reflect lets it pass inside ignored members.
    let expected = match std::str::from_utf8(json) {
        Ok(_) => reference_parse(desc, json, opts.ignore_unknown_fields),
        Err(_) => None,
    };
    let mut out = PREFIX.to_vec();
    let actual = json_to_proto(desc, json, opts, &mut out);
    let Some(written) = out.strip_prefix(PREFIX) else {
        return Err("bytes before the output were changed".to_owned());
    };
    match (expected, actual) {
        (Some(expected), Ok(())) => {
            let mine = DynamicMessage::decode(desc.clone(), written)
                .map_err(|err| format!("output does not decode: {err}"))?;
            if same_message(&expected, &mine) {
                Ok(())
            } else {
                Err(format!(
                    "different messages:\n  prost-reflect: {}\n  transcoder:    {}",
                    describe(&expected),
                    describe(&mine)
                ))
            }
        }
        (None, Err(_)) if written.is_empty() => Ok(()),
        (None, Err(_)) => Err("output was left behind after an error".to_owned()),
        (Some(expected), Err(err)) => Err(format!(
            "prost-reflect accepts ({}), transcoder rejects: {err}",
            describe(&expected)
        )),
        (None, Ok(())) => Err(format!(
            "prost-reflect rejects, transcoder accepts: {written:?}"
        )),
    }
}

/// Compares `proto_to_json` with prost-reflect on one input: both must reject it, or both must
/// accept it and print equal JSON values.
fn check_proto_to_json(
    desc: &MessageDescriptor,
    wire: &[u8],
    opts: &JsonOptions,
) -> Result<(), String> {
    let expected = reference_print(desc, wire, opts);
    let mut out = PREFIX.to_vec();
    let actual = proto_to_json(desc, wire, opts, &mut out);
    let Some(written) = out.strip_prefix(PREFIX) else {
        return Err("bytes before the output were changed".to_owned());
    };
    match (expected, actual) {
        (Some(expected), Ok(())) => {
            let mine: serde_json::Value = serde_json::from_slice(written).map_err(|err| {
                format!(
                    "invalid JSON written ({err}): {}",
                    String::from_utf8_lossy(written)
                )
            })?;
            if mine == expected || only_non_finite_wrappers_differ(&expected, &mine) {
                Ok(())
            } else {
                Err(format!(
                    "different JSON:\n  prost-reflect: {expected}\n  transcoder:    {mine}"
                ))
            }
        }
        (None, Err(_)) if written.is_empty() => Ok(()),
        (None, Err(_)) => Err("output was left behind after an error".to_owned()),
        (Some(expected), Err(err)) => Err(format!(
            "prost-reflect prints {expected}, transcoder fails: {err}"
        )),
        (None, Ok(())) => Err(format!(
            "prost-reflect fails, transcoder prints {}",
            String::from_utf8_lossy(written)
        )),
    }
}

/// The one intended difference from prost-reflect in printing: a non-finite `DoubleValue` or
/// `FloatValue` prints as `"NaN"`, `"Infinity"` or `"-Infinity"` like the field it wraps, where
/// prost-reflect prints `null` (which reads back as an absent wrapper). True when `expected`
/// (prost-reflect's JSON) and `mine` differ only there.
fn only_non_finite_wrappers_differ(expected: &serde_json::Value, mine: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (expected, mine) {
        (Value::Null, Value::String(text)) => {
            matches!(text.as_str(), "NaN" | "Infinity" | "-Infinity")
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(a, b)| a == b || only_non_finite_wrappers_differ(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(key, a)| {
                    b.get(key)
                        .is_some_and(|b| a == b || only_non_finite_wrappers_differ(a, b))
                })
        }
        _ => false,
    }
}
