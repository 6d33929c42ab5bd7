//! `SoapBackend`: wraps the bound XML in a SOAP 1.1 or 1.2 envelope (with WS-Security when
//! configured), posts it over the shared HTTP client, and recognises faults by the answer's
//! content whatever its HTTP status.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::config::SoapSettings;
use super::fault::{read_fault, status, FaultPolicy, SoapError};
use crate::backends::deadline::within;
use crate::backends::http_client::{log_unusable, HttpClient, UpstreamResponse};
use crate::codec::soap::{SoapBody, SoapVersion};
use crate::codec::xml::{decode_document, XmlMapping, XmlMappingConfig};
use crate::model::{
    Backend, BackendCall, BackendFuture, GatewayResponse, Payload, RequestMessages, ResponseBody,
};

const ENVELOPE_PREFIX: &str = "soapenv";
/// Nesting allowed in envelopes polygate reads for faults (answers use the route's limit).
const FAULT_DEPTH: usize = 64;

/// A SOAP backend: one pooled HTTP client, envelopes per call.
#[derive(Clone)]
pub struct SoapBackend {
    inner: Arc<Inner>,
}

struct Inner {
    client: HttpClient,
    settings: SoapSettings,
    /// Reads fault details and texts: any namespace, prefixes dropped.
    lenient: XmlMapping,
}

impl SoapBackend {
    /// A backend named `name`; connects on first use.
    pub fn new(name: &str, settings: SoapSettings) -> Result<Self, String> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: HttpClient::new(name, settings.client.clone())?,
                lenient: lenient_mapping()?,
                settings,
            }),
        })
    }
}

impl Backend for SoapBackend {
    fn name(&self) -> &str {
        self.inner.client.backend()
    }

    fn call(&self, call: BackendCall) -> BackendFuture {
        let inner = self.inner.clone();
        let limit = inner.client.time_limit(call.timeout);
        // The call future goes straight into the box: `within` polls it where it lies.
        Box::pin(within(limit, async move {
            inner.exchange(call).await.map_err(|error| {
                let policy = FaultPolicy {
                    codes: &inner.settings.fault_codes,
                    expose: inner.settings.expose_faults,
                };
                status(inner.client.backend(), error, &policy)
            })
        }))
    }
}

impl Inner {
    async fn exchange(&self, call: BackendCall) -> Result<GatewayResponse, SoapError> {
        let RequestMessages::Unary(Payload::Xml(payload)) = call.messages else {
            return Err(SoapError::Request(
                "a SOAP backend takes one XML message".into(),
            ));
        };
        let envelope = self.envelope(&payload)?;
        let headers = self.protocol_headers(&call.operation)?;
        let uri = self.client.uri("").map_err(SoapError::Upstream)?;
        let response = self
            .client
            .send(
                Method::POST,
                uri,
                call.metadata,
                headers,
                Bytes::from(envelope),
            )
            .await
            .map_err(SoapError::Upstream)?;
        read_answer(response, &self.lenient, self.client.backend())
    }

    /// `<?xml …?><soapenv:Envelope …><soapenv:Header>…</soapenv:Header><soapenv:Body>payload…`.
    fn envelope(&self, payload: &[u8]) -> Result<Vec<u8>, SoapError> {
        let ns = self.settings.version.envelope_ns();
        let mut out = Vec::with_capacity(payload.len() + 512);
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        out.extend_from_slice(
            format!("<{ENVELOPE_PREFIX}:Envelope xmlns:{ENVELOPE_PREFIX}=\"{ns}\">").as_bytes(),
        );
        if let Some(token) = &self.settings.security {
            out.extend_from_slice(format!("<{ENVELOPE_PREFIX}:Header>").as_bytes());
            token
                .write(ENVELOPE_PREFIX, &mut out)
                .map_err(SoapError::Request)?;
            out.extend_from_slice(format!("</{ENVELOPE_PREFIX}:Header>").as_bytes());
        }
        out.extend_from_slice(format!("<{ENVELOPE_PREFIX}:Body>").as_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(
            format!("</{ENVELOPE_PREFIX}:Body></{ENVELOPE_PREFIX}:Envelope>").as_bytes(),
        );
        Ok(out)
    }

    /// SOAP 1.1: `text/xml` and a quoted `SOAPAction`; 1.2: `application/soap+xml` with the
    /// action as a parameter.
    fn protocol_headers(&self, action: &str) -> Result<HeaderMap, SoapError> {
        let mut headers = HeaderMap::new();
        let quoted = format!("\"{}\"", action.replace('\\', "\\\\").replace('"', "\\\""));
        let invalid = |_| {
            SoapError::Request(format!(
                "the SOAP action {action:?} cannot be sent in a header"
            ))
        };
        match self.settings.version {
            SoapVersion::V11 => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/xml; charset=utf-8"),
                );
                headers.insert(ACCEPT, HeaderValue::from_static("text/xml"));
                headers.insert(
                    HeaderName::from_static("soapaction"),
                    HeaderValue::from_str(&quoted).map_err(invalid)?,
                );
            }
            SoapVersion::V12 => {
                let content_type = if action.is_empty() {
                    "application/soap+xml; charset=utf-8".to_owned()
                } else {
                    format!("application/soap+xml; charset=utf-8; action={quoted}")
                };
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_str(&content_type).map_err(invalid)?,
                );
                headers.insert(ACCEPT, HeaderValue::from_static("application/soap+xml"));
            }
        }
        Ok(headers)
    }
}

