//! `RestBackend`: sends the bound request to `base URL + rewritten path` and answers with the
//! upstream's JSON (or its raw bytes and content type).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};

use crate::backends::deadline::within;
use crate::backends::http_client::{
    checked_json, is_json, ClientSettings, HttpClient, UpstreamError,
};
use crate::model::{
    Backend, BackendCall, BackendFuture, Code, GatewayResponse, Payload, RequestMessages,
    ResponseBody, Status,
};

/// A REST backend: one pooled HTTP client.
#[derive(Clone)]
pub struct RestBackend {
    inner: Arc<HttpClient>,
}

/// Everything that can go wrong in a REST call.
enum RestError {
    Upstream(UpstreamError),
    Request(&'static str),
    /// A success answer whose JSON does not parse (invalid, or cut short).
    InvalidJson(serde_json::Error),
    /// A success answer that declares a JSON body and sends none.
    EmptyBody,
}

impl RestBackend {
    /// A backend named `name`; connects on first use.
    pub fn new(name: &str, settings: ClientSettings) -> Result<Self, String> {
        Ok(Self {
            inner: Arc::new(HttpClient::new(name, settings)?),
        })
    }
}

impl Backend for RestBackend {
    fn name(&self) -> &str {
        self.inner.backend()
    }

    fn call(&self, call: BackendCall) -> BackendFuture {
        let client = self.inner.clone();
        let limit = client.time_limit(call.timeout);
        // The call future goes straight into the box: `within` polls it where it lies.
        Box::pin(within(limit, async move {
            exchange(&client, call)
                .await
                .map_err(|error| status(&client, error))
        }))
    }
}

/// The canonical error of a REST call's failure; an upstream error status carries the
/// backend's own answer for pass-through.
fn status(client: &HttpClient, error: RestError) -> Status {
    let backend = client.backend();
    match error {
        RestError::Upstream(error) => client.failure(error),
        RestError::Request(message) => Status::internal(format!("backend '{backend}': {message}")),
        RestError::InvalidJson(error) => Status::upstream_fault(
            Code::Unknown,
            format!("backend '{backend}' answered JSON that does not parse: {error}"),
        )
        .with_reason("UPSTREAM_INVALID_JSON"),
        RestError::EmptyBody => Status::upstream_fault(
            Code::Unknown,
            format!("backend '{backend}' declared a JSON answer and sent an empty body"),
        )
        .with_reason("UPSTREAM_EMPTY_BODY"),
    }
}

async fn exchange(client: &HttpClient, call: BackendCall) -> Result<GatewayResponse, RestError> {
    let (content_type, body) = match call.messages {
        RequestMessages::Unary(Payload::Json(body)) => ("application/json".to_owned(), body),
        RequestMessages::Unary(Payload::Raw { content_type, data }) => (content_type, data),
        _ => {
            return Err(RestError::Request(
                "a REST backend takes one JSON or raw message",
            ))
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let mut metadata = call.metadata;
    if !body.is_empty() && !metadata.contains_key(CONTENT_TYPE) {
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            metadata.insert(CONTENT_TYPE, value);
        }
    }
    let uri = client.uri(&call.operation).map_err(RestError::Upstream)?;
    let response = client
        .send_for_success(call.method, uri, metadata, headers, body)
        .await
        .map_err(RestError::Upstream)?;
    let media_type = response.media_type();
    let no_content = matches!(response.status.as_u16(), 204 | 205);
    let message = if response.body.is_empty() {
        if is_json(&media_type) && !no_content {
            return Err(RestError::EmptyBody);
        }
        Payload::Json(Bytes::from_static(b"{}"))
    } else if media_type.is_empty() || is_json(&media_type) {
        Payload::Json(checked_json(&response.body).map_err(RestError::InvalidJson)?)
    } else {
        let content_type = response
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Payload::Raw {
            content_type,
            data: response.body,
        }
    };
    let upstream = Some(client.reply(response.status, &response.headers, None));
    Ok(GatewayResponse {
        upstream,
        cache: None,
        metadata: HeaderMap::new(),
        body: ResponseBody::Unary {
            message,
            trailers: HeaderMap::new(),
        },
    })
}
