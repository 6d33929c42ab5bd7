//! Protobuf → JSON on arbitrary bytes (`polygate::codec::protojson::proto_to_json`). The first
//! byte picks a message of the test proto (or a well-known type), the second the options. What
//! decodes is valid JSON; that JSON encodes again, and the re-encoded message prints the same
//! JSON value (members may move; but for an empty `FieldMask` path, which prints as an empty element and reads back as
//! nothing, as in the reference implementations). A failed call leaves the output buffer as it
//! was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::codec::protojson::{json_to_proto, proto_to_json, JsonOptions};
use polygate_fuzz::{assert_json, has_empty_field_mask_path, json_value, message, selector};

const PREFIX: &[u8] = b"prefix";

fuzz_target!(|data: &[u8]| {
    let (which, rest) = selector(data);
    let (bits, wire) = selector(rest);
    let desc = message(which);
    let write = JsonOptions {
        emit_unpopulated: bits & 2 != 0,
        use_proto_names: bits & 4 != 0,
        enums_as_ints: bits & 8 != 0,
        ..JsonOptions::default()
    };
    let mut json = PREFIX.to_vec();
    if proto_to_json(desc, wire, &write, &mut json).is_err() {
        assert_eq!(json, PREFIX, "a failed proto_to_json changed its output");
        return;
    }
    let json = &json[PREFIX.len()..];
    assert_json(json, "proto_to_json output");
    let read = JsonOptions::default();
    let mut again = Vec::new();
    if let Err(error) = json_to_proto(desc, json, &read, &mut again) {
        panic!(
            "{}: {wire:?} decodes to {:?}, which does not encode: {error}",
            desc.full_name(),
            String::from_utf8_lossy(json)
        );
    }
    let mut json_again = Vec::new();
    if let Err(error) = proto_to_json(desc, &again, &write, &mut json_again) {
        panic!(
            "{}: {wire:?} -> {:?} -> {again:?}, which does not decode: {error}",
            desc.full_name(),
            String::from_utf8_lossy(json)
        );
    }
    if has_empty_field_mask_path(desc, wire) {
        return;
    }
    // Members may come in another order: a field present on the wire with its default value
    // prints among the present fields, the same field absent among the unpopulated ones.
    assert!(
        json_value(&json_again) == json_value(json),
        "{}: {wire:?} prints differently after a round trip:\n{}\n{}",
        desc.full_name(),
        String::from_utf8_lossy(json),
        String::from_utf8_lossy(&json_again)
    );
});
