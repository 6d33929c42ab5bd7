//! Not part of the API: the way in for the `ws_envelope` fuzz target (`fuzz/`), since the
//! envelope reader and writer are otherwise reached only through a socket.

use bytes::Bytes;

use super::decode;
use super::encode;
use super::protocol::{self, ClientMessage, IdTag};
use crate::model::Status;

/// What the connection driver would make of one text frame, before routing: the call id the
/// frame names (if any) and the frames written back for it — an `error` for a frame that is
/// refused, otherwise a `next` echoing the frame's message (or a `complete`), a `pong`, or
/// nothing. Every frame written back must be one JSON object carrying exactly that id.
#[doc(hidden)]
pub fn envelope_for_fuzzing(text: &str) -> (Option<String>, Vec<Vec<u8>>) {
    // The message payloads are sliced out of the frame's bytes, as the driver slices them.
    let frame = Bytes::copy_from_slice(text.as_bytes());
    let text = std::str::from_utf8(&frame).expect("a copy of a str");
    let message = match protocol::parse(text) {
        Ok(message) => message,
        Err(error) => {
            let tag = error.call_id.as_deref().map(IdTag::new);
            let status = Status::invalid_argument(error.message);
            return (
                error.call_id,
                vec![encode::error_message(tag.as_ref(), &status)],
            );
        }
    };
    let echo = |id: &str, message: Option<&serde_json::value::RawValue>| {
        let tag = IdTag::new(id);
        let frame = match message {
            Some(message) => protocol::next(&tag, decode::message_bytes(&frame, message).bytes()),
            None => protocol::complete(&tag, &http::HeaderMap::new()),
        };
        (Some(id.to_owned()), vec![frame])
    };
    match message {
        ClientMessage::Init { metadata } => match decode::metadata(&metadata) {
            Ok(_) => (None, vec![protocol::INIT_ACK.as_bytes().to_vec()]),
            Err(status) => (None, vec![encode::error_message(None, &status)]),
        },
        ClientMessage::Call(call) => match decode::metadata(&call.metadata) {
            Ok(metadata) => {
                let (id, mut frames) = echo(&call.id, call.message);
                frames.insert(0, protocol::headers(&IdTag::new(&call.id), &metadata));
                (id, frames)
            }
            Err(status) => {
                let tag = IdTag::new(&call.id);
                (
                    Some(call.id.into_owned()),
                    vec![encode::error_message(Some(&tag), &status)],
                )
            }
        },
        ClientMessage::Send { id, message } => echo(&id, Some(message)),
        ClientMessage::HalfClose { id } | ClientMessage::Cancel { id } => echo(&id, None),
        ClientMessage::Request { id, n } => {
            let frame = protocol::request(&IdTag::new(&id), n);
            (Some(id.into_owned()), vec![frame])
        }
        ClientMessage::Ping { payload } => (None, vec![protocol::pong(payload)]),
        ClientMessage::Pong => (None, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::envelope_for_fuzzing;

    #[test]
    fn the_fuzzing_entry_answers_as_the_driver_does() {
        assert_eq!(
            envelope_for_fuzzing(r#"{"type":"send","id":"a\"b","message":{"x":1}}"#),
            (
                Some("a\"b".to_owned()),
                vec![br#"{"type":"next","id":"a\"b","message":{"x":1}}"#.to_vec()]
            )
        );
        let (id, frames) =
            envelope_for_fuzzing(r#"{"type":"call","id":"c1","rpc":"a.B/C","timeout":"soon"}"#);
        assert_eq!(id.as_deref(), Some("c1"));
        let error: serde_json::Value = serde_json::from_slice(&frames[0]).unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["id"], "c1");
        assert_eq!(error["error"]["code"], 3);
        assert_eq!(
            envelope_for_fuzzing(r#"{"type":"ping","payload":[1]}"#),
            (None, vec![br#"{"type":"pong","payload":[1]}"#.to_vec()])
        );
    }
}
