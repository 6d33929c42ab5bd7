//! The resilience layer's own cost per call: a backend that answers at once, called directly
//! and through the layer with 1 and 3 endpoints (round-robin and least-request). The
//! difference is what balancing, the breaker and outlier bookkeeping, the retry budget and the
//! copy kept for a retry add to every call; no sockets are involved.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method};
use polygate::backends::resilience::config::{BalancePolicy, ResilienceConfig};
use polygate::backends::resilience::{EndpointFactory, ResilientBackend};
use polygate::model::{
    Backend, BackendCall, BackendFuture, GatewayResponse, Payload, ResponseBody,
};

/// A backend that answers every call at once with an empty message.
struct Immediate;

impl Backend for Immediate {
    fn name(&self) -> &str {
        "immediate"
    }

    fn call(&self, call: BackendCall) -> BackendFuture {
        drop(black_box(call));
        Box::pin(std::future::ready(Ok(GatewayResponse {
            metadata: HeaderMap::new(),
            body: ResponseBody::Unary {
                message: Payload::Protobuf(Bytes::new()),
                trailers: HeaderMap::new(),
            },
            upstream: None,
            cache: None,
        })))
    }
}

struct Factory;

impl EndpointFactory for Factory {
    fn client(&self, _: &str, _: Option<&str>) -> Result<Arc<dyn Backend>, String> {
        Ok(Arc::new(Immediate))
    }

    fn http_checker(&self, _: &str, _: Option<&str>) -> Result<Arc<dyn Backend>, String> {
        Ok(Arc::new(Immediate))
    }
}

fn layer(endpoints: usize, balance: BalancePolicy) -> Arc<dyn Backend> {
    let settings = ResilienceConfig {
        balance: Some(balance),
        ..ResilienceConfig::default()
    }
    .validate(true)
    .unwrap();
    let urls: Vec<String> = (0..endpoints)
        .map(|i| format!("http://10.0.0.{i}:50051"))
        .collect();
    Arc::new(ResilientBackend::new("bench", true, settings, &urls, Arc::new(Factory)).unwrap())
}

/// A unary call as the gRPC plan binds it: a small message and two metadata entries.
fn call(operation: &Arc<str>, metadata: &HeaderMap) -> BackendCall {
    BackendCall::unary(
        operation.clone(),
        Method::POST,
        Payload::Protobuf(Bytes::from_static(b"\x0a\x05hello")),
        metadata.clone(),
        Duration::from_secs(30),
    )
}

fn bench(c: &mut Criterion) {
    let operation: Arc<str> = Arc::from("/polygate.test.v1.Testing/Echo");
    let mut metadata = HeaderMap::new();
    metadata.insert("x-request-id", HeaderValue::from_static("r-1"));
    metadata.insert("authorization", HeaderValue::from_static("Bearer t"));
    let cases: [(&str, Arc<dyn Backend>); 4] = [
        ("direct", Arc::new(Immediate)),
        ("layer_1_endpoint", layer(1, BalancePolicy::RoundRobin)),
        ("layer_3_round_robin", layer(3, BalancePolicy::RoundRobin)),
        (
            "layer_3_least_request",
            layer(3, BalancePolicy::LeastRequest),
        ),
    ];
    let mut group = c.benchmark_group("resilience");
    for (name, backend) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                let answer = backend
                    .call(call(&operation, &metadata))
                    .now_or_never()
                    .expect("answers at once");
                black_box(answer.is_ok())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