/// The mapping that reads fault details and texts: any namespace, prefixes dropped.
pub(super) fn lenient_mapping() -> Result<XmlMapping, String> {
    let lenient = XmlMappingConfig {
        drop_prefixes: true,
        ..XmlMappingConfig::default()
    };
    XmlMapping::new(&lenient).map_err(|e| e.to_string())
}

/// Reads the backend's answer: the XML of a success, or the failure it stands for (a fault,
/// whatever the HTTP status; an error page; an empty or malformed answer). `lenient` reads
/// fault details and texts.
pub(super) fn read_answer(
    response: UpstreamResponse,
    lenient: &XmlMapping,
    backend: &str,
) -> Result<GatewayResponse, SoapError> {
    let media_type = response.media_type();
    if media_type == "multipart/related" {
        return Err(SoapError::Mtom);
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        // Only a one-way operation's acknowledgement may come without an envelope.
        return match response.status {
            StatusCode::ACCEPTED | StatusCode::NO_CONTENT => Ok(answer(Bytes::new())),
            status if status.is_success() => Err(SoapError::Empty(status)),
            status => Err(SoapError::HttpStatus(status, String::new())),
        };
    }
    let document =
        decode_document(&response.body, response.charset().as_deref()).map_err(SoapError::Xml)?;
    {
        let text = std::str::from_utf8(&document).map_err(|e| {
            SoapError::Xml(crate::codec::xml::XmlError::BadEncoding {
                encoding: "UTF-8",
                offset: e.valid_up_to(),
            })
        })?;
        let mut body = match SoapBody::open(text, FAULT_DEPTH) {
            Ok(body) => body,
            // An error page instead of an envelope is an HTTP failure, not bad XML; it is
            // logged (bounded), never copied into the client's error.
            Err(_) if !response.status.is_success() => {
                log_unusable(backend, response.status, &media_type, &response.body);
                return Err(SoapError::HttpStatus(response.status, media_type));
            }
            Err(error) => return Err(SoapError::Envelope(error)),
        };
        if body.is_fault() {
            let version = body.version();
            let (reader, start) = body.take_first();
            let fault = match start {
                Some(start) => {
                    read_fault(reader, &start, version, lenient).map_err(SoapError::Xml)?
                }
                None => return Err(SoapError::HttpStatus(response.status, media_type)),
            };
            return Err(SoapError::Fault(Box::new(fault)));
        }
        if !response.status.is_success() {
            return Err(SoapError::HttpStatus(response.status, media_type));
        }
    }
    let bytes = match document {
        Cow::Borrowed(slice) => response.body.slice_ref(slice),
        Cow::Owned(vec) => Bytes::from(vec),
    };
    Ok(answer(bytes))
}

fn answer(document: Bytes) -> GatewayResponse {
    GatewayResponse {
        upstream: None,
        cache: None,
        metadata: HeaderMap::new(),
        body: ResponseBody::Unary {
            message: Payload::Xml(document),
            trailers: HeaderMap::new(),
        },
    }
}
