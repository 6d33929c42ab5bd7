//! OTLP span export (docs/operations.md, "Span export"): a collector stand-in on loopback (the
//! OTLP TraceService, as a real collector serves it) receives the frontend, mapping and backend
//! spans of a REST → gRPC request in the client's trace. Built with `--features otlp`; without
//! the feature, the `tracing.otlp` key is refused.

#[cfg(feature = "otlp")]
mod export {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use tokio::sync::oneshot;

    use crate::support::{bounded, test_backend, Gateway};

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CLIENT_SPAN: &str = "00f067aa0ba902b7";

    /// Every export request the collector received.
    #[derive(Clone, Default)]
    struct Collector {
        received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    }

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            self.received.lock().unwrap().push(request.into_inner());
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }

    impl Collector {
        /// Serves on a loopback port; returns its address and the stop signal.
        async fn start(&self) -> (std::net::SocketAddr, oneshot::Sender<()>) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = oneshot::channel::<()>();
            let service = TraceServiceServer::new(self.clone());
            tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        async {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .unwrap();
            });
            (addr, stop)
        }

        /// Every span received, with its resource's `service.name`.
        fn spans(&self) -> Vec<(String, Span)> {
            let received = self.received.lock().unwrap();
            let mut spans = Vec::new();
            for request in received.iter() {
                for resource in &request.resource_spans {
                    let service = resource
                        .resource
                        .as_ref()
                        .and_then(|r| string(&r.attributes, "service.name"))
                        .unwrap_or_default();
                    for scope in &resource.scope_spans {
                        for span in &scope.spans {
                            spans.push((service.clone(), span.clone()));
                        }
                    }
                }
            }
            spans
        }
    }

    fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .and_then(|v| match v {
                AnyValue::StringValue(s) => Some(s.clone()),
                _ => None,
            })
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[tokio::test]
    async fn a_rest_to_grpc_request_exports_frontend_mapping_and_backend_spans_in_the_clients_trace(
    ) {
        let collector = Collector::default();
        let (addr, stop) = collector.start().await;
        let backend = test_backend().start().await;
        let gateway = Gateway::for_test_backend(
            &backend,
            &format!(
                "tracing:\n  otlp:\n    endpoint: http://{addr}\n    service_name: polygate-test\n    interval: 20ms\n"
            ),
        )
        .await;
        let traceparent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
        let response = gateway
            .client
            .send(
                "GET",
                "/v1/echo/x",
                &[("traceparent", &traceparent), ("tracestate", "vendor=abc")],
                "",
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        bounded("the three spans reach the collector", async {
            while collector.spans().len() < 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let spans = collector.spans();
        assert_eq!(spans.len(), 3);
        let phase = |name: &str| -> Span {
            spans
                .iter()
                .find(|(_, s)| string(&s.attributes, "polygate.phase").as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no {name} span"))
                .1
                .clone()
        };
        let (frontend, mapping, backend_span) =
            (phase("frontend"), phase("mapping"), phase("backend"));
        for (service, span) in &spans {
            assert_eq!(service, "polygate-test");
            assert_eq!(hex(&span.trace_id), TRACE_ID, "{}", span.name);
        }
        // The chain: client span → frontend → (mapping, backend).
        assert_eq!(hex(&frontend.parent_span_id), CLIENT_SPAN);
        assert_eq!(mapping.parent_span_id, frontend.span_id);
        assert_eq!(backend_span.parent_span_id, frontend.span_id);
        assert_eq!(frontend.name, "GET /v1/echo/{name}");
        assert_eq!(frontend.kind, SpanKind::Server as i32);
        assert_eq!(backend_span.kind, SpanKind::Client as i32);
        assert_eq!(
            string(&frontend.attributes, "http.route").as_deref(),
            Some("/v1/echo/{name}")
        );
        assert_eq!(
            string(&frontend.attributes, "polygate.code").as_deref(),
            Some("OK")
        );
        assert_eq!(
            string(&backend_span.attributes, "polygate.backend").as_deref(),
            Some("test")
        );
        // The backend was called as a child of the backend span, tracestate unchanged.
        let call = backend.last_call();
        assert_eq!(
            call.metadata.get("traceparent").unwrap().to_str().unwrap(),
            format!("00-{TRACE_ID}-{}-01", hex(&backend_span.span_id))
        );
        assert_eq!(call.metadata.get("tracestate").unwrap(), "vendor=abc");
        gateway.stop().await;
        let _ = stop.send(());
    }

    #[tokio::test]
    async fn a_bad_otlp_endpoint_is_refused_at_load() {
        let dir = crate::support::scratch_dir();
        for (otlp, expected) in [
            (
                "{endpoint: \"collector:4317\"}",
                "tracing.otlp.endpoint: 'collector:4317' is not a URL like http://127.0.0.1:4317",
            ),
            (
                "{endpoint: \"https://collector:4317\"}",
                "tracing.otlp.endpoint: 'https://collector:4317': only plain http:// is supported (send spans to a collector or agent on the same host or a trusted network)",
            ),
            (
                "{endpoint: http://127.0.0.1:4317, interval: 0s}",
                "tracing.otlp.interval must be longer than 0s",
            ),
        ] {
            let path = dir.join("polygate.yaml");
            std::fs::write(
                &path,
                format!("http:\n  listen: 127.0.0.1:0\ntracing:\n  otlp: {otlp}\n"),
            )
            .unwrap();
            let config = polygate::config::Config::from_file(&path).unwrap();
            let errors = match polygate::app::build(&config).await {
                Ok(_) => Vec::new(),
                Err(errors) => errors.iter().map(ToString::to_string).collect(),
            };
            assert_eq!(errors, [expected]);
        }
    }
}

#[cfg(not(feature = "otlp"))]
#[tokio::test]
async fn without_the_otlp_feature_tracing_otlp_is_refused_naming_the_feature() {
    let dir = crate::support::scratch_dir();
    let path = dir.join("polygate.yaml");
    std::fs::write(
        &path,
        "http:\n  listen: 127.0.0.1:0\ntracing:\n  otlp: {endpoint: http://127.0.0.1:4317}\n",
    )
    .unwrap();
    let config = polygate::config::Config::from_file(&path).unwrap();
    let errors: Vec<String> = match polygate::app::build(&config).await {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(errors, [polygate::telemetry::spans::NO_FEATURE]);
}
