//! Telemetry: metrics ([`metrics`], Prometheus text), the access log ([`access_log`]), W3C
//! trace context ([`trace`]) and, with the `otlp` feature, span export ([`spans`]). The pipeline opens one [`Exchange`] per request and it records
//! itself once, when the exchange ends (for a stream: at its last message), whatever the
//! frontend; a leaf that knows only `model`.

pub mod access_log;
mod histogram;
pub mod metrics;
pub mod spans;
pub mod trace;

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::Stream;
use http::{HeaderMap, HeaderName};

use crate::model::{
    Caller, Code, FrontendKind, Identity, MessageStream, Payload, RequestKey, Status,
};
use access_log::{AccessLog, Opened, Principal, Record};
use metrics::{Metrics, Observation, RouteMetrics};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One gateway's metrics and access log.
#[derive(Debug)]
pub struct Telemetry {
    /// Every metric.
    pub metrics: Metrics,
    access_log: OnceLock<AccessLog>,
    #[cfg(feature = "otlp")]
    exporter: OnceLock<spans::Exporter>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            metrics: Metrics::default(),
            access_log: OnceLock::new(),
            #[cfg(feature = "otlp")]
            exporter: OnceLock::new(),
        }
    }
}

impl Telemetry {
    /// Starts writing the access log to `access_log` (once; later calls are ignored).
    pub fn start_access_log(&self, access_log: AccessLog) {
        let _ = self.access_log.set(access_log);
    }

    /// Starts exporting spans as `settings` say (once; later calls are ignored). Must run inside
    /// the Tokio runtime. Without the `otlp` feature there is nothing to start: the config
    /// check refuses `tracing.otlp` before this.
    pub fn start_spans(&self, settings: Option<&spans::OtlpSettings>) -> Result<(), String> {
        let Some(settings) = settings else {
            return Ok(());
        };
        #[cfg(feature = "otlp")]
        {
            let exporter = spans::Exporter::start(settings)?;
            let _ = self.exporter.set(exporter);
            Ok(())
        }
        #[cfg(not(feature = "otlp"))]
        {
            let _ = settings;
            Err(spans::NO_FEATURE.to_owned())
        }
    }

    /// Writes the access log lines still queued (at shutdown).
    pub fn flush_access_log(&self) {
        if let Some(log) = self.access_log() {
            log.flush();
        }
    }

    /// Sends the spans still waiting and stops exporting (at shutdown).
    pub async fn stop_spans(&self) {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = self.exporter.get() {
            exporter.shutdown().await;
        }
    }

    fn access_log(&self) -> Option<&AccessLog> {
        self.access_log.get().filter(|log| log.enabled())
    }

    /// Opens the exchange of a request, before it is routed: counts it in flight, checks its
    /// trace headers (an invalid `traceparent` is removed), and notes what the access log needs.
    pub fn begin(
        self: &Arc<Self>,
        caller: &Caller,
        key: &RequestKey,
        metadata: &mut HeaderMap,
    ) -> Exchange {
        self.metrics.begin(caller.frontend);
        let trace_id = if metadata.is_empty() {
            None
        } else {
            trace::accept(metadata)
        };
        let log = self.access_log().map(|_| {
            let request_id = metadata.get(X_REQUEST_ID).and_then(|v| v.to_str().ok());
            Opened::new(
                match key {
                    RequestKey::Topic { .. } => Cow::Borrowed("PUBLISH"),
                    _ => key.verb().map_or(Cow::Borrowed(""), method_name),
                },
                key.target(),
                request_id,
                trace_id,
                caller.address,
                match (&caller.identity, &caller.client_id) {
                    (Some(identity), _) => Some(Principal::Identity(identity.clone())),
                    (None, Some(client_id)) => Some(Principal::ClientId(client_id.clone())),
                    (None, None) => None,
                },
            )
        });
        #[cfg(feature = "otlp")]
        let spans = self.exporter.get().map(|exporter| {
            Box::new(spans::ExchangeSpans::begin(
                exporter,
                caller.frontend,
                metadata,
            ))
        });
        Exchange {
            #[cfg(feature = "otlp")]
            spans,
            telemetry: self.clone(),
            route: None,
            frontend: caller.frontend,
            started: Instant::now(),
            backend_nanos: None,
            request_bytes: None,
            response_bytes: None,
            code: None,
            log,
        }
    }
}

/// The method's name, borrowed for the standard methods (the only ones most gateways see).
fn method_name(method: &http::Method) -> Cow<'static, str> {
    const NAMES: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    const STANDARD: [http::Method; 9] = [
        http::Method::GET,
        http::Method::POST,
        http::Method::PUT,
        http::Method::DELETE,
        http::Method::PATCH,
        http::Method::HEAD,
        http::Method::OPTIONS,
        http::Method::CONNECT,
        http::Method::TRACE,
    ];
    // Compared as methods (an enum tag each), not as text.
    match STANDARD.iter().position(|standard| standard == method) {
        Some(at) => Cow::Borrowed(NAMES[at]),
        None => Cow::Owned(method.as_str().to_owned()),
    }
}

