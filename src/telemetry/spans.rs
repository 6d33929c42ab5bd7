//! Spans of an exchange's phases (frontend, mapping, backend), joined to the client's W3C
//! `traceparent` and exported over OTLP/gRPC: the `tracing.otlp` section, honoured when polygate
//! is built with the `otlp` cargo feature (docs/operations.md, "Span export"). Without the
//! feature the section is refused at load and every hook here is an empty inline function.

use std::time::Duration;

use serde::Deserialize;

use crate::config::units::ConfigDuration;

/// The `tracing:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// Span export over OTLP/gRPC (needs the `otlp` cargo feature).
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
}

/// The `tracing.otlp:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's OTLP/gRPC address, `http://HOST:PORT` (e.g. `http://127.0.0.1:4317`).
    pub endpoint: String,
    /// The `service.name` resource attribute of every span. Default `polygate`.
    #[serde(default)]
    pub service_name: Option<String>,
    /// How long one export may take. Default `10s`.
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    /// How often finished spans are sent in a batch. Default `5s`.
    #[serde(default)]
    pub interval: Option<ConfigDuration>,
}

/// Validated OTLP export settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The collector's address.
    pub endpoint: String,
    /// The `service.name` of the spans.
    pub service_name: String,
    /// How long one export may take.
    pub timeout: Duration,
    /// How often spans are sent.
    pub interval: Duration,
}

/// What the error says when a build without the feature is given `tracing.otlp`.
pub const NO_FEATURE: &str = "tracing.otlp: this polygate was built without the `otlp` cargo feature, so it cannot export spans; build it with `cargo build --release --features otlp`, or remove tracing.otlp";

impl TracingConfig {
    /// The export settings, if export is configured; an error names the key at fault.
    pub fn validate(&self) -> Result<Option<OtlpSettings>, String> {
        let Some(otlp) = &self.otlp else {
            return Ok(None);
        };
        if !cfg!(feature = "otlp") {
            return Err(NO_FEATURE.to_owned());
        }
        let endpoint = otlp.endpoint.trim_end_matches('/');
        let uri: http::Uri = endpoint.parse().map_err(|_| {
            format!("tracing.otlp.endpoint: '{endpoint}' is not a URL like http://127.0.0.1:4317")
        })?;
        match (uri.scheme_str(), uri.authority(), uri.path()) {
            (Some("http"), Some(_), "" | "/") => {}
            (Some("https"), ..) => {
                return Err(format!("tracing.otlp.endpoint: '{endpoint}': only plain http:// is supported (send spans to a collector or agent on the same host or a trusted network)"))
            }
            _ => {
                return Err(format!(
                    "tracing.otlp.endpoint: '{endpoint}' is not a URL like http://127.0.0.1:4317"
                ))
            }
        }
        let service_name = otlp.service_name.as_deref().unwrap_or("polygate");
        if service_name.trim().is_empty() {
            return Err("tracing.otlp.service_name must not be empty".into());
        }
        let positive = |key: &str, value: Option<ConfigDuration>, default: u64| {
            let value = value.map_or(Duration::from_secs(default), |d| d.0);
            if value.is_zero() {
                Err(format!("tracing.otlp.{key} must be longer than 0s"))
            } else {
                Ok(value)
            }
        };
        Ok(Some(OtlpSettings {
            endpoint: endpoint.to_owned(),
            service_name: service_name.to_owned(),
            timeout: positive("timeout", otlp.timeout, 10)?,
            interval: positive("interval", otlp.interval, 5)?,
        }))
    }
}

/// One phase of an exchange under way (mapping, backend call); its span, if spans are
/// exported, ends when it is dropped.
#[must_use = "the phase ends when dropped"]
#[derive(Debug, Default)]
pub struct Phase {
    #[cfg(feature = "otlp")]
    span: Option<opentelemetry_sdk::trace::Span>,
}

impl Phase {
    /// The phase failed with `status`.
    #[inline]
    pub fn failed(&mut self, status: &crate::model::Status) {
        #[cfg(feature = "otlp")]
        if let Some(span) = &mut self.span {
            use opentelemetry::trace::Span as _;
            span.set_attribute(opentelemetry::KeyValue::new(
                "rpc.grpc.status_code",
                status.code() as i64,
            ));
            span.set_status(opentelemetry::trace::Status::error(
                status.message().to_owned(),
            ));
        }
        #[cfg(not(feature = "otlp"))]
        let _ = status;
    }
}

#[cfg(feature = "otlp")]
pub(crate) use export::{ExchangeSpans, Exporter};

#[cfg(feature = "otlp")]
mod export {
    use std::fmt;

    use http::{HeaderMap, HeaderValue};
    use opentelemetry::trace::{
        Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
        TraceState, Tracer as _, TracerProvider as _,
    };
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::trace::{
        BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Tracer,
    };
    use opentelemetry_sdk::Resource;

    use super::{OtlpSettings, Phase};
    use crate::model::{Code, FrontendKind};
    use crate::telemetry::metrics::code_name;
    use crate::telemetry::trace::{self, TRACEPARENT, TRACESTATE};

