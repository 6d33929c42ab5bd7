//! Binding: path variables, query parameters and the body of a request become one protobuf
//! message (or a stream of them) for the backend.
//!
//! The message is assembled as wire bytes, never as a tree: the body is transcoded first, then
//! query and path fields are appended. Protobuf's merge rules make later fields win, so the
//! path's value wins over the body's and nested fields merge into the body's messages.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use prost_reflect::Kind;

use super::wire::{contains, write_bytes_field, write_nested};
use super::{resolve_chain, BodyPlan, FieldChain, GrpcPlan, RequestPlan};
use crate::codec::protojson::{json_to_field, json_to_proto, settable_from_text, text_to_field};
use crate::mapping::messages::PayloadFormat;
use crate::mapping::options::{BodyFieldCollision, UnknownQueryParameters};
use crate::mapping::plans::query::form_decode;
use crate::mapping::route::{BindRequest, Route};
use crate::model::{BackendCall, MessageStream, Payload, RequestBody, RequestMessages, Status};

/// The media types binding errors name.
const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";

impl GrpcPlan {
    /// Binds a matched request to a call of the route's method.
    pub(crate) fn bind(
        self: &Arc<Self>,
        route: &Arc<Route>,
        request: BindRequest<'_>,
    ) -> Result<BackendCall, Status> {
        let mut fields = Vec::new();
        if let Some(query) = request.query.filter(|q| !q.is_empty()) {
            self.bind_query(route, query, &mut fields)?;
        }
        for (capture, chain) in request.captures.iter().zip(&self.request.path_fields) {
            bind_text(chain, &capture.value, &mut fields).map_err(|e| {
                Status::invalid_argument(format!(
                    "{} {{{}}}: {e}",
                    route.pattern.variable_noun(),
                    capture.field_path
                ))
            })?;
        }
        let messages = if route.shape.client_streams() {
            RequestMessages::Stream(self.bind_stream(route, request.body, Bytes::from(fields))?)
        } else {
            let message = match request.body {
                RequestBody::Empty => fields,
                RequestBody::Unary(payload) => {
                    let mut message = self.encode_body(route, payload, fields.len())?;
                    message.extend_from_slice(&fields);
                    message
                }
                RequestBody::Stream(_) => {
                    return Err(Status::unsupported_media_type(
                        format!(
                            "{} takes one message, not a stream of them",
                            self.method.full_name()
                        ),
                        JSON,
                    ))
                }
            };
            RequestMessages::Unary(Payload::Protobuf(Bytes::from(message)))
        };
        Ok(BackendCall {
            operation: route.operation.clone(),
            method: http::Method::POST,
            shape: route.shape,
            messages,
            metadata: request.metadata,
            timeout: Some(request.timeout),
            idempotent: self.idempotent,
        })
    }

    /// Transcodes one body message; `extra` is room for the fields appended after it.
    fn encode_body(
        &self,
        route: &Route,
        payload: Payload,
        extra: usize,
    ) -> Result<Vec<u8>, Status> {
        let plan = &self.request;
        let (content_type, data) = match payload {
            Payload::Json(data) => (None, data),
            Payload::Protobuf(data) => return protobuf_body(route, plan, &data, extra),
            // Only a topic route declared `payload: raw` takes bytes into a plain field.
            Payload::Raw { data, .. }
                if !plan.raw_body
                    && route
                        .options
                        .messages
                        .as_ref()
                        .is_some_and(|m| m.payload == PayloadFormat::Raw) =>
            {
                return raw_field_body(route, plan, &data, extra)
            }
            Payload::Raw { content_type, data } => (Some(content_type), data),
            Payload::Xml(data) => (Some(String::new()), data),
        };
        if data.is_empty() {
            return Ok(Vec::with_capacity(extra));
        }
        let mut message = Vec::with_capacity(data.len() + extra + 16);
        match &plan.body {
            BodyPlan::None => {
                return Err(Status::invalid_argument(format!(
                    "{} takes no request body",
                    route.pattern
                )))
            }
            _ if plan.raw_body => {
                let content_type = content_type.unwrap_or_else(|| "application/json".to_owned());
                let mut http_body = Vec::with_capacity(data.len() + content_type.len() + 8);
                write_bytes_field(1, content_type.as_bytes(), &mut http_body);
                write_bytes_field(2, &data, &mut http_body);
                match &plan.body {
                    BodyPlan::Field(chain) => {
                        let (leaf, parents) = chain
                            .split_last()
                            .ok_or_else(|| Status::internal("empty body field"))?;
                        let mut wrapped = Vec::with_capacity(http_body.len() + 8);
                        write_bytes_field(leaf.number(), &http_body, &mut wrapped);
                        write_nested(parents, &wrapped, &mut message);
                    }
                    _ => message = http_body,
                }
                return Ok(message);
            }
            _ if content_type.is_some() => {
                return Err(Status::unsupported_media_type(
                    format!("{} takes a JSON body", route.pattern),
                    JSON,
                ))
            }
            BodyPlan::Whole => json_to_proto(&plan.input, &data, &route.options.json, &mut message)
                .map_err(|e| Status::invalid_argument(format!("invalid JSON body: {e}")))?,
            BodyPlan::Field(chain) => {
                let (leaf, parents) = chain
                    .split_last()
                    .ok_or_else(|| Status::internal("empty body field"))?;
                if parents.is_empty() {
                    json_to_field(leaf, &data, &route.options.json, &mut message)
                } else {
                    let mut inner = Vec::with_capacity(data.len());
                    json_to_field(leaf, &data, &route.options.json, &mut inner)
                        .map(|()| write_nested(parents, &inner, &mut message))
                }
                // The transcoder's message already names the field (`shelf.createTime`).
                .map_err(|e| Status::invalid_argument(format!("invalid JSON body: {e}")))?
            }
        }
        if route.options.body_field_collision == BodyFieldCollision::Reject {
            for (chain, variable) in plan.path_fields.iter().zip(route.pattern.variables()) {
                let numbers: Vec<u32> = chain.iter().map(|f| f.number()).collect();
                if contains(&message, &numbers) {
                    return Err(Status::invalid_argument(format!(
                        "field '{}' is set by both the path and the body",
                        variable.field_path
                    )));
                }
            }
        }
        Ok(message)
    }

