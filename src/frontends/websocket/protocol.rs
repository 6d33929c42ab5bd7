//! The `polygate.v1` envelope: every message a JSON object whose `type` names it. Client
//! messages are read here without copying their `message` payloads; server messages are written
//! straight into the frame's bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use http::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::units::parse_duration;

/// The subprotocol of the multiplexed endpoint.
pub(crate) const SUBPROTOCOL: &str = "polygate.v1";

/// The longest call id accepted, in bytes.
pub(crate) const MAX_ID_LEN: usize = 128;

/// What a call names: a route as REST clients name it, or a gRPC method.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// An HTTP method and a path (with an optional query), matched against the path templates.
    Route {
        /// `GET`, `POST`, …
        method: Cow<'a, str>,
        /// `/v1/shelves/1?view=full`.
        path: Cow<'a, str>,
    },
    /// `pkg.Service/Method`.
    Rpc(Cow<'a, str>),
}

/// A `call` message.
#[derive(Debug)]
pub(crate) struct CallFrame<'a> {
    /// The client's id for the call.
    pub(crate) id: Cow<'a, str>,
    /// The route or method.
    pub(crate) target: Target<'a>,
    /// Metadata for the backend.
    pub(crate) metadata: BTreeMap<String, String>,
    /// The request message (unary and server-streaming calls), or the first one.
    pub(crate) message: Option<&'a RawValue>,
    /// The client's deadline for the call.
    pub(crate) timeout: Option<Duration>,
    /// Answer messages the server may send before the client grants more.
    pub(crate) credit: Option<u64>,
}

/// A client message.
#[derive(Debug)]
pub(crate) enum ClientMessage<'a> {
    /// `init`: the first message; its metadata goes with every call of the connection.
    Init {
        /// Connection metadata.
        metadata: BTreeMap<String, String>,
    },
    /// `call`: starts a call.
    Call(CallFrame<'a>),
    /// `send`: one client-stream message.
    Send {
        /// The call.
        id: Cow<'a, str>,
        /// The message.
        message: &'a RawValue,
    },
    /// `half_close`: the client stream is complete.
    HalfClose {
        /// The call.
        id: Cow<'a, str>,
    },
    /// `cancel`: ends the call and the backend call.
    Cancel {
        /// The call.
        id: Cow<'a, str>,
    },
    /// `request`: the client takes `n` more answer messages.
    Request {
        /// The call.
        id: Cow<'a, str>,
        /// How many.
        n: u64,
    },
    /// `ping`: answered with `pong` and the same payload.
    Ping {
        /// Anything.
        payload: Option<&'a RawValue>,
    },
    /// `pong`: ignored.
    Pong,
}

/// A client message that cannot be read; `call_id` is set when it is a `call` message whose id
/// could be read, so the error ends that call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FrameError {
    /// The id of the call the frame would have started.
    pub(crate) call_id: Option<String>,
    /// What is wrong.
    pub(crate) message: String,
}

impl FrameError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            call_id: None,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    path: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    rpc: Option<Cow<'a, str>>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    #[serde(default, borrow)]
    timeout: Option<Cow<'a, str>>,
    #[serde(default)]
    credit: Option<u64>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
}

impl RawFrame<'_> {
    /// The names of the fields that are set, besides `type`.
    fn present(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("id", self.id.is_some()),
            ("method", self.method.is_some()),
            ("path", self.path.is_some()),
            ("rpc", self.rpc.is_some()),
            ("metadata", self.metadata.is_some()),
            ("message", self.message.is_some()),
            ("timeout", self.timeout.is_some()),
            ("credit", self.credit.is_some()),
            ("n", self.n.is_some()),
            ("payload", self.payload.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
    }

    fn only(&self, allowed: &[&str]) -> Result<(), FrameError> {
        match self.present().find(|name| !allowed.contains(name)) {
            None => Ok(()),
            Some(extra) => Err(FrameError::new(format!(
                "a '{}' message has no field '{extra}'",
                self.kind
            ))),
        }
    }
}