    /// The exporter of one gateway: its own tracer provider (no process-global state), so
    /// several gateways in one process export apart.
    pub(crate) struct Exporter {
        provider: SdkTracerProvider,
        tracer: Tracer,
    }

    impl fmt::Debug for Exporter {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Exporter")
        }
    }

    impl Exporter {
        /// Starts exporting to `settings.endpoint`; must run inside the Tokio runtime (the
        /// gRPC channel's worker is spawned on it).
        pub(crate) fn start(settings: &OtlpSettings) -> Result<Self, String> {
            use opentelemetry_otlp::WithExportConfig as _;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .build()
                .map_err(|e| format!("tracing.otlp: {e}"))?;
            let processor = BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_scheduled_delay(settings.interval)
                        .build(),
                )
                .build();
            let provider = SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(
                    Resource::builder_empty()
                        .with_service_name(settings.service_name.clone())
                        .build(),
                )
                .build();
            let tracer = provider.tracer("polygate");
            Ok(Self { provider, tracer })
        }

        /// Sends the spans still waiting and stops. The batch processor's thread blocks on the
        /// export, which needs the runtime: it is waited for off the runtime's threads.
        pub(crate) async fn shutdown(&self) {
            let provider = self.provider.clone();
            let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(error)) = done {
                tracing::warn!(%error, "OTLP span export did not shut down cleanly");
            }
        }
    }

    /// The spans of one exchange: the frontend span, parent of the phases'.
    pub(crate) struct ExchangeSpans {
        tracer: Tracer,
        cx: Context,
    }

    impl fmt::Debug for ExchangeSpans {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("ExchangeSpans")
        }
    }

    impl ExchangeSpans {
        /// Opens the frontend span, child of the client's span when `metadata` holds a valid
        /// `traceparent` (already checked by [`trace::accept`]).
        pub(crate) fn begin(
            exporter: &Exporter,
            frontend: FrontendKind,
            metadata: &HeaderMap,
        ) -> Self {
            let parent = metadata
                .get(TRACEPARENT)
                .and_then(|v| v.to_str().ok())
                .and_then(trace::parse)
                .and_then(|p| {
                    let state = metadata
                        .get(TRACESTATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|s| s.parse::<TraceState>().ok())
                        .unwrap_or_default();
                    Some(SpanContext::new(
                        TraceId::from_hex(p.trace_id).ok()?,
                        SpanId::from_hex(p.parent_id).ok()?,
                        TraceFlags::new(p.flags),
                        true,
                        state,
                    ))
                });
            let root = match parent {
                Some(parent) => Context::new().with_remote_span_context(parent),
                None => Context::new(),
            };
            let tracer = exporter.tracer.clone();
            let span = tracer
                .span_builder("polygate")
                .with_kind(SpanKind::Server)
                .with_attributes([
                    KeyValue::new("polygate.phase", "frontend"),
                    KeyValue::new("polygate.frontend", frontend.label()),
                ])
                .start_with_context(&tracer, &root);
            Self {
                cx: root.with_span(span),
                tracer,
            }
        }

        /// The route matched: the span is named `METHOD template` and says the backend.
        pub(crate) fn matched(&self, method: &str, route: &str, backend: &str) {
            let span = self.cx.span();
            span.update_name(format!("{method} {route}"));
            span.set_attributes([
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("polygate.backend", backend.to_owned()),
            ]);
        }

        /// A phase named `name`, child of the frontend span.
        pub(crate) fn phase(
            &self,
            name: &'static str,
            kind: SpanKind,
        ) -> opentelemetry_sdk::trace::Span {
            self.tracer
                .span_builder(name)
                .with_kind(kind)
                .with_attributes([KeyValue::new("polygate.phase", name)])
                .start_with_context(&self.tracer, &self.cx)
        }

        /// The mapping phase.
        pub(crate) fn mapping(&self) -> Phase {
            Phase {
                span: Some(self.phase("mapping", SpanKind::Internal)),
            }
        }

        /// The backend phase; the call's `traceparent` now names this span, so the backend's
        /// own spans become its children (`tracestate` is kept as the client sent it).
        pub(crate) fn backend(&self, backend: &str, metadata: &mut HeaderMap) -> Phase {
            let mut span = self.phase("backend", SpanKind::Client);
            span.set_attribute(KeyValue::new("polygate.backend", backend.to_owned()));
            let context = span.span_context();
            let value = format!(
                "00-{}-{}-{:02x}",
                context.trace_id(),
                context.span_id(),
                context.trace_flags().to_u8()
            );
            if let Ok(value) = HeaderValue::from_str(&value) {
                metadata.insert(TRACEPARENT, value);
            }
            Phase { span: Some(span) }
        }

        /// Ends the frontend span with the exchange's `code`.
        pub(crate) fn finish(&self, code: Code) {
            let span = self.cx.span();
            span.set_attribute(KeyValue::new("rpc.grpc.status_code", code as i64));
            span.set_attribute(KeyValue::new("polygate.code", code_name(code)));
            if code != Code::Ok {
                span.set_status(Status::error(code_name(code)));
            }
            span.end();
        }
    }
}
