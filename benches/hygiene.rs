//! The HTTP hygiene work every request pays (docs/security.md, "HTTP hygiene"): path
//! normalization of a normal path (borrowed) and of a path that needs it, a generated request
//! id, and the smuggling check's framing of a typical HTTP/1.1 head, of a chunked body, and of
//! a head split over two reads.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use polygate::frontends::http::{
    framing_verdicts_for_benches, generate_request_id, normalize_path, EscapedSlashes,
};

const HEAD: &[u8] = b"GET /v1/shelves/17/books/42?view=full HTTP/1.1\r\nHost: gateway.example:8080\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAccept-Encoding: gzip, br\r\nAuthorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln\r\nX-Request-Id: 0f8e3a6c-1d2b-4c5e-9a7b-3c2d1e0f9a8b\r\n\r\n";

const CHUNKED: &[u8] = b"POST /v1/shelves HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n{\"name\":\"a\",\"theme\":\"x\"}\n\r\n1a\r\n{\"name\":\"b\",\"theme\":\"y\"}\n\r\n0\r\n\r\n";

fn hygiene(c: &mut Criterion) {
    c.bench_function("normalize a normal path", |b| {
        b.iter(|| normalize_path(black_box("/v1/shelves/17/books/42"), EscapedSlashes::Keep))
    });
    c.bench_function("normalize /v1//shelves/%2e%2e/shelves/./17", |b| {
        b.iter(|| {
            normalize_path(
                black_box("/v1//shelves/%2e%2e/shelves/./17"),
                EscapedSlashes::Keep,
            )
        })
    });
    c.bench_function("generate a request id", |b| b.iter(generate_request_id));
    c.bench_function("frame a 300-byte head in one read", |b| {
        b.iter(|| framing_verdicts_for_benches(black_box(&[HEAD])))
    });
    c.bench_function("frame a chunked request in one read", |b| {
        b.iter(|| framing_verdicts_for_benches(black_box(&[CHUNKED])))
    });
    let (first, second) = HEAD.split_at(100);
    c.bench_function("frame a head split over two reads", |b| {
        b.iter(|| framing_verdicts_for_benches(black_box(&[first, second])))
    });
}

criterion_group!(benches, hygiene);
criterion_main!(benches);
