//! `HttpClient`: one pooled keep-alive HTTP/1.1 + HTTP/2 client per backend (hyper-util's
//! client over hyper-rustls with ring), with a response size cap and no content decoding.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, HOST, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE, USER_AGENT,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;

use super::config::ClientSettings;
use super::error::UpstreamError;

const POLYGATE_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("polygate/", env!("CARGO_PKG_VERSION")));
const IDENTITY: HeaderValue = HeaderValue::from_static("identity");

/// A response read whole, within the size limit.
#[derive(Debug)]
pub(crate) struct UpstreamResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl UpstreamResponse {
    /// The media type without parameters, lowercased (`text/xml`), or `""`.
    pub(crate) fn media_type(&self) -> String {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The `charset` parameter of the Content-Type, if any.
    pub(crate) fn charset(&self) -> Option<String> {
        let content_type = self
            .headers
            .get(http::header::CONTENT_TYPE)?
            .to_str()
            .ok()?;
        content_type.split(';').skip(1).find_map(|parameter| {
            let (name, value) = parameter.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    }
}

/// A pooled client for one backend.
pub(crate) struct HttpClient {
    backend: Arc<str>,
    settings: ClientSettings,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// A client for backend `name`; connects on first use.
    pub(crate) fn new(name: &str, settings: ClientSettings) -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.connect_timeout));
        let builder = HttpsConnectorBuilder::new()
            .with_tls_config(settings.tls.as_ref().clone())
            .https_or_http();
        let builder = match &settings.tls_server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone())
                    .map_err(|e| format!("tls_server_name '{name}': {e}"))?;
                builder.with_server_name_resolver(FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_all_versions().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .http2_only(settings.http2)
            .build(connector);
        Ok(Self {
            backend: Arc::from(name),
            settings,
            client,
        })
    }

    /// The backend's name.
    pub(crate) fn backend(&self) -> &str {
        &self.backend
    }

    /// The validated settings.
    pub(crate) fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The time a call may take: the call's own limit, capped by `request_timeout`.
    pub(crate) fn time_limit(&self, call: Option<Duration>) -> Option<Duration> {
        match (call, self.settings.request_timeout) {
            (Some(call), Some(cap)) => Some(call.min(cap)),
            (call, cap) => call.or(cap),
        }
    }

    /// The URI of `relative` (a path and query starting with `/`, or empty for the URL itself)
    /// under the backend's URL.
    pub(crate) fn uri(&self, relative: &str) -> Result<Uri, UpstreamError> {
        let mut path_and_query =
            String::with_capacity(self.settings.base_path.len() + relative.len() + 1);
        path_and_query.push_str(&self.settings.base_path);
        if relative.is_empty() {
            if path_and_query.is_empty() {
                path_and_query.push('/');
            }
            if let Some(query) = &self.settings.base_query {
                path_and_query.push('?');
                path_and_query.push_str(query);
            }
        } else {
            path_and_query.push_str(relative);
        }
        Uri::builder()
            .scheme(self.settings.scheme.clone())
            .authority(self.settings.authority.clone())
            .path_and_query(path_and_query.as_str())
            .build()
            .map_err(|e| UpstreamError::InvalidTarget(format!("{path_and_query}: {e}")))
    }

    /// [`send`](Self::send), with a non-2xx answer as [`UpstreamError::HttpStatus`]: for
    /// backends whose errors are told by the status alone (plain XML, REST).
    pub(crate) async fn send_for_success(
        &self,
        method: Method,
        uri: Uri,
        metadata: HeaderMap,
        protocol_headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let response = self
            .send(method, uri, metadata, protocol_headers, body)
            .await?;
        if response.status.is_success() {
            return Ok(response);
        }
        Err(UpstreamError::HttpStatus {
            media_type: response.media_type(),
            status: response.status,
            body: response.body,
            headers: Box::new(response.headers),
        })
    }

    /// Sends one request and reads the whole answer, refusing bodies over the size limit and
    /// content encodings (polygate asks for `identity` and never inflates).
    pub(crate) async fn send(
        &self,
        method: Method,
        uri: Uri,
        metadata: HeaderMap,
        protocol_headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        *headers = forwardable(metadata);
        for (name, value) in &protocol_headers {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(ACCEPT_ENCODING, IDENTITY);
        headers.entry(USER_AGENT).or_insert(POLYGATE_AGENT);
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| UpstreamError::from_client(&e))?;
        let (parts, body) = response.into_parts();
        if let Some(encoding) = parts.headers.get(CONTENT_ENCODING) {
            let encoding = encoding.to_str().unwrap_or("(not ASCII)");
            if !encoding.trim().eq_ignore_ascii_case("identity") {
                return Err(UpstreamError::ContentEncoding(encoding.to_owned()));
            }
        }
        let limit = self.settings.max_response_size;
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(size) = declared.filter(|size| *size > limit as u64) {
            return Err(UpstreamError::TooLarge {
                limit,
                size: Some(size),
            });
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "bounded: Limited to max_response_size"
        )]
        let body = Limited::new(body, limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                UpstreamError::TooLarge { limit, size: None }
            } else {
                UpstreamError::BodyRead(chain(e.as_ref()))
            }
        })?;
        Ok(UpstreamResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.to_bytes(),
        })
    }
}

/// The metadata an upstream may receive: hop-by-hop and framing headers removed.
fn forwardable(mut metadata: HeaderMap) -> HeaderMap {
    for name in [
        CONNECTION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
        HOST,
        CONTENT_LENGTH,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        HeaderName::from_static("proxy-authorization"),
    ] {
        metadata.remove(name);
    }
    metadata
}

/// An error and its sources, as one line.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
