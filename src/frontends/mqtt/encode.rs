//! `Status` and answers → MQTT: the one place gRPC codes become MQTT 5 reason codes, the
//! canonical error JSON of error and reply topics, and the dead-letter envelope.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

use crate::model::{Code, Rejection, Status};
use crate::mqtt_client::MessageProperties;

/// The MQTT 5 reason code that says what a status says (carried as the `reason-code` user
/// property of error messages: polygate never refuses a delivery with a negative ack, which
/// would make the broker drop the message).
pub(crate) fn reason_code(status: &Status) -> u8 {
    match status.rejection() {
        Some(Rejection::TooLarge) => return 0x95,
        Some(Rejection::UnsupportedMediaType { .. }) => return 0x99,
        _ => {}
    }
    match status.code() {
        Code::Ok => 0x00,
        Code::InvalidArgument => 0x99,
        Code::PermissionDenied | Code::Unauthenticated => 0x87,
        Code::ResourceExhausted => 0x97,
        Code::Unknown | Code::Internal | Code::DataLoss => 0x80,
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Unavailable => 0x83,
    }
}

/// The canonical error JSON and the properties of an error message: JSON content type, the
/// gRPC code and the reason code as user properties, and the request's correlation data.
pub(crate) fn error_message(
    status: &Status,
    correlation: Option<Bytes>,
) -> (Bytes, MessageProperties) {
    let properties = MessageProperties {
        correlation_data: correlation,
        user_properties: vec![
            ("grpc-status".to_owned(), (status.code() as i32).to_string()),
            (
                "reason-code".to_owned(),
                format!("0x{:02x}", reason_code(status)),
            ),
        ],
        content_type: Some("application/json".to_owned()),
        utf8_payload: true,
        ..MessageProperties::default()
    };
    (Bytes::from(status.to_json()), properties)
}

/// What a dead letter records.
pub(crate) struct DeadLetter<'a> {
    /// The route, as `polygate check` shows it (`PUBLISH devices/{id}/telemetry`).
    pub(crate) route: &'a str,
    /// The topic the message was published to.
    pub(crate) topic: &'a str,
    /// The publishing device's client id, when the broker tells it.
    pub(crate) client_id: Option<&'a str>,
    /// The bridge's client id.
    pub(crate) gateway: &'a str,
    /// The original payload.
    pub(crate) payload: &'a [u8],
    /// The last error.
    pub(crate) status: &'a Status,
    /// How many calls were made.
    pub(crate) attempts: u32,
}

impl DeadLetter<'_> {
    /// The envelope: `{"route","topic","clientId","gateway","payload"(base64),"status","attempts"}`.
    pub(crate) fn to_json(&self) -> Bytes {
        let mut out = Vec::with_capacity(160 + self.payload.len() * 4 / 3 + self.topic.len());
        out.extend_from_slice(b"{\"route\":");
        write_string(&mut out, self.route);
        out.extend_from_slice(b",\"topic\":");
        write_string(&mut out, self.topic);
        out.extend_from_slice(b",\"clientId\":");
        match self.client_id {
            Some(id) => write_string(&mut out, id),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"gateway\":");
        write_string(&mut out, self.gateway);
        out.extend_from_slice(b",\"payload\":\"");
        out.extend_from_slice(STANDARD.encode(self.payload).as_bytes());
        out.extend_from_slice(b"\",\"status\":");
        self.status.write_json(&mut out);
        out.extend_from_slice(b",\"attempts\":");
        out.extend_from_slice(self.attempts.to_string().as_bytes());
        out.push(b'}');
        Bytes::from(out)
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorSource;

    #[test]
    fn every_code_has_a_reason_code() {
        let table = [
            (Code::Ok, 0x00),
            (Code::Cancelled, 0x83),
            (Code::Unknown, 0x80),
            (Code::InvalidArgument, 0x99),
            (Code::DeadlineExceeded, 0x83),
            (Code::NotFound, 0x83),
            (Code::AlreadyExists, 0x83),
            (Code::PermissionDenied, 0x87),
            (Code::ResourceExhausted, 0x97),
            (Code::FailedPrecondition, 0x83),
            (Code::Aborted, 0x83),
            (Code::OutOfRange, 0x83),
            (Code::Unimplemented, 0x83),
            (Code::Internal, 0x80),
            (Code::Unavailable, 0x83),
            (Code::DataLoss, 0x80),
            (Code::Unauthenticated, 0x87),
        ];
        for (code, expected) in table {
            let status = Status::new(code, "x", ErrorSource::Backend);
            assert_eq!(reason_code(&status), expected, "{code:?}");
        }
        assert_eq!(reason_code(&Status::too_large("big")), 0x95);
        assert_eq!(
            reason_code(&Status::unsupported_media_type("no", "application/json")),
            0x99
        );
    }

    #[test]
    fn error_messages_carry_the_canonical_json_and_the_correlation_bytes() {
        let status = Status::invalid_argument("invalid JSON body: expected value");
        let (payload, properties) = error_message(&status, Some(Bytes::from_static(b"\x00\xff")));
        assert_eq!(
            payload,
            Bytes::from_static(
                br#"{"code":3,"message":"invalid JSON body: expected value","details":[]}"#
            )
        );
        assert_eq!(
            properties.correlation_data,
            Some(Bytes::from_static(b"\x00\xff"))
        );
        assert_eq!(
            properties.user_properties,
            vec![
                ("grpc-status".to_owned(), "3".to_owned()),
                ("reason-code".to_owned(), "0x99".to_owned())
            ]
        );
    }

    #[test]
    fn dead_letters_keep_the_payload_in_base64() {
        let status = Status::unavailable("backend 'test' is unreachable");
        let letter = DeadLetter {
            route: "PUBLISH devices/{id}/telemetry",
            topic: "devices/d\"1/telemetry",
            client_id: None,
            gateway: "polygate",
            payload: b"\x00{\"seq\":1}",
            status: &status,
            attempts: 3,
        };
        let json: serde_json::Value = serde_json::from_slice(&letter.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "route": "PUBLISH devices/{id}/telemetry",
                "topic": "devices/d\"1/telemetry",
                "clientId": null,
                "gateway": "polygate",
                "payload": "AHsic2VxIjoxfQ==",
                "status": {"code": 14, "message": "backend 'test' is unreachable", "details": []},
                "attempts": 3
            })
        );
    }
}
