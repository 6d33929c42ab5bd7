//! Protobuf → JSON compared with prost-reflect: encodings of the JSON corpus, and hand-made
//! wire bytes in unusual (packed/unpacked, interleaved, repeated, merged) and malformed forms.

use prost::Message as _;

use super::check_proto_to_json;
use super::differential_json::CASES;
use super::fixtures::{all_options, message, reference_parse, ITEM_JSON};
use super::wire_cases::{group, hand_made, key, ld, vf};
use crate::codec::protojson::{proto_to_json, JsonOptions, TranscodeError};

#[test]
fn hand_made_wires_match_prost_reflect() {
    let mut failures = Vec::new();
    for (name, wire) in hand_made() {
        let desc = message(name);
        for opts in all_options()
            .into_iter()
            .filter(|opts| opts.ignore_unknown_fields)
        {
            if let Err(problem) = check_proto_to_json(&desc, &wire, &opts) {
                failures.push(format!("{name} {wire:02x?} {opts:?}: {problem}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn encodings_of_the_json_corpus_match_prost_reflect() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for &(name, json) in CASES.iter().chain([("bench.v1.Item", ITEM_JSON)].iter()) {
        let desc = message(name);
        let Some(reference) = reference_parse(&desc, json.as_bytes(), true) else {
            continue;
        };
        let wire = reference.encode_to_vec();
        checked += 1;
        for opts in all_options()
            .into_iter()
            .filter(|opts| opts.ignore_unknown_fields)
        {
            if let Err(problem) = check_proto_to_json(&desc, &wire, &opts) {
                failures.push(format!("{name} {json} {opts:?}: {problem}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 80, "only {checked} encodings checked");
}

#[test]
fn nesting_is_bounded_like_prost() {
    let desc = message("test.v1.Recursive");
    for levels in [1usize, 50, 99, 100, 101, 150] {
        let mut wire = vf(1, 7);
        for _ in 0..levels {
            wire = ld(2, &wire);
        }
        check_proto_to_json(&desc, &wire, &JsonOptions::default())
            .unwrap_or_else(|problem| panic!("{levels} levels: {problem}"));
        let mut grouped = Vec::new();
        for _ in 0..levels {
            grouped = group(9, &grouped);
        }
        check_proto_to_json(&desc, &grouped, &JsonOptions::default())
            .unwrap_or_else(|problem| panic!("{levels} group levels: {problem}"));
    }
}

#[test]
fn map_records_must_be_length_delimited() {
    // prost-reflect reads the varint as an entry length here; polygate rejects the record.
    let wire = [key(1, 0), vec![0]].concat();
    let mut out = Vec::new();
    let err = proto_to_json(
        &message("test.v1.Maps"),
        &wire,
        &JsonOptions::default(),
        &mut out,
    )
    .unwrap_err();
    assert_eq!(
        err,
        TranscodeError::InvalidProtobuf {
            field: "mString".to_owned(),
            reason: "wire type 0 does not match the field type (expected wire type 2)".to_owned(),
        }
    );
    assert!(out.is_empty());
}
