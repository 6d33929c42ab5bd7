//! Envelope messages → `GatewayRequest`: the route key (a route named as REST clients name it,
//! or a gRPC method), the metadata of the connection and of the call, and the body — one
//! message, or a stream fed by `send` messages as the backend takes them.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::call::CallControl;
use super::protocol::Target;
use crate::frontends::http::{is_base64, is_metadata_key, is_printable_ascii, request_key};
use crate::model::{Payload, RequestKey, Status};

/// The route key a call names.
pub(crate) fn key(target: &Target<'_>) -> Result<RequestKey, Status> {
    match target {
        Target::Route { method, path } => {
            let method =
                Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    Status::invalid_argument(format!("'{method}' is not an HTTP method"))
                })?;
            let uri = Uri::try_from(&**path)
                .map_err(|e| Status::invalid_argument(format!("path '{path}': {e}")))?;
            Ok(request_key(method, uri))
        }
        Target::Rpc(name) => Ok(RequestKey::Method {
            name: method_name(name).into(),
        }),
    }
}

/// `pkg.Service/Method` from that form, `/pkg.Service/Method` or `pkg.Service.Method`.
fn method_name(name: &str) -> String {
    let name = name.trim_start_matches('/');
    if name.contains('/') {
        return name.to_owned();
    }
    match name.rsplit_once('.') {
        Some((service, method)) => format!("{service}/{method}"),
        None => name.to_owned(),
    }
}

/// Metadata written as a JSON object (`init` and `call`): keys are gRPC metadata keys (any
/// case), values printable ASCII, and base64 for keys ending in `-bin`.
pub(crate) fn metadata(entries: &BTreeMap<String, String>) -> Result<HeaderMap, Status> {
    let mut metadata = HeaderMap::with_capacity(entries.len());
    for (key, value) in entries {
        let lower = key.to_ascii_lowercase();
        let name = HeaderName::from_bytes(lower.as_bytes())
            .ok()
            .filter(|name| is_metadata_key(name.as_str()))
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "metadata key '{key}' is not a gRPC metadata key (letters, digits, '-', '_', '.'; not grpc-*)"
                ))
            })?;
        let value = HeaderValue::from_str(value)
            .ok()
            .filter(|value| {
                if lower.ends_with("-bin") {
                    is_base64(value.as_bytes())
                } else {
                    is_printable_ascii(value)
                }
            })
            .ok_or_else(|| {
                Status::invalid_argument(if lower.ends_with("-bin") {
                    format!("metadata '{key}' must be base64, as its -bin suffix says")
                } else {
                    format!("metadata '{key}' must be printable ASCII")
                })
            })?;
        metadata.insert(name, value);
    }
    Ok(metadata)
}

/// A call's metadata: the connection's (forwarded upgrade headers, then `init` metadata), with
/// the call's own replacing keys they share.
pub(crate) fn call_metadata(connection: &HeaderMap, call: HeaderMap) -> HeaderMap {
    let mut metadata = connection.clone();
    let mut current = None;
    for (name, value) in call {
        if let Some(name) = name {
            metadata.remove(&name);
            current = Some(name);
        }
        if let Some(name) = &current {
            metadata.append(name.clone(), value);
        }
    }
    metadata
}

/// The bytes of a message inside the frame that carried it, without copying.
pub(crate) fn message_bytes(frame: &Bytes, message: &RawValue) -> Payload {
    Payload::Json(frame.slice_ref(message.get().as_bytes()))
}

/// A client message queued for the backend, holding its share of the connection's queued
/// bytes until the backend takes it.
pub(crate) struct Inbound {
    pub(crate) message: Payload,
    pub(crate) _bytes: OwnedSemaphorePermit,
}

/// The request messages of a streaming call: the call's first message, then each `send` as
/// the backend takes it; each taken message is credit to give back to the client. Ends when
/// the client half-closes (the sender is dropped).
pub(crate) struct RequestStream {
    first: Option<Payload>,
    queued: mpsc::Receiver<Inbound>,
    control: Arc<CallControl>,
}

impl RequestStream {
    pub(crate) fn new(
        first: Option<Payload>,
        queued: mpsc::Receiver<Inbound>,
        control: Arc<CallControl>,
    ) -> Self {
        Self {
            first,
            queued,
            control,
        }
    }
}

impl Stream for RequestStream {
    type Item = Result<Payload, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        match this.queued.poll_recv(cx) {
            Poll::Ready(Some(inbound)) => {
                this.control.taken();
                Poll::Ready(Some(Ok(inbound.message)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_named_in_any_of_three_forms() {
        for name in ["pkg.v1.Svc/Call", "/pkg.v1.Svc/Call", "pkg.v1.Svc.Call"] {
            let key = key(&Target::Rpc(name.into())).unwrap();
            assert_eq!(key.target(), "pkg.v1.Svc/Call", "{name}");
        }
    }

    #[test]
    fn routes_are_named_as_rest_clients_name_them() {
        let key = key(&Target::Route {
            method: "get".into(),
            path: "/v1/x/1?a=b".into(),
        })
        .unwrap();
        assert_eq!(key.verb(), Some(&Method::GET));
        assert_eq!(key.target(), "/v1/x/1");
        assert_eq!(key.query(), Some("a=b"));
        let bad = super::key(&Target::Route {
            method: "G ET".into(),
            path: "/".into(),
        })
        .unwrap_err();
        assert_eq!(bad.message(), "'G ET' is not an HTTP method");
    }

    #[test]
    fn metadata_follows_grpc_rules_and_the_call_wins() {
        let entries = BTreeMap::from([
            ("X-Trace".to_owned(), "t1".to_owned()),
            ("token-bin".to_owned(), "AAEC".to_owned()),
        ]);
        let call = metadata(&entries).unwrap();
        assert_eq!(call["x-trace"], "t1");
        let bad = |key: &str, value: &str| {
            metadata(&BTreeMap::from([(key.to_owned(), value.to_owned())]))
                .unwrap_err()
                .message()
                .to_owned()
        };
        assert_eq!(
            bad("grpc-status", "0"),
            "metadata key 'grpc-status' is not a gRPC metadata key (letters, digits, '-', '_', '.'; not grpc-*)"
        );
        assert_eq!(
            bad("a-bin", "***"),
            "metadata 'a-bin' must be base64, as its -bin suffix says"
        );
        assert_eq!(bad("a", "é"), "metadata 'a' must be printable ASCII");
        let mut connection = HeaderMap::new();
        connection.insert("x-trace", HeaderValue::from_static("t0"));
        connection.insert("authorization", HeaderValue::from_static("Bearer a"));
        let merged = call_metadata(&connection, call);
        assert_eq!(merged["x-trace"], "t1");
        assert_eq!(merged["authorization"], "Bearer a");
        assert_eq!(merged.get_all("x-trace").iter().count(), 1);
    }

    #[test]
    fn messages_are_slices_of_their_frame() {
        let frame = Bytes::from_static(br#"{"type":"send","id":"1","message":{"a":[1,2]}}"#);
        let text = std::str::from_utf8(&frame).unwrap();
        let parsed: BTreeMap<&str, &RawValue> = serde_json::from_str(text).unwrap();
        let Payload::Json(bytes) = message_bytes(&frame, parsed["message"]) else {
            panic!("JSON")
        };
        assert_eq!(&bytes[..], br#"{"a":[1,2]}"#);
        assert_eq!(bytes.as_ptr(), frame[34..].as_ptr());
    }
}