    /// The request stream of a client-streaming call: every message gets the same query and
    /// path fields appended.
    fn bind_stream(
        self: &Arc<Self>,
        route: &Arc<Route>,
        body: RequestBody,
        fields: Bytes,
    ) -> Result<MessageStream, Status> {
        let (plan, route) = (self.clone(), route.clone());
        let operation = route.operation.clone();
        let encode = move |payload: Payload| -> Result<Payload, Status> {
            let mut message = plan.encode_body(&route, payload, fields.len())?;
            message.extend_from_slice(&fields);
            Ok(Payload::Protobuf(Bytes::from(message)))
        };
        Ok(match body {
            RequestBody::Empty => Box::pin(futures_util::stream::empty()),
            RequestBody::Stream(stream) => Box::pin(stream.map(move |item| item.and_then(&encode))),
            RequestBody::Unary(Payload::Json(data)) => {
                let messages: Vec<Result<Payload, Status>> = split_messages(&data)?
                    .into_iter()
                    .map(|m| encode(Payload::Json(m)))
                    .collect();
                Box::pin(futures_util::stream::iter(messages))
            }
            RequestBody::Unary(_) => {
                return Err(Status::unsupported_media_type(
                    format!(
                        "{} takes a stream of JSON messages, or a JSON array of them",
                        operation
                    ),
                    NDJSON,
                ))
            }
        })
    }

    fn bind_query(&self, route: &Route, query: &str, out: &mut Vec<u8>) -> Result<(), Status> {
        let plan = &self.request;
        let mut seen_singular: Vec<Vec<u32>> = Vec::new();
        let mut seen_oneof: Vec<(Vec<u32>, String, String)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = form_decode(raw_key)?;
            let value = form_decode(raw_value)?;
            let unknown = |reason: String| -> Result<(), Status> {
                match route.options.unknown_query_parameters {
                    UnknownQueryParameters::Ignore => Ok(()),
                    UnknownQueryParameters::Reject => Err(Status::invalid_argument(reason)),
                }
            };
            if matches!(plan.body, BodyPlan::Whole) {
                unknown(format!(
                    "unknown query parameter '{key}': {} takes the whole message from the body",
                    route.pattern
                ))?;
                continue;
            }
            let segments: Vec<&str> = key.split('.').collect();
            let chain = match resolve_chain(&plan.input, &segments) {
                Ok(chain) => chain,
                Err(reason) => {
                    unknown(format!("unknown query parameter '{key}': {reason}"))?;
                    continue;
                }
            };
            let numbers: Vec<u32> = chain.iter().map(|f| f.number()).collect();
            let overlaps =
                |other: &FieldChain| other.iter().zip(&numbers).all(|(a, b)| a.number() == *b);
            // The path's value wins, and the body's field belongs to the body.
            if plan.path_fields.iter().any(overlaps) {
                continue;
            }
            if let BodyPlan::Field(body) = &plan.body {
                if body.len() <= chain.len() && overlaps(body) {
                    continue;
                }
            }
            let Some(leaf) = chain.last() else { continue };
            if !settable_from_text(leaf) {
                return Err(Status::invalid_argument(format!(
                    "query parameter '{key}' names a message or map field, which a URL value cannot set"
                )));
            }
            if let Some(oneof) = leaf.containing_oneof().filter(|o| !o.is_synthetic()) {
                let parents = &numbers[..numbers.len() - 1];
                let member = |(p, o, _): &&(Vec<u32>, String, String)| {
                    p.as_slice() == parents && *o == oneof.full_name()
                };
                if let Some((_, _, other)) = seen_oneof.iter().find(member) {
                    if *other != leaf.name() {
                        return Err(Status::invalid_argument(format!(
                            "query parameter '{key}' sets field '{}', but field '{other}' of the same oneof '{}' is already set",
                            leaf.name(),
                            oneof.name()
                        )));
                    }
                }
                seen_oneof.push((
                    parents.to_vec(),
                    oneof.full_name().to_owned(),
                    leaf.name().to_owned(),
                ));
            }
            if !leaf.is_list() {
                if seen_singular.contains(&numbers) {
                    return Err(Status::invalid_argument(format!(
                        "query parameter '{key}' is given more than once, but field '{}' is not repeated",
                        leaf.name()
                    )));
                }
                seen_singular.push(numbers);
            }
            bind_text(&chain, &value, out)
                .map_err(|e| Status::invalid_argument(format!("query parameter '{key}': {e}")))?;
        }
        Ok(())
    }
}

