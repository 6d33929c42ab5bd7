//! Pass-through of REST and plain-XML answers: whether a route passes the backend's status,
//! headers and error body on (its `pass_through`, else the backend's), and `Location` moved
//! from the backend's URL space into the route's front path.

use bytes::Bytes;
use http::header::LOCATION;
use http::HeaderValue;

use super::upstream_path::TargetPath;
use crate::codec::xml::{xml_to_json, XmlMapping};
use crate::mapping::route::RoutePattern;
use crate::model::{Payload, Status, UpstreamReply};

/// A route's pass-through settings.
#[derive(Debug, Clone)]
pub(crate) struct PassThrough {
    /// The route's setting; `None` takes the backend's.
    enabled: Option<bool>,
    /// The literal start of the upstream path (`/api/users`), which a `Location` under the
    /// backend's URL must start with to be rewritten.
    upstream_prefix: String,
    /// The literal start of the route's path (`/v1/users`), which replaces it.
    front_prefix: String,
}

impl PassThrough {
    /// The settings of a route listening on `pattern` and calling `target`.
    pub(crate) fn compile(
        enabled: Option<bool>,
        target: &TargetPath,
        pattern: &RoutePattern,
    ) -> Self {
        Self {
            enabled,
            upstream_prefix: literal_prefix(target.as_str()),
            front_prefix: literal_prefix(pattern.address()),
        }
    }

    /// A success answer's reply, finished: dropped when pass-through is off, its `Location`
    /// rewritten when on.
    pub(crate) fn success(&self, reply: Option<Box<UpstreamReply>>) -> Option<Box<UpstreamReply>> {
        let mut reply = reply?;
        if !self.enabled.unwrap_or(reply.pass_through) {
            return None;
        }
        self.place_location(&mut reply);
        Some(reply)
    }

    /// An error's reply, finished: dropped when pass-through is off; its body converted to
    /// JSON by `xml_to_json` when it is XML (left out when that fails).
    pub(crate) fn error(&self, status: &mut Status, xml_to_json: impl Fn(&[u8]) -> Option<Bytes>) {
        let Some(mut reply) = status.take_upstream() else {
            return;
        };
        if !self.enabled.unwrap_or(reply.pass_through) {
            return;
        }
        reply.body = match reply.body.take() {
            Some(Payload::Xml(xml)) => xml_to_json(&xml).map(Payload::Json),
            Some(json @ Payload::Json(_)) => Some(json),
            _ => None,
        };
        self.place_location(&mut reply);
        status.set_upstream(reply);
    }

    /// Sets `Location`: a backend path under the upstream prefix moves under the front
    /// prefix; any other backend path is dropped (the client cannot reach it through the
    /// gateway); a foreign URL passes as it is.
    fn place_location(&self, reply: &mut UpstreamReply) {
        let location = match (reply.location.take(), reply.foreign_location.take()) {
            (Some(path), _) => path
                .strip_prefix(self.upstream_prefix.as_str())
                .filter(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
                .and_then(|rest| {
                    HeaderValue::from_str(&format!("{}{rest}", self.front_prefix)).ok()
                }),
            (None, foreign) => foreign,
        };
        if let Some(location) = location {
            reply.headers.insert(LOCATION, location);
        }
    }
}

/// An XML error body as JSON under the route's convention, or `None` when it does not convert.
pub(crate) fn xml_body_to_json(xml: &[u8], mapping: &XmlMapping) -> Option<Bytes> {
    let mut json = Vec::with_capacity(xml.len());
    xml_to_json(xml, mapping, &mut json).ok()?;
    Some(Bytes::from(json))
}

/// The literal start of a path template, up to its first variable or query, without a
/// trailing `/`.
fn literal_prefix(template: &str) -> String {
    let end = template.find(['{', '?']).unwrap_or(template.len());
    template[..end].trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_stop_at_the_first_variable_or_query() {
        assert_eq!(literal_prefix("/api/users/{id}"), "/api/users");
        assert_eq!(literal_prefix("/api/users.php?uid={id}"), "/api/users.php");
        assert_eq!(literal_prefix("/v1/users"), "/v1/users");
        assert_eq!(literal_prefix("/{name=things/*}"), "");
    }
}
