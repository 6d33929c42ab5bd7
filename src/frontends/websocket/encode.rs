//! Answers and `Status` → WebSocket: the one place a status becomes an `error` message or a
//! close code, and answer payloads become the JSON a text frame carries.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::protocol::{self, IdTag};
use super::session::Close;
use crate::model::{Payload, Rejection, Status};

/// The longest close reason a close frame carries (125 bytes of payload less the code).
const MAX_REASON: usize = 123;

/// The close code that ends a socket of the direct binding: 1000 when the call ended with OK,
/// 1009 for a message over a size limit, otherwise 4000 + the gRPC code (4005 for NOT_FOUND).
pub(crate) fn close_code(status: Option<&Status>) -> u16 {
    match status {
        None => 1000,
        Some(status) => match status.rejection() {
            Some(Rejection::TooLarge) => 1009,
            _ => 4000 + status.code() as u16,
        },
    }
}

/// The close frame for the end of a direct-binding call: its code, and the status message as
/// the reason.
pub(crate) fn status_close(status: Option<&Status>) -> CloseFrame {
    close_frame(close_code(status), status.map_or("", Status::message))
}

/// The close frame of a connection-level reason.
pub(crate) fn close(reason: &Close) -> CloseFrame {
    close_frame(reason.code(), &reason.reason())
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(truncate(reason, MAX_REASON)),
    }
}

/// `text` cut to at most `limit` bytes, on a character boundary.
pub(crate) fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The `error` message of the envelope: ends call `id`, or (without id) reports a dropped
/// message. The error object is the canonical `{"code","message","details"}`.
pub(crate) fn error_message(id: Option<&IdTag>, status: &Status) -> Vec<u8> {
    protocol::error(id, |out| status.write_json(out))
}

/// An answer message as JSON text: JSON as it is; a `google.api.HttpBody` (raw bytes) as its
/// proto3 JSON form, `{"contentType","data"}` with the data in base64; XML as a JSON string.
pub(crate) fn message_json(message: &Payload) -> Cow<'_, [u8]> {
    match message {
        Payload::Json(json) => Cow::Borrowed(json),
        Payload::Raw { content_type, data } => Cow::Owned(
            serde_json::json!({"contentType": content_type, "data": STANDARD.encode(data)})
                .to_string()
                .into_bytes(),
        ),
        Payload::Xml(xml) => Cow::Owned(
            serde_json::Value::from(String::from_utf8_lossy(xml))
                .to_string()
                .into_bytes(),
        ),
        Payload::Protobuf(bytes) => Cow::Owned(
            serde_json::Value::from(STANDARD.encode(bytes))
                .to_string()
                .into_bytes(),
        ),
    }
}

/// A direct-binding answer frame, `{"result":…}` as grpc-websocket-proxy writes it.
pub(crate) fn result_frame(message: &Payload) -> Vec<u8> {
    let json = message_json(message);
    let mut out = Vec::with_capacity(json.len() + 11);
    out.extend_from_slice(b"{\"result\":");
    out.extend_from_slice(&json);
    out.push(b'}');
    out
}

/// The direct binding's last frame for a failed call, `{"error":{…}}`.
pub(crate) fn error_frame(status: &Status) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"{\"error\":");
    status.write_json(&mut out);
    out.push(b'}');
    out
}

/// A text message from JSON bytes the gateway wrote (always UTF-8).
pub(crate) fn text(json: Vec<u8>) -> Message {
    match Utf8Bytes::try_from(Bytes::from(json)) {
        Ok(text) => Message::Text(text),
        // Unreachable for JSON the gateway wrote; answered as an error rather than a panic.
        Err(_) => Message::Text(Utf8Bytes::from_static(
            r#"{"type":"error","error":{"code":13,"message":"the gateway wrote a message that is not UTF-8","details":[]}}"#,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Code, ErrorSource};

    #[test]
    fn every_status_has_its_close_code() {
        assert_eq!(close_code(None), 1000);
        let table = [
            (Code::Cancelled, 4001),
            (Code::Unknown, 4002),
            (Code::InvalidArgument, 4003),
            (Code::DeadlineExceeded, 4004),
            (Code::NotFound, 4005),
            (Code::AlreadyExists, 4006),
            (Code::PermissionDenied, 4007),
            (Code::ResourceExhausted, 4008),
            (Code::FailedPrecondition, 4009),
            (Code::Aborted, 4010),
            (Code::OutOfRange, 4011),
            (Code::Unimplemented, 4012),
            (Code::Internal, 4013),
            (Code::Unavailable, 4014),
            (Code::DataLoss, 4015),
            (Code::Unauthenticated, 4016),
        ];
        for (code, expected) in table {
            let status = Status::new(code, "x", ErrorSource::Backend);
            assert_eq!(close_code(Some(&status)), expected, "{code:?}");
        }
        assert_eq!(close_code(Some(&Status::too_large("big"))), 1009);
        assert_eq!(
            close_code(Some(&Status::upstream_fault(Code::Unknown, "fault"))),
            4002
        );
    }

    #[test]
    fn reasons_are_cut_to_123_bytes_on_a_character_boundary() {
        let long = "é".repeat(100);
        let frame = status_close(Some(&Status::internal(long.clone())));
        assert_eq!(u16::from(frame.code), 4013);
        assert_eq!(frame.reason.len(), 122);
        assert!(long.starts_with(frame.reason.as_str()));
        assert_eq!(truncate("short", 123), "short");
        assert_eq!(u16::from(close(&Close::InitTimeout).code), 4408);
    }

    #[test]
    fn errors_are_the_canonical_shape() {
        let status = Status::not_found("no route for GET /x");
        assert_eq!(
            String::from_utf8(error_message(Some(&IdTag::new("7")), &status)).unwrap(),
            r#"{"type":"error","id":"7","error":{"code":5,"message":"no route for GET /x","details":[]}}"#
        );
        assert_eq!(
            String::from_utf8(error_frame(&status)).unwrap(),
            r#"{"error":{"code":5,"message":"no route for GET /x","details":[]}}"#
        );
    }

    #[test]
    fn answers_become_json() {
        assert_eq!(
            String::from_utf8(result_frame(&Payload::Json(Bytes::from_static(
                b"{\"a\":1}"
            ))))
            .unwrap(),
            r#"{"result":{"a":1}}"#
        );
        assert_eq!(
            &*message_json(&Payload::Raw {
                content_type: "text/plain".into(),
                data: Bytes::from_static(b"hi")
            }),
            br#"{"contentType":"text/plain","data":"aGk="}"#
        );
        assert_eq!(
            &*message_json(&Payload::Xml(Bytes::from_static(b"<a/>"))),
            br#""<a/>""#
        );
    }
}
