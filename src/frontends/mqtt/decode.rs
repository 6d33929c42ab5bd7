//! A delivered message → `GatewayRequest`: the topic is the route key, the payload the body
//! in the route's format (JSON, protobuf or raw bytes), MQTT 5 user properties and content
//! type become metadata, and a message expiry shortens the deadline.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::mapping::messages::{MessageOptions, PayloadFormat};
use crate::model::{
    Caller, Code, ErrorSource, FrontendKind, GatewayRequest, Payload, Rejection, RequestBody,
    RequestKey, Status,
};
use crate::mqtt_client::InboundMessage;

/// The metadata key carrying the message's MQTT 5 content type.
pub(crate) const CONTENT_TYPE_KEY: HeaderName = HeaderName::from_static("mqtt-content-type");
/// The metadata key carrying the topic the message was published to.
pub(crate) const TOPIC_KEY: HeaderName = HeaderName::from_static("mqtt-topic");

/// The request a message makes, or the code-3 error of a payload over `max_payload_size`.
pub(crate) fn decode(
    message: &InboundMessage,
    options: &MessageOptions,
    max_payload_size: usize,
) -> Result<GatewayRequest, Status> {
    if message.payload.len() > max_payload_size {
        return Err(Status::new(
            Code::InvalidArgument,
            format!(
                "the payload of {} bytes exceeds the limit of {max_payload_size} bytes",
                message.payload.len()
            ),
            ErrorSource::Client,
        )
        .with_rejection(Rejection::TooLarge));
    }
    let body = if message.payload.is_empty() {
        RequestBody::Empty
    } else {
        let data = message.payload.clone();
        RequestBody::Unary(match options.payload {
            PayloadFormat::Json => Payload::Json(data),
            PayloadFormat::Protobuf => Payload::Protobuf(data),
            PayloadFormat::Raw => Payload::Raw {
                content_type: message
                    .properties
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                data,
            },
        })
    };
    Ok(GatewayRequest {
        key: RequestKey::Topic {
            topic: message.topic.as_str().into(),
        },
        body,
        metadata: metadata(message),
        caller: Caller {
            frontend: FrontendKind::Mqtt,
            client_id: client_id(message),
            ..Caller::default()
        },
        timeout: message
            .properties
            .message_expiry
            .map(|seconds| Duration::from_secs(u64::from(seconds))),
    })
}

/// The publishing client's id, as the embedded broker names it in the `x-mqtt-client-id` user
/// property of MQTT 5 messages.
fn client_id(message: &InboundMessage) -> Option<Box<str>> {
    message
        .properties
        .user_properties
        .iter()
        .rev()
        .find(|(key, _)| key == "x-mqtt-client-id")
        .map(|(_, value)| value.as_str().into())
}

/// User properties with a valid gRPC metadata key and a printable ASCII value, the content
/// type, and the topic. Others are skipped, as the HTTP frontend skips such headers.
fn metadata(message: &InboundMessage) -> HeaderMap {
    let properties = &message.properties;
    let mut metadata = HeaderMap::with_capacity(properties.user_properties.len() + 2);
    for (key, value) in &properties.user_properties {
        let key = key.to_ascii_lowercase();
        if !is_metadata_key(&key) || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            metadata.append(name, value);
        }
    }
    if let Some(value) = properties
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        metadata.insert(CONTENT_TYPE_KEY, value);
    }
    if let Ok(topic) = HeaderValue::from_str(&message.topic) {
        metadata.insert(TOPIC_KEY, topic);
    }
    metadata
}

/// gRPC metadata keys: lowercase letters, digits, `-`, `_` and `.`; not reserved for gRPC;
/// binary (`-bin`) values are not text and are skipped.
fn is_metadata_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with("grpc-")
        && !key.ends_with("-bin")
        && key != "content-type"
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::mapping::messages::MessageOptionsConfig;
    use crate::mqtt_client::MessageProperties;

    fn message(payload: &'static [u8], properties: MessageProperties) -> InboundMessage {
        InboundMessage {
            topic: "devices/d-1/telemetry".into(),
            payload: Bytes::from_static(payload),
            qos: 1,
            pkid: 1,
            dup: false,
            properties,
        }
    }

    fn options(payload: PayloadFormat) -> MessageOptions {
        MessageOptionsConfig {
            payload: Some(payload),
            ..Default::default()
        }
        .resolve(&[])
        .unwrap()
    }

    #[test]
    fn user_properties_and_content_type_become_metadata() {
        let properties = MessageProperties {
            user_properties: vec![
                ("X-Trace".into(), "t-1".into()),
                ("grpc-timeout".into(), "1S".into()),
                ("bad key".into(), "v".into()),
                ("x-bin".into(), "AAEC".into()),
                ("x-nonascii".into(), "é".into()),
            ],
            content_type: Some("application/json".into()),
            message_expiry: Some(3),
            ..Default::default()
        };
        let request = decode(
            &message(b"{}", properties),
            &options(PayloadFormat::Json),
            16,
        )
        .unwrap();
        let pairs: Vec<(String, String)> = request
            .metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("x-trace".to_owned(), "t-1".to_owned()),
                (
                    "mqtt-content-type".to_owned(),
                    "application/json".to_owned()
                ),
                ("mqtt-topic".to_owned(), "devices/d-1/telemetry".to_owned()),
            ]
        );
        assert_eq!(request.timeout, Some(Duration::from_secs(3)));
        assert!(
            matches!(request.key, RequestKey::Topic { ref topic } if &**topic == "devices/d-1/telemetry")
        );
    }

    #[test]
    fn the_payload_takes_the_route_format_and_the_size_limit() {
        let raw = decode(
            &message(b"\x01\x02", MessageProperties::default()),
            &options(PayloadFormat::Raw),
            16,
        )
        .unwrap();
        assert!(
            matches!(raw.body, RequestBody::Unary(Payload::Raw { ref content_type, .. }) if content_type == "application/octet-stream")
        );
        let proto = decode(
            &message(b"\x08\x01", MessageProperties::default()),
            &options(PayloadFormat::Protobuf),
            16,
        )
        .unwrap();
        assert!(matches!(
            proto.body,
            RequestBody::Unary(Payload::Protobuf(_))
        ));
        let empty = decode(
            &message(b"", MessageProperties::default()),
            &options(PayloadFormat::Json),
            16,
        )
        .unwrap();
        assert!(matches!(empty.body, RequestBody::Empty));
        let big = decode(
            &message(b"0123456789abcdefg", MessageProperties::default()),
            &options(PayloadFormat::Json),
            16,
        )
        .unwrap_err();
        assert_eq!(big.code(), Code::InvalidArgument);
        assert_eq!(
            big.message(),
            "the payload of 17 bytes exceeds the limit of 16 bytes"
        );
    }
}