/// One request on its way through the pipeline; recorded once when it ends or is dropped
/// (a dropped exchange, its client gone, counts as `CANCELLED`).
#[derive(Debug)]
pub struct Exchange {
    telemetry: Arc<Telemetry>,
    route: Option<Arc<RouteMetrics>>,
    frontend: FrontendKind,
    started: Instant,
    backend_nanos: Option<u64>,
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
    code: Option<Code>,
    log: Option<Opened>,
    #[cfg(feature = "otlp")]
    spans: Option<Box<spans::ExchangeSpans>>,
}

impl Exchange {
    /// The mapping phase begins (binding the request to the backend call); it ends when the
    /// returned phase is dropped.
    #[inline]
    pub fn mapping(&self) -> spans::Phase {
        #[cfg(feature = "otlp")]
        if let Some(spans) = &self.spans {
            return spans.mapping();
        }
        spans::Phase::default()
    }

    /// The backend call to `backend` begins; with spans exported, the call's `traceparent`
    /// (in `metadata`) names the backend span. It ends when the returned phase is dropped.
    #[inline]
    pub fn backend_call(&self, backend: &str, metadata: &mut HeaderMap) -> spans::Phase {
        #[cfg(feature = "otlp")]
        if let Some(spans) = &self.spans {
            return spans.backend(backend, metadata);
        }
        let _ = (backend, metadata);
        spans::Phase::default()
    }

    /// The policies admitted the request as `identity` (none on a public route): the access
    /// log names it.
    #[inline]
    pub fn admitted(&mut self, identity: Option<&Arc<Identity>>) {
        if let (Some(log), Some(identity)) = (self.log.as_mut(), identity) {
            log.admitted(Principal::Identity(identity.clone()));
        }
    }

    /// The route matched.
    #[inline]
    pub fn matched(&mut self, route: Arc<RouteMetrics>) {
        #[cfg(feature = "otlp")]
        if let Some(spans) = &self.spans {
            spans.matched(route.method(), route.route(), route.backend());
        }
        self.route = Some(route);
    }

    /// The client sent one message of `bytes`.
    #[inline]
    pub fn request_size(&mut self, bytes: usize) {
        self.request_bytes = Some(bytes as u64);
    }

    /// The backend call made at `started` answered (its first answer, for streams).
    #[inline]
    pub fn backend_answered(&mut self, started: Instant) {
        self.backend_nanos = Some(started.elapsed().as_nanos() as u64);
    }

    /// An answer message of `bytes` goes to the client.
    #[inline]
    pub fn answered(&mut self, bytes: usize) {
        *self.response_bytes.get_or_insert(0) += bytes as u64;
    }

    /// Ends the exchange with `code`.
    #[inline]
    pub fn finish(mut self, code: Code) {
        self.code = Some(code);
    }

    /// The stream of answers, recording the exchange when it ends.
    pub fn stream(self, messages: MessageStream) -> MessageStream {
        Box::pin(Recorded {
            messages,
            exchange: Some(self),
        })
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let code = self.code.unwrap_or(Code::Cancelled);
        let duration_nanos = self.started.elapsed().as_nanos() as u64;
        let telemetry = &self.telemetry;
        telemetry.metrics.end(self.frontend);
        #[cfg(feature = "otlp")]
        if let Some(spans) = self.spans.take() {
            spans.finish(code);
        }
        let route = self
            .route
            .take()
            .unwrap_or_else(|| telemetry.metrics.unmatched());
        route.record(&Observation {
            frontend: self.frontend,
            code,
            duration_nanos,
            backend_nanos: self.backend_nanos,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
        });
        if let Some(opened) = self.log.take() {
            let record = Record {
                opened,
                started: self.started,
                frontend: self.frontend.label(),
                route,
                status: code,
                upstream_nanos: self.backend_nanos,
                duration_nanos,
                bytes_in: self.request_bytes.unwrap_or(0),
                bytes_out: self.response_bytes.unwrap_or(0),
            };
            if !telemetry.access_log().is_some_and(|log| log.send(record)) {
                telemetry
                    .metrics
                    .access_log_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A stream of answers that records its exchange at its end.
struct Recorded {
    messages: MessageStream,
    exchange: Option<Exchange>,
}

impl Stream for Recorded {
    type Item = Result<Payload, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = std::task::ready!(this.messages.as_mut().poll_next(cx));
        match &item {
            Some(Ok(message)) => {
                if let Some(exchange) = &mut this.exchange {
                    exchange.answered(message.bytes().len());
                }
            }
            Some(Err(status)) => {
                if let Some(exchange) = this.exchange.take() {
                    exchange.finish(status.code());
                }
            }
            None => {
                if let Some(exchange) = this.exchange.take() {
                    exchange.finish(Code::Ok);
                }
            }
        }
        Poll::Ready(item)
    }
}
