//! JSON → protobuf → JSON → protobuf (`polygate::codec::protojson`). The first byte picks a
//! message of the test proto (or a well-known type), the second the options. Whatever
//! `json_to_proto` accepts must come back from `proto_to_json` as valid JSON, and that JSON must
//! re-encode to the same message (the same bytes up to the order of fields, which protobuf
//! leaves open and `json_to_proto` takes from the JSON); printing it again gives the same JSON
//! value, and encoding that JSON again the very same bytes (but for `Struct` entries, which
//! prost-reflect encodes in no fixed order). A failed call leaves the output buffer as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::codec::protojson::{json_to_proto, proto_to_json, JsonOptions};
use polygate_fuzz::{
    assert_json, has_unordered_struct, json_value, message, same_message, selector,
};

const PREFIX: &[u8] = b"prefix";

fuzz_target!(|data: &[u8]| {
    let (which, rest) = selector(data);
    let (bits, json) = selector(rest);
    let desc = message(which);
    let read = JsonOptions {
        ignore_unknown_fields: bits & 1 == 0,
        ignore_unknown_enum_values: bits & 1 == 0,
        ..JsonOptions::default()
    };
    let write = JsonOptions {
        emit_unpopulated: bits & 2 != 0,
        use_proto_names: bits & 4 != 0,
        enums_as_ints: bits & 8 != 0,
        ignore_unknown_fields: read.ignore_unknown_fields,
        ignore_unknown_enum_values: read.ignore_unknown_enum_values,
    };
    let mut wire = PREFIX.to_vec();
    if json_to_proto(desc, json, &read, &mut wire).is_err() {
        assert_eq!(wire, PREFIX, "a failed json_to_proto changed its output");
        return;
    }
    let wire = &wire[PREFIX.len()..];
    let mut back = Vec::new();
    if let Err(error) = proto_to_json(desc, wire, &write, &mut back) {
        panic!(
            "{}: accepted {:?} as {wire:?}, which does not decode: {error}",
            desc.full_name(),
            String::from_utf8_lossy(json)
        );
    }
    assert_json(&back, "proto_to_json output");
    // Protobuf leaves the order of fields on the wire open, and `json_to_proto` writes them in
    // the order of the JSON members: the bytes may differ, the message may not.
    let mut again = Vec::new();
    if let Err(error) = json_to_proto(desc, &back, &read, &mut again) {
        panic!(
            "{}: {:?} -> {wire:?} -> {:?}, which does not encode: {error}",
            desc.full_name(),
            String::from_utf8_lossy(json),
            String::from_utf8_lossy(&back)
        );
    }
    assert!(
        same_message(desc, wire, &again),
        "{}: {:?} -> {:?} re-encodes to another message",
        desc.full_name(),
        String::from_utf8_lossy(json),
        String::from_utf8_lossy(&back)
    );
    // From the gateway's own JSON on, the JSON is a fixed point, and so are the bytes (but for
    // `Struct`s, whose entries prost-reflect encodes in no fixed order).
    let mut printed = Vec::new();
    if let Err(error) = proto_to_json(desc, &again, &write, &mut printed) {
        panic!("{}: {again:?} does not decode: {error}", desc.full_name());
    }
    assert!(
        json_value(&printed) == json_value(&back),
        "{}: {:?} prints differently after a round trip:\n{}\n{}",
        desc.full_name(),
        String::from_utf8_lossy(json),
        String::from_utf8_lossy(&back),
        String::from_utf8_lossy(&printed)
    );
    let mut fixed = Vec::new();
    json_to_proto(desc, &back, &read, &mut fixed).expect("the same JSON encodes again");
    if fixed != again {
        assert!(
            has_unordered_struct(desc, &again) && same_message(desc, &fixed, &again),
            "{}: {:?} encodes to other bytes the second time",
            desc.full_name(),
            String::from_utf8_lossy(&back)
        );
    }
});