/// A body already in protobuf (an MQTT payload): the whole request message, or the body
/// field's message.
fn protobuf_body(
    route: &Route,
    plan: &RequestPlan,
    data: &[u8],
    extra: usize,
) -> Result<Vec<u8>, Status> {
    let mut message = Vec::with_capacity(data.len() + extra + 8);
    match &plan.body {
        BodyPlan::Whole => message.extend_from_slice(data),
        BodyPlan::Field(chain) => wrap_bytes(chain, data, &mut message)?,
        BodyPlan::None => {
            return Err(Status::invalid_argument(format!(
                "{} takes no request body",
                route.pattern
            )))
        }
    }
    Ok(message)
}

/// Raw bytes (an MQTT payload) into the body field, a `bytes` or `string` field; a `string`
/// field takes UTF-8 only.
fn raw_field_body(
    route: &Route,
    plan: &RequestPlan,
    data: &[u8],
    extra: usize,
) -> Result<Vec<u8>, Status> {
    let BodyPlan::Field(chain) = &plan.body else {
        return Err(Status::internal(format!(
            "{} takes raw bytes only into a body field",
            route.pattern
        )));
    };
    if chain.last().is_some_and(|f| f.kind() == Kind::String) && std::str::from_utf8(data).is_err()
    {
        return Err(Status::invalid_argument(format!(
            "{} takes UTF-8 text into its body field, and the payload is not UTF-8",
            route.pattern
        )));
    }
    let mut message = Vec::with_capacity(data.len() + extra + 8);
    wrap_bytes(chain, data, &mut message)?;
    Ok(message)
}

/// Writes `data` as the length-delimited field at the end of `chain`, wrapped in its parents.
fn wrap_bytes(chain: &FieldChain, data: &[u8], out: &mut Vec<u8>) -> Result<(), Status> {
    let (leaf, parents) = chain
        .split_last()
        .ok_or_else(|| Status::internal("empty body field"))?;
    if parents.is_empty() {
        write_bytes_field(leaf.number(), data, out);
    } else {
        let mut wrapped = Vec::with_capacity(data.len() + 8);
        write_bytes_field(leaf.number(), data, &mut wrapped);
        write_nested(parents, &wrapped, out);
    }
    Ok(())
}

/// Encodes a URL value into the field at the end of `chain`, wrapped in its parents.
fn bind_text(chain: &FieldChain, text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let (leaf, parents) = chain.split_last().ok_or("empty field path")?;
    if parents.is_empty() {
        return text_to_field(leaf, text, out).map_err(|e| e.to_string());
    }
    let mut encoded = Vec::with_capacity(text.len() + 8);
    text_to_field(leaf, text, &mut encoded).map_err(|e| e.to_string())?;
    write_nested(parents, &encoded, out);
    Ok(())
}

/// The messages of a buffered client-streaming body: a JSON array, or NDJSON lines.
fn split_messages(data: &Bytes) -> Result<Vec<Bytes>, Status> {
    let trimmed = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&data[..0], |start| &data[start..]);
    if trimmed.first() == Some(&b'[') {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(trimmed)
            .map_err(|e| Status::invalid_argument(format!("invalid JSON array body: {e}")))?;
        return Ok(items
            .into_iter()
            .map(|item| data.slice_ref(item.get().as_bytes()))
            .collect());
    }
    Ok(data
        .split(|b| *b == b'\n')
        .filter(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
        .map(|line| data.slice_ref(line))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_streams_split_into_lines_or_array_items() {
        let lines = split_messages(&Bytes::from_static(b"{\"a\":1}\n\n{\"a\":2}\n")).unwrap();
        assert_eq!(
            lines,
            vec![
                Bytes::from_static(b"{\"a\":1}"),
                Bytes::from_static(b"{\"a\":2}")
            ]
        );
        let items = split_messages(&Bytes::from_static(b" [{\"a\":1}, {\"b\":[2]}]")).unwrap();
        assert_eq!(
            items,
            vec![
                Bytes::from_static(b"{\"a\":1}"),
                Bytes::from_static(b"{\"b\":[2]}")
            ]
        );
        assert!(split_messages(&Bytes::from_static(b"[{")).is_err());
    }
}
