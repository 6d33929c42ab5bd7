//! Pass-through: an upstream's status, allow-listed headers and error body as an
//! [`UpstreamReply`], with `Location` taken apart (under the backend's URL, or elsewhere), and
//! the checks every answer body passes before anything of it reaches a client.

use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderMap, StatusCode, Uri};

use super::client::HttpClient;
use super::error::{status_for_http_error, UpstreamError};
use crate::codec::xml::decode_document;
use crate::model::{Payload, Status, UpstreamReply};

/// How much of an upstream's unusable answer is logged.
const LOGGED_BODY: usize = 256;

impl HttpClient {
    /// The canonical error of a failed exchange; for a non-2xx answer, with the backend's own
    /// answer attached for pass-through.
    pub(crate) fn failure(&self, error: UpstreamError) -> Status {
        match error {
            UpstreamError::HttpStatus {
                status,
                media_type,
                body,
                headers,
            } => {
                let backend = self.backend();
                let passed = error_body(backend, status, &media_type, &body);
                status_for_http_error(backend, status, &media_type, &body)
                    .with_upstream(self.reply(status, &headers, passed))
            }
            other => other.into_status(self.backend()),
        }
    }

    /// The backend's answer for pass-through: `status` (a 5xx other than 503/504 as 502), the
    /// allow-listed headers, `Location` split by where it points, and `body` for errors.
    pub(crate) fn reply(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: Option<Payload>,
    ) -> Box<UpstreamReply> {
        let status = match status.as_u16() {
            503 | 504 => status.as_u16(),
            500..=599 => 502,
            other => other,
        };
        let mut passed = HeaderMap::new();
        for name in &self.settings().response_headers {
            if *name == LOCATION {
                continue;
            }
            for value in headers.get_all(name) {
                passed.append(name.clone(), value.clone());
            }
        }
        let (location, foreign_location) = match headers.get(LOCATION) {
            None => (None, None),
            Some(value) => match self.under_base(value.to_str().unwrap_or_default()) {
                Placed::Backend(path) => (Some(path), None),
                Placed::Elsewhere => (None, Some(value.clone())),
                Placed::Internal => (None, None),
            },
        };
        Box::new(UpstreamReply {
            status,
            headers: passed,
            location,
            foreign_location,
            body,
            pass_through: self.settings().pass_through,
        })
    }

    /// Where a `Location` points: under the backend's URL (the rest of the path, from its
    /// `/`), at the backend's host outside its URL (not passed on: the client cannot reach
    /// it through the gateway), or elsewhere.
    fn under_base(&self, location: &str) -> Placed {
        let settings = self.settings();
        let path = if location.starts_with('/') && !location.starts_with("//") {
            location.to_owned()
        } else {
            let Ok(uri) = location.parse::<Uri>() else {
                return Placed::Elsewhere;
            };
            let ours = uri.scheme() == Some(&settings.scheme)
                && uri
                    .authority()
                    .is_some_and(|a| a.as_str().eq_ignore_ascii_case(settings.authority.as_str()));
            if !ours {
                return Placed::Elsewhere;
            }
            uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()
        };
        let Some(rest) = path.strip_prefix(settings.base_path.as_str()) else {
            return Placed::Internal;
        };
        if rest.is_empty() {
            Placed::Backend("/".to_owned())
        } else if rest.starts_with('/') || rest.starts_with('?') {
            Placed::Backend(rest.to_owned())
        } else {
            Placed::Internal
        }
    }
}

enum Placed {
    Backend(String),
    Elsewhere,
    Internal,
}

/// An error answer's body, if a client may see it: JSON that parses (a UTF-8 byte order mark
/// dropped) or XML that decodes. Anything else (an HTML error page, a stack trace in text) is
/// logged, bounded, and left out.
pub(crate) fn error_body(
    backend: &str,
    status: StatusCode,
    media_type: &str,
    body: &Bytes,
) -> Option<Payload> {
    if body.is_empty() {
        return None;
    }
    if is_json(media_type) {
        if let Ok(json) = checked_json(body) {
            return Some(Payload::Json(json));
        }
    } else if is_xml(media_type) {
        if let Ok(decoded) = decode_document(body, None) {
            return Some(Payload::Xml(Bytes::copy_from_slice(&decoded)));
        }
    }
    log_unusable(backend, status, media_type, body);
    None
}

/// Logs an answer nobody will see, bounded.
pub(crate) fn log_unusable(backend: &str, status: StatusCode, media_type: &str, body: &[u8]) {
    let shown = &body[..body.len().min(LOGGED_BODY)];
    tracing::warn!(
        backend,
        status = status.as_u16(),
        media_type,
        size = body.len(),
        body = %String::from_utf8_lossy(shown),
        "upstream answer not passed on"
    );
}

/// A JSON body checked whole: a UTF-8 byte order mark is dropped, and a body that does not
/// parse (invalid, or cut short) is an error naming where it broke.
pub(crate) fn checked_json(body: &Bytes) -> Result<Bytes, serde_json::Error> {
    let body = match body.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => body.slice_ref(rest),
        None => body.clone(),
    };
    serde_json::from_slice::<serde::de::IgnoredAny>(&body)?;
    Ok(body)
}

/// `application/json` or `application/*+json`.
pub(crate) fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// `application/xml`, `text/xml` or `*/*+xml`.
pub(crate) fn is_xml(media_type: &str) -> bool {
    media_type == "application/xml" || media_type == "text/xml" || media_type.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_lose_their_bom_and_must_parse_whole() {
        let bom = Bytes::from_static(b"\xEF\xBB\xBF{\"a\":1}");
        assert_eq!(
            checked_json(&bom).unwrap(),
            Bytes::from_static(b"{\"a\":1}")
        );
        assert!(checked_json(&Bytes::from_static(b"{\"a\":")).is_err());
        assert!(checked_json(&Bytes::from_static(b"{} x")).is_err());
        let html = Bytes::from_static(b"<h1>500</h1><pre>at Foo.bar()</pre>");
        assert!(error_body("b", StatusCode::INTERNAL_SERVER_ERROR, "text/html", &html).is_none());
        let xml = Bytes::from_static(b"<error><code>7</code></error>");
        assert!(matches!(
            error_body("b", StatusCode::NOT_FOUND, "application/xml", &xml),
            Some(Payload::Xml(_))
        ));
    }
}
