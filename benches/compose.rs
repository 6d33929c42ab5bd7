//! The cost of composition: a one-target REST route, and composed routes of 1, 2 and 4
//! independent steps calling the same in-process backend that answers at once, through
//! `Pipeline::handle`. The per-step overhead is (4 steps − 1 step) / 3. Target: at most 5 µs
//! of CPU per extra step. Figures: BENCHMARKS.md.
//!
//! `cargo bench --bench compose`

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, Method};
use polygate::mapping::options::RouteOptionsConfig;
use polygate::mapping::source::parse_mapping;
use polygate::mapping::{RouteSources, RouteTable, TargetBackend};
use polygate::model::{
    Backend, BackendCall, BackendFuture, BackendKind, Caller, GatewayRequest, GatewayResponse,
    Payload, RequestBody, RequestKey, ResponseBody,
};
use polygate::pipeline::Pipeline;

/// A backend answering every call at once with a small JSON object.
struct Immediate;

impl Backend for Immediate {
    fn name(&self) -> &str {
        "fast"
    }

    fn call(&self, _call: BackendCall) -> BackendFuture {
        Box::pin(std::future::ready(Ok(GatewayResponse {
            metadata: HeaderMap::new(),
            body: ResponseBody::Unary {
                message: Payload::Json(Bytes::from_static(
                    br#"{"sku":"CUP-1","price":3,"stock":12}"#,
                )),
                trailers: HeaderMap::new(),
            },
            upstream: None,
            cache: None,
        })))
    }
}

fn step(name: &str) -> String {
    format!("      - {{name: {name}, backend: fast, rest: {{path: \"/items/{{request.sku}}\"}}}}\n")
}

fn mapping() -> String {
    let mut text = String::from(
        "routes:\n  - get: /v1/direct/{sku}\n    backend: fast\n    rest: {path: \"/items/{sku}\"}\n",
    );
    for count in [1, 2, 4] {
        text.push_str(&format!("  - get: /v1/c{count}/{{sku}}\n    compose:\n"));
        for index in 0..count {
            text.push_str(&step(&format!("s{index}")));
        }
    }
    text
}

fn pipeline() -> Pipeline {
    let contents = parse_mapping(&mapping(), Path::new("bench.yaml")).expect("the mapping parses");
    let backends = [TargetBackend {
        name: Arc::from("fast"),
        backend: Arc::new(Immediate),
        kind: BackendKind::Rest,
    }];
    let table = RouteTable::build(RouteSources {
        backends: &[],
        mapping_rules: contents.rules,
        defaults: RouteOptionsConfig::default(),
        expose_unannotated: false,
        target_backends: &backends,
        target_routes: contents.routes,
    })
    .expect("the routes compile");
    Pipeline::new(table)
}

fn request(path: &'static str) -> GatewayRequest {
    GatewayRequest {
        key: RequestKey::Http {
            method: Method::GET,
            uri: http::Uri::from_static(path),
        },
        body: RequestBody::Empty,
        metadata: HeaderMap::new(),
        timeout: None,
        caller: Caller::default(),
    }
}

fn bench_compose(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pipeline = pipeline();
    let mut group = c.benchmark_group("compose");
    for (name, path) in [
        ("direct", "/v1/direct/CUP-1"),
        ("steps_1", "/v1/c1/CUP-1"),
        ("steps_2", "/v1/c2/CUP-1"),
        ("steps_4", "/v1/c4/CUP-1"),
    ] {
        let answer = runtime.block_on(pipeline.handle(request(path)));
        assert!(answer.is_ok(), "{path}: {:?}", answer.err());
        group.bench_function(name, |b| {
            b.iter(|| black_box(runtime.block_on(pipeline.handle(request(black_box(path))))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_compose);
criterion_main!(benches);