/// Reads one text frame.
pub(crate) fn parse(text: &str) -> Result<ClientMessage<'_>, FrameError> {
    let raw: RawFrame<'_> = serde_json::from_str(text).map_err(|e| {
        FrameError::new(format!(
            "a message must be a JSON object with a \"type\": {e}"
        ))
    })?;
    match &*raw.kind {
        "call" => parse_call(raw),
        "send" => {
            raw.only(&["id", "message"])?;
            let message = raw
                .message
                .ok_or_else(|| FrameError::new("a 'send' message needs a \"message\""))?;
            Ok(ClientMessage::Send {
                id: id_of(raw.id, "send")?,
                message,
            })
        }
        "half_close" => {
            raw.only(&["id"])?;
            Ok(ClientMessage::HalfClose {
                id: id_of(raw.id, "half_close")?,
            })
        }
        "cancel" => {
            raw.only(&["id"])?;
            Ok(ClientMessage::Cancel {
                id: id_of(raw.id, "cancel")?,
            })
        }
        "request" => {
            raw.only(&["id", "n"])?;
            let n = match raw.n {
                Some(n) if n > 0 => n,
                _ => {
                    return Err(FrameError::new(
                        "a 'request' message needs \"n\", a whole number above 0",
                    ))
                }
            };
            Ok(ClientMessage::Request {
                id: id_of(raw.id, "request")?,
                n,
            })
        }
        "init" => {
            raw.only(&["metadata", "payload"])?;
            Ok(ClientMessage::Init {
                metadata: raw.metadata.unwrap_or_default(),
            })
        }
        "ping" => {
            raw.only(&["payload"])?;
            Ok(ClientMessage::Ping {
                payload: raw.payload,
            })
        }
        "pong" => {
            raw.only(&["payload"])?;
            Ok(ClientMessage::Pong)
        }
        other => Err(FrameError::new(format!(
            "unknown message type '{other}' (polygate.v1 has init, call, send, half_close, cancel, request, ping and pong)"
        ))),
    }
}

fn id_of<'a>(id: Option<Cow<'a, str>>, kind: &str) -> Result<Cow<'a, str>, FrameError> {
    match id {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_LEN => Ok(id),
        Some(_) => Err(FrameError::new(format!(
            "a call id must have 1 to {MAX_ID_LEN} bytes"
        ))),
        None => Err(FrameError::new(format!(
            "a '{kind}' message needs the \"id\" of its call"
        ))),
    }
}

