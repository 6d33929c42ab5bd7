//! What the pipeline's telemetry costs per request: opening an `Exchange`, noting the route,
//! sizes and backend time, and recording it when it ends (counter, four histograms, in-flight
//! gauge); with a `traceparent` to validate; with the access log's record queued (the writer
//! thread formats and writes the queued records every 20 ms, on its own thread: not measured
//! here, but counted by the load scenario `telemetry-cost`); and the JSON line's formatting alone.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue, Method};
use polygate::model::{Caller, Code, FrontendKind, RequestKey};
use polygate::telemetry::access_log::{AccessLog, AccessLogConfig, AccessLogFormat};
use polygate::telemetry::Telemetry;

fn key() -> RequestKey {
    RequestKey::Http {
        method: Method::GET,
        uri: "/v1/shelves/1/books/2".parse().unwrap(),
    }
}

fn caller() -> Caller {
    Caller {
        frontend: FrontendKind::Rest,
        address: Some("127.0.0.1:40000".parse().unwrap()),
        ..Caller::default()
    }
}

/// One request's telemetry, as `Pipeline::handle` does it.
fn exchange(
    telemetry: &Arc<Telemetry>,
    key: &RequestKey,
    metadata: &mut HeaderMap,
    route: &Arc<polygate::telemetry::metrics::RouteMetrics>,
) {
    let mut exchange = telemetry.begin(&caller(), key, metadata);
    exchange.matched(route.clone());
    exchange.request_size(0);
    let started = Instant::now();
    exchange.backend_answered(started);
    exchange.answered(512);
    exchange.finish(Code::Ok);
}

fn telemetry(c: &mut Criterion) {
    let key = key();
    let mut group = c.benchmark_group("telemetry");

    let metrics_only = Arc::new(Telemetry::default());
    let route = metrics_only
        .metrics
        .route("GET", "/v1/shelves/{shelf}/books/{book}", "library");
    group.bench_function("metrics_per_request", |b| {
        let mut metadata = HeaderMap::new();
        b.iter(|| exchange(&metrics_only, black_box(&key), &mut metadata, &route));
    });

    group.bench_function("metrics_with_traceparent_per_request", |b| {
        let mut metadata = HeaderMap::new();
        metadata.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        b.iter(|| exchange(&metrics_only, black_box(&key), &mut metadata, &route));
    });

    let logged = Arc::new(Telemetry::default());
    let dir = std::env::temp_dir().join(format!("polygate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = AccessLogConfig {
        format: AccessLogFormat::Json,
        path: Some(dir.join("access.log")),
        buffer: Some(65_536),
    };
    logged.start_access_log(AccessLog::start(&config, &dir).unwrap());
    let logged_route = logged
        .metrics
        .route("GET", "/v1/shelves/{shelf}/books/{book}", "library");
    group.bench_function("metrics_and_json_access_log_per_request", |b| {
        let mut metadata = HeaderMap::new();
        metadata.insert("x-request-id", HeaderValue::from_static("req-1"));
        b.iter(|| exchange(&logged, black_box(&key), &mut metadata, &logged_route));
    });
    group.bench_function("json_access_log_line_formatted", |b| {
        let entry = polygate::telemetry::access_log::Entry {
            time: std::time::SystemTime::now(),
            frontend: "rest",
            route: &logged_route,
            method: "GET",
            target: "/v1/shelves/1/books/2",
            status: Code::Ok,
            upstream_nanos: Some(180_000),
            duration_nanos: 250_000,
            bytes_in: 0,
            bytes_out: 512,
            request_id: Some("req-1"),
            trace_id: None,
            client: Some("127.0.0.1:40000".parse().unwrap()),
            principal: None,
        };
        let mut line = Vec::with_capacity(512);
        b.iter(|| {
            line.clear();
            polygate::telemetry::access_log::format_entry(
                &mut line,
                black_box(&entry),
                AccessLogFormat::Json,
            );
            black_box(&line);
        });
    });
    group.finish();
    let dropped = logged
        .metrics
        .access_log_dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("access log lines dropped (writer behind): {dropped}");
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, telemetry);
criterion_main!(benches);
