//! Property tests: random messages through both directions against prost-reflect, and random
//! or mutated bytes and text, which must give the same verdict as prost-reflect (and never
//! panic).

use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message as _;

use super::fixtures::{all_options, message, print_message};
use super::random::{random_message, Rng};
use super::{check_json_to_proto, check_proto_to_json};

const TYPES: &[&str] = &[
    "test.v1.Everything",
    "test.v1.Scalars",
    "test.v1.Repeated",
    "test.v1.Maps",
    "test.v1.Oneofs",
    "test.v1.WellKnown",
    "test.v1.Recursive",
    "test.v2.Legacy",
];

/// Types without map fields, where the verdict must always be prost-reflect's.
const WITHOUT_MAPS: &[&str] = &[
    "test.v1.Scalars",
    "test.v1.Repeated",
    "test.v1.Oneofs",
    "test.v1.WellKnown",
];

/// The one known disagreement: prost-reflect reads a map record of any wire type as if it were
/// length-delimited, where polygate rejects the record. So for types with maps, polygate may
/// reject bytes that prost-reflect accepts (but never the other way round, and when both
/// accept, the JSON must be the same).
fn known_divergence(name: &str, problem: &str) -> bool {
    !WITHOUT_MAPS.contains(&name)
        && problem.starts_with("prost-reflect prints")
        && problem.contains("transcoder fails: invalid protobuf")
}

fn mutate(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() as u64 + 1) as usize;
        match rng.below(4) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
            1 => bytes.insert(at, rng.next() as u8),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
}

proptest! {
    // Failures are reported, not persisted: the regression file would land in the main tree.
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_messages_print_like_prost_reflect(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for name in TYPES {
            let desc = message(name);
            let wire = random_message(&desc, &mut rng, 3).encode_to_vec();
            for opts in all_options().into_iter().filter(|opts| opts.ignore_unknown_fields) {
                if let Err(problem) = check_proto_to_json(&desc, &wire, &opts) {
                    prop_assert!(false, "{name} {wire:02x?} {opts:?}: {problem}");
                }
            }
        }
    }

    #[test]
    fn random_messages_parse_like_prost_reflect(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for name in TYPES {
            let desc = message(name);
            let original = random_message(&desc, &mut rng, 3);
            for opts in all_options() {
                // Printing fails for values without a JSON form; those have no JSON to read.
                let Some(json) = print_message(&original, &opts) else { continue };
                let text = json.to_string();
                if let Err(problem) = check_json_to_proto(&desc, text.as_bytes(), &opts) {
                    prop_assert!(false, "{name} {text} {opts:?}: {problem}");
                }
            }
        }
    }

    #[test]
    fn random_bytes_give_prost_reflects_verdict(bytes in vec(any::<u8>(), 0..64)) {
        for name in TYPES {
            let desc = message(name);
            if let Err(problem) = check_proto_to_json(&desc, &bytes, &Default::default()) {
                prop_assert!(known_divergence(name, &problem), "{name} {bytes:02x?}: {problem}");
            }
        }
    }

    #[test]
    fn mutated_wire_gives_prost_reflects_verdict(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for name in TYPES {
            let desc = message(name);
            let mut wire = random_message(&desc, &mut rng, 3).encode_to_vec();
            mutate(&mut wire, &mut rng);
            if let Err(problem) = check_proto_to_json(&desc, &wire, &Default::default()) {
                prop_assert!(known_divergence(name, &problem), "{name} {wire:02x?}: {problem}");
            }
        }
    }

    #[test]
    fn mutated_json_gives_prost_reflects_verdict(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for name in TYPES {
            let desc = message(name);
            let original = random_message(&desc, &mut rng, 3);
            let Some(json) = print_message(&original, &Default::default()) else { continue };
            let mut text = json.to_string().into_bytes();
            mutate(&mut text, &mut rng);
            for opts in [super::JsonOptions::default(), super::JsonOptions { ignore_unknown_fields: false, ignore_unknown_enum_values: false, ..Default::default() }] {
                if let Err(problem) = check_json_to_proto(&desc, &text, &opts) {
                    prop_assert!(false, "{name} {} {opts:?}: {problem}", String::from_utf8_lossy(&text));
                }
            }
        }
    }

    #[test]
    fn random_text_gives_prost_reflects_verdict(text in r#"[{}\[\]":,0-9a-zA-Z_. eE+\-\\]{0,40}"#) {
        for name in TYPES {
            let desc = message(name);
            if let Err(problem) = check_json_to_proto(&desc, text.as_bytes(), &Default::default()) {
                prop_assert!(false, "{name} {text}: {problem}");
            }
        }
    }

    #[test]
    fn random_json_members_give_prost_reflects_verdict(
        members in vec((
            prop_oneof![Just("fInt32"), Just("fString"), Just("rInt32"), Just("mString"), Just("oString"),
                        Just("oInt32"), Just("timestamp"), Just("fEnum"), Just("nope"), Just("scalars")],
            prop_oneof![Just("1"), Just("-1"), Just("1.5"), Just("\"x\""), Just("null"), Just("[1,2]"),
                        Just("{}"), Just("{\"a\":1}"), Just("true"), Just("\"COLOR_RED\""), Just("1e2"),
                        Just("\"2024-01-02T03:04:05Z\""), Just("[null]"), Just("\"NaN\"")],
        ), 0..5)
    ) {
        let body = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",");
        let text = format!("{{{body}}}");
        for name in ["test.v1.Scalars", "test.v1.Repeated", "test.v1.Maps", "test.v1.Oneofs", "test.v1.WellKnown"] {
            for opts in [super::JsonOptions::default(), super::JsonOptions { ignore_unknown_fields: false, ignore_unknown_enum_values: false, ..Default::default() }] {
                if let Err(problem) = check_json_to_proto(&message(name), text.as_bytes(), &opts) {
                    prop_assert!(false, "{name} {text} {opts:?}: {problem}");
                }
            }
        }
    }
}
