//! The way back: a backend's protobuf answer becomes JSON (or raw `HttpBody` bytes), and the
//! `google.rpc.Status` details of an error become JSON objects.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::value::RawValue;

use super::wire::{fields, last_bytes, WireValue};
use super::GrpcPlan;
use crate::codec::protojson::{field_to_json, is_well_known, proto_to_json, JsonOptions};
use crate::mapping::route::Route;
use crate::model::{Code, ErrorSource, Payload, Status};

impl GrpcPlan {
    /// Turns one protobuf answer into the client's form: JSON, or raw `HttpBody` bytes.
    pub(crate) fn encode(&self, route: &Route, message: Payload) -> Result<Payload, Status> {
        let Payload::Protobuf(wire) = message else {
            return Ok(message);
        };
        let plan = &self.response;
        let untranscodable = |e: String| {
            Status::new(
                Code::Internal,
                format!("the backend's answer could not be transcoded: {e}"),
                ErrorSource::Backend,
            )
        };
        if plan.raw_body {
            let http_body = match &plan.field {
                Some(field) => last_bytes(&wire, field.number())
                    .map_err(untranscodable)?
                    .unwrap_or_default(),
                None => &wire[..],
            };
            return decode_http_body(&wire, http_body).map_err(untranscodable);
        }
        let mut json = Vec::with_capacity(wire.len() * 2 + 16);
        match &plan.field {
            None => proto_to_json(&plan.output, &wire, &route.options.json, &mut json),
            Some(field) => field_to_json(field, &wire, &route.options.json, &mut json),
        }
        .map_err(|e| untranscodable(e.to_string()))?;
        Ok(Payload::Json(Bytes::from(json)))
    }

    /// Renders the backend's `google.rpc.Status` details as JSON objects, each with its `@type`.
    /// A detail whose type the descriptors do not know keeps its bytes, base64-encoded.
    pub(crate) fn render_details(&self, route: &Route, status: &mut Status) {
        let Some(encoded) = status.take_encoded_details() else {
            return;
        };
        let pool = self.method.parent_pool();
        let mut details = Vec::new();
        for field in fields(&encoded) {
            let Ok(field) = field else { break };
            if let (3, WireValue::Bytes(any)) = (field.number, field.value) {
                if let Some(json) = any_to_json(pool, any, &route.options.json) {
                    details.push(json);
                }
            }
        }
        status.set_details(details);
    }
}

fn decode_http_body(all: &Bytes, http_body: &[u8]) -> Result<Payload, String> {
    let mut content_type = String::new();
    let mut data = Bytes::new();
    for field in fields(http_body) {
        match field? {
            super::wire::WireField {
                number: 1,
                value: WireValue::Bytes(ct),
            } => {
                content_type = String::from_utf8(ct.to_vec())
                    .map_err(|_| "HttpBody content_type is not UTF-8".to_owned())?;
            }
            super::wire::WireField {
                number: 2,
                value: WireValue::Bytes(bytes),
            } => data = all.slice_ref(bytes),
            _ => {}
        }
    }
    Ok(Payload::Raw { content_type, data })
}

fn any_to_json(
    pool: &prost_reflect::DescriptorPool,
    any: &[u8],
    options: &JsonOptions,
) -> Option<Box<RawValue>> {
    let type_url = last_bytes(any, 1).ok()?.unwrap_or_default();
    let value = last_bytes(any, 2).ok()?.unwrap_or_default();
    let type_url = std::str::from_utf8(type_url).ok()?;
    let type_name = type_url.rsplit('/').next().unwrap_or(type_url);
    let mut out = Vec::with_capacity(value.len() * 2 + type_url.len() + 16);
    out.extend_from_slice(b"{\"@type\":");
    serde_json::to_writer(&mut out, type_url).ok()?;
    let descriptor = pool.get_message_by_name(type_name);
    let wrapped = descriptor.as_ref().is_some_and(is_well_known);
    let known = descriptor.and_then(|descriptor| {
        let mut json = Vec::with_capacity(value.len() * 2);
        proto_to_json(&descriptor, value, options, &mut json)
            .ok()
            .map(|()| json)
    });
    match known {
        Some(json) if wrapped => {
            out.extend_from_slice(b",\"value\":");
            out.extend_from_slice(&json);
            out.push(b'}');
        }
        Some(json) if json.len() > 2 => {
            out.push(b',');
            out.extend_from_slice(&json[1..]);
        }
        Some(_) => out.push(b'}'),
        None => {
            out.extend_from_slice(b",\"value\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(value)
                    .as_bytes(),
            );
            out.extend_from_slice(b"\"}");
        }
    }
    RawValue::from_string(String::from_utf8(out).ok()?).ok()
}
