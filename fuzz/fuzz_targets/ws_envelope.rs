//! The WebSocket frontend's `polygate.v1` envelope (`frontends/websocket/protocol.rs`): one
//! text frame read as the connection driver reads it, and the frames written back for it. A
//! frame never panics the reader; every frame written back is one JSON object whose `id`, when
//! the input named a call, is exactly that call's id (the writer escapes ids once, by hand).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use polygate::frontends::websocket::envelope_for_fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (id, frames) = envelope_for_fuzzing(text);
    for frame in frames {
        // Members are kept raw: JSON numbers have no range, and a client's `5E222222222210`
        // echoed in a pong is valid JSON that serde_json's `Value` would refuse as out of range.
        let object: BTreeMap<String, &RawValue> = serde_json::from_slice(&frame)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&frame)));
        let kind: String = serde_json::from_str(object["type"].get()).expect("a string type");
        assert!(!kind.is_empty());
        match (&id, object.get("id")) {
            (Some(id), Some(written)) => {
                let written: String = serde_json::from_str(written.get()).expect("a string id");
                assert_eq!(&written, id);
            }
            (None, Some(written)) => panic!("an id {written} the input did not name"),
            (_, None) => {}
        }
    }
});