fn parse_call(raw: RawFrame<'_>) -> Result<ClientMessage<'_>, FrameError> {
    let id = id_of(raw.id.clone(), "call")?;
    let fail = |message: String| FrameError {
        call_id: Some(id.to_string()),
        message,
    };
    raw.only(&[
        "id", "method", "path", "rpc", "metadata", "message", "timeout", "credit",
    ])
    .map_err(|e| fail(e.message))?;
    let target =
        match (raw.method, raw.path, raw.rpc) {
            (Some(method), Some(path), None) => {
                if !path.starts_with('/') {
                    return Err(fail(format!("path '{path}' must start with '/'")));
                }
                Target::Route { method, path }
            }
            (None, None, Some(rpc)) => Target::Rpc(rpc),
            _ => return Err(fail(
                "a call names a route with \"method\" and \"path\", or a gRPC method with \"rpc\""
                    .into(),
            )),
        };
    let timeout = match raw.timeout {
        None => None,
        Some(text) => Some(parse_duration(&text).map_err(|e| fail(format!("timeout: {e}")))?),
    };
    Ok(ClientMessage::Call(CallFrame {
        id,
        target,
        metadata: raw.metadata.unwrap_or_default(),
        message: raw.message,
        timeout,
        credit: raw.credit,
    }))
}

/// A call id written as a JSON string once, for every message of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdTag(Box<str>);

impl IdTag {
    /// The tag of `id`.
    pub(crate) fn new(id: &str) -> Self {
        Self(json_string(id).into_boxed_str())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"id\":");
        out.extend_from_slice(self.0.as_bytes());
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `{"type":"init_ack"}`.
pub(crate) const INIT_ACK: &str = r#"{"type":"init_ack"}"#;

/// `pong`, echoing a ping's payload.
pub(crate) fn pong(payload: Option<&RawValue>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(br#"{"type":"pong""#);
    if let Some(payload) = payload {
        out.extend_from_slice(b",\"payload\":");
        out.extend_from_slice(payload.get().as_bytes());
    }
    out.push(b'}');
    out
}

/// `next`: one answer message, `message` being JSON text.
pub(crate) fn next(id: &IdTag, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + id.0.len() + 36);
    out.extend_from_slice(br#"{"type":"next""#);
    id.write(&mut out);
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(message);
    out.push(b'}');
    out
}

/// `headers`: the backend's response metadata.
pub(crate) fn headers(id: &IdTag, metadata: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(br#"{"type":"headers""#);
    id.write(&mut out);
    out.extend_from_slice(b",\"metadata\":");
    write_metadata(metadata, &mut out);
    out.push(b'}');
    out
}

/// `complete`: the call ended with OK, and the backend's trailers when it sent any.
pub(crate) fn complete(id: &IdTag, trailers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(br#"{"type":"complete""#);
    id.write(&mut out);
    if !trailers.is_empty() {
        out.extend_from_slice(b",\"trailers\":");
        write_metadata(trailers, &mut out);
    }
    out.push(b'}');
    out
}

/// `request`: the client may send `n` more messages on the call.
pub(crate) fn request(id: &IdTag, n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(br#"{"type":"request""#);
    id.write(&mut out);
    out.extend_from_slice(b",\"n\":");
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'}');
    out
}

/// `error`: `error` is the canonical error object (`{"code","message","details"}`), written by
/// the caller; with an id it ends that call, without one it reports a message that was dropped.
pub(crate) fn error(id: Option<&IdTag>, write_error: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(br#"{"type":"error""#);
    if let Some(id) = id {
        id.write(&mut out);
    }
    out.extend_from_slice(b",\"error\":");
    write_error(&mut out);
    out.push(b'}');
    out
}

/// Metadata as a JSON object; a key with several values gets them joined with `, `.
fn write_metadata(metadata: &HeaderMap, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, key) in metadata.keys().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(json_string(key.as_str()).as_bytes());
        out.push(b':');
        let values: Vec<&str> = metadata
            .get_all(key)
            .iter()
            .map(|v| v.to_str().unwrap_or_default())
            .collect();
        out.extend_from_slice(json_string(&values.join(", ")).as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn every_client_message_parses() {
        let ClientMessage::Call(call) = parse(
            r#"{"type":"call","id":"a","method":"GET","path":"/v1/x?y=1","metadata":{"k":"v"},"message":{"m":1},"timeout":"2s","credit":3}"#,
        )
        .unwrap() else {
            panic!("a call")
        };
        assert_eq!(call.id, "a");
        assert_eq!(
            call.target,
            Target::Route {
                method: "GET".into(),
                path: "/v1/x?y=1".into()
            }
        );
        assert_eq!(call.metadata["k"], "v");
        assert_eq!(call.message.unwrap().get(), r#"{"m":1}"#);
        assert_eq!(call.timeout, Some(Duration::from_secs(2)));
        assert_eq!(call.credit, Some(3));
        let ClientMessage::Call(rpc) =
            parse(r#"{"type":"call","id":"b","rpc":"pkg.S/M"}"#).unwrap()
        else {
            panic!("a call")
        };
        assert_eq!(rpc.target, Target::Rpc("pkg.S/M".into()));
        assert!(matches!(
            parse(r#"{"type":"send","id":"a","message":[1]}"#).unwrap(),
            ClientMessage::Send { id, message } if id == "a" && message.get() == "[1]"
        ));
        assert!(matches!(
            parse(r#"{"type":"half_close","id":"a"}"#).unwrap(),
            ClientMessage::HalfClose { id } if id == "a"
        ));
        assert!(matches!(
            parse(r#"{"type":"cancel","id":"a"}"#).unwrap(),
            ClientMessage::Cancel { id } if id == "a"
        ));
        assert!(matches!(
            parse(r#"{"type":"request","id":"a","n":5}"#).unwrap(),
            ClientMessage::Request { n: 5, .. }
        ));
        assert!(matches!(
            parse(r#"{"type":"init","metadata":{"authorization":"Bearer t"}}"#).unwrap(),
            ClientMessage::Init { metadata } if metadata["authorization"] == "Bearer t"
        ));
        assert!(matches!(
            parse(r#"{"type":"ping","payload":7}"#).unwrap(),
            ClientMessage::Ping { payload: Some(p) } if p.get() == "7"
        ));
        assert!(matches!(
            parse(r#"{"type":"pong"}"#).unwrap(),
            ClientMessage::Pong
        ));
    }

    #[test]
    fn bad_messages_say_what_is_wrong_and_name_the_call_they_would_start() {
        let error = |text: &str| parse(text).unwrap_err();
        assert!(error("not json")
            .message
            .starts_with("a message must be a JSON object with a \"type\""));
        assert_eq!(error("{}").call_id, None);
        assert_eq!(
            error(r#"{"type":"subscribe","id":"1"}"#).message,
            "unknown message type 'subscribe' (polygate.v1 has init, call, send, half_close, cancel, request, ping and pong)"
        );
        assert_eq!(
            error(r#"{"type":"call","id":"7","method":"GET"}"#),
            FrameError {
                call_id: Some("7".into()),
                message: "a call names a route with \"method\" and \"path\", or a gRPC method with \"rpc\"".into()
            }
        );
        assert_eq!(
            error(r#"{"type":"call","id":"7","rpc":"a/b","n":1}"#).message,
            "a 'call' message has no field 'n'"
        );
        assert_eq!(
            error(r#"{"type":"call","id":"7","rpc":"a/b","timeout":"soon"}"#).message,
            "timeout: duration 'soon' does not start with a number"
        );
        assert_eq!(
            error(r#"{"type":"send","id":"1"}"#).message,
            "a 'send' message needs a \"message\""
        );
        assert_eq!(
            error(r#"{"type":"request","id":"1","n":0}"#).message,
            "a 'request' message needs \"n\", a whole number above 0"
        );
        assert_eq!(
            error(r#"{"type":"cancel"}"#).message,
            "a 'cancel' message needs the \"id\" of its call"
        );
        assert_eq!(
            error(r#"{"type":"cancel","id":""}"#).message,
            "a call id must have 1 to 128 bytes"
        );
        assert!(error(r#"{"type":"cancel","id":"1","extra":true}"#)
            .message
            .contains("unknown field `extra`"));
    }

    #[test]
    fn server_messages_are_written_in_one_piece() {
        let id = IdTag::new("c\"1");
        assert_eq!(
            String::from_utf8(next(&id, br#"{"a":1}"#)).unwrap(),
            r#"{"type":"next","id":"c\"1","message":{"a":1}}"#
        );
        let mut metadata = HeaderMap::new();
        metadata.append("x-a", HeaderValue::from_static("1"));
        metadata.append("x-a", HeaderValue::from_static("2"));
        assert_eq!(
            String::from_utf8(headers(&id, &metadata)).unwrap(),
            r#"{"type":"headers","id":"c\"1","metadata":{"x-a":"1, 2"}}"#
        );
        assert_eq!(
            String::from_utf8(complete(&id, &HeaderMap::new())).unwrap(),
            r#"{"type":"complete","id":"c\"1"}"#
        );
        assert_eq!(
            String::from_utf8(complete(&id, &metadata)).unwrap(),
            r#"{"type":"complete","id":"c\"1","trailers":{"x-a":"1, 2"}}"#
        );
        assert_eq!(
            String::from_utf8(request(&id, 4)).unwrap(),
            r#"{"type":"request","id":"c\"1","n":4}"#
        );
        assert_eq!(
            String::from_utf8(error(None, |out| out.extend_from_slice(b"{}"))).unwrap(),
            r#"{"type":"error","error":{}}"#
        );
        assert_eq!(String::from_utf8(pong(None)).unwrap(), r#"{"type":"pong"}"#);
    }
}
