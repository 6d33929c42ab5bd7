//! `XmlBackend`: sends the bound XML document (or nothing) to `base URL + path` with the
//! route's method, and hands the decoded answer to the mapping layer.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};

use crate::backends::deadline::within;
use crate::backends::http_client::{ClientSettings, HttpClient, UpstreamError};
use crate::codec::xml::{decode_document, XmlError};
use crate::model::{
    Backend, BackendCall, BackendFuture, Code, GatewayResponse, Payload, RequestMessages,
    ResponseBody, Status,
};

/// A plain-XML backend: one pooled HTTP client.
#[derive(Clone)]
pub struct XmlBackend {
    inner: Arc<HttpClient>,
}

/// Everything that can go wrong in a plain-XML call.
enum XmlCallError {
    Upstream(UpstreamError),
    Xml(XmlError),
    Request(&'static str),
    /// A success answer that declares a document (a `Content-Type`) and sends none.
    EmptyBody,
}

impl XmlBackend {
    /// A backend named `name`; connects on first use.
    pub fn new(name: &str, settings: ClientSettings) -> Result<Self, String> {
        Ok(Self {
            inner: Arc::new(HttpClient::new(name, settings)?),
        })
    }
}

impl Backend for XmlBackend {
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

/// The canonical error of a plain-XML call's failure.
fn status(client: &HttpClient, error: XmlCallError) -> Status {
    let backend = client.backend();
    match error {
        XmlCallError::Upstream(error) => client.failure(error),
        XmlCallError::Xml(error) => error.answer_status(backend),
        XmlCallError::Request(message) => {
            Status::internal(format!("backend '{backend}': {message}"))
        }
        XmlCallError::EmptyBody => Status::upstream_fault(
            Code::Unknown,
            format!("backend '{backend}' declared an XML answer and sent an empty body"),
        )
        .with_reason("UPSTREAM_EMPTY_BODY"),
    }
}

async fn exchange(client: &HttpClient, call: BackendCall) -> Result<GatewayResponse, XmlCallError> {
    let RequestMessages::Unary(Payload::Xml(document)) = call.messages else {
        return Err(XmlCallError::Request(
            "a plain-XML backend takes one XML message",
        ));
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/xml, text/xml"),
    );
    let mut metadata = call.metadata;
    if !document.is_empty() && !metadata.contains_key(CONTENT_TYPE) {
        metadata.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        );
    }
    let uri = client
        .uri(&call.operation)
        .map_err(XmlCallError::Upstream)?;
    let response = client
        .send_for_success(call.method, uri, metadata, headers, document)
        .await
        .map_err(XmlCallError::Upstream)?;
    let declared = response.media_type();
    if response.body.iter().all(u8::is_ascii_whitespace)
        && !declared.is_empty()
        && !matches!(response.status.as_u16(), 204 | 205)
    {
        return Err(XmlCallError::EmptyBody);
    }
    let upstream = Some(client.reply(response.status, &response.headers, None));
    let decoded = decode_document(&response.body, response.charset().as_deref())
        .map_err(XmlCallError::Xml)?;
    let bytes = match decoded {
        Cow::Borrowed(slice) => response.body.slice_ref(slice),
        Cow::Owned(vec) => Bytes::from(vec),
    };
    Ok(GatewayResponse {
        upstream,
        cache: None,
        metadata: HeaderMap::new(),
        body: ResponseBody::Unary {
            message: Payload::Xml(bytes),
            trailers: HeaderMap::new(),
        },
    })
}
