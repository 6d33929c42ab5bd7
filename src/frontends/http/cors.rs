//! CORS at the HTTP listener: preflights (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) are answered by the gateway from the policy of the route the
//! preflight asks about, never forwarded; answers to cross-origin requests carry the
//! `Access-Control-*` headers of their route's policy (docs/security.md, "HTTP hygiene").

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::body::ResponseBody;
use super::encode::error_response;
use crate::mapping::cors::CorsPolicy;
use crate::model::{Code, ErrorSource, Status};

const ANY: HeaderValue = HeaderValue::from_static("*");
const TRUE: HeaderValue = HeaderValue::from_static("true");
const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("origin");

/// The method a preflight asks about, if `method` and `headers` make a preflight.
pub(crate) fn preflight_method(method: &Method, headers: &HeaderMap) -> Option<Method> {
    if method != Method::OPTIONS || !headers.contains_key(ORIGIN) {
        return None;
    }
    let asked = headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(asked.as_bytes()).ok()
}

/// The answer to a preflight for a route with `policy` (none: CORS is off for it).
pub(crate) fn preflight(
    headers: &HeaderMap,
    policy: Option<&CorsPolicy>,
) -> Response<ResponseBody> {
    let origin = headers
        .get(ORIGIN)
        .cloned()
        .unwrap_or(HeaderValue::from_static("null"));
    let refuse = |why: &str| {
        error_response(&Status::new(
            Code::PermissionDenied,
            format!("CORS preflight refused: {why}"),
            ErrorSource::Client,
        ))
    };
    let Some(policy) = policy.filter(|p| p.allows_origin(origin.as_bytes())) else {
        return refuse("this origin may not call this route");
    };
    let asked = headers
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if !policy.allows_method(asked) {
        return refuse("this method is not allowed cross-origin");
    }
    let asked_headers = headers
        .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .all(|v| v.to_str().is_ok_and(|v| policy.allows_headers(v)));
    if !asked_headers {
        return refuse("a requested header is not allowed cross-origin");
    }
    let mut response = Response::new(ResponseBody::full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let out = response.headers_mut();
    allow_origin(out, policy, origin);
    out.insert(ACCESS_CONTROL_ALLOW_METHODS, policy.allow_methods.clone());
    out.insert(ACCESS_CONTROL_ALLOW_HEADERS, policy.allow_headers.clone());
    out.insert(ACCESS_CONTROL_MAX_AGE, policy.max_age.clone());
    response
}

/// Marks the answer to a cross-origin request from `origin` when `policy` allows that origin.
pub(crate) fn decorate(
    response: &mut Response<ResponseBody>,
    origin: HeaderValue,
    policy: &CorsPolicy,
) {
    if !policy.allows_origin(origin.as_bytes()) {
        return;
    }
    let out = response.headers_mut();
    allow_origin(out, policy, origin);
    if let Some(exposed) = &policy.expose_headers {
        out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, exposed.clone());
    }
}

fn allow_origin(out: &mut HeaderMap, policy: &CorsPolicy, origin: HeaderValue) {
    if policy.any_origin() {
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    } else {
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.append(VARY, VARY_ORIGIN);
    }
    if policy.allow_credentials {
        out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
    }
}
