//! The WebSocket frontend's `polygate.v1` envelope (`frontends/websocket/protocol.rs`): one
//! text frame read as the connection driver reads it, and the frames written back for it. A
//! frame never panics the reader; every frame written back is one JSON object whose `id`, when
//! the input named a call, is exactly that call's id (the writer escapes ids once, by hand).
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::frontends::websocket::envelope_for_fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (id, frames) = envelope_for_fuzzing(text);
    for frame in frames {
        let value: serde_json::Value = serde_json::from_slice(&frame)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&frame)));
        let object = value.as_object().expect("a JSON object");
        assert!(object["type"].is_string());
        match (&id, object.get("id")) {
            (Some(id), Some(written)) => assert_eq!(written.as_str(), Some(id.as_str())),
            (None, Some(written)) => panic!("an id {written} the input did not name"),
            (_, None) => {}
        }
    }
});
