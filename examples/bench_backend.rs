//! The load benchmarks' gRPC backend: `bench.v1.Bench` (`protos/bench/v1/bench.proto`) answered
//! from memory, so that a load test measures the gateway in front of it and not the backend.
//!
//! `GetItem` and `Echo` answer exactly what the Go backend of the grpc-gateway benchmark peer
//! answers (the same `Item`, field for field, 301 bytes of protobuf for id "42"), so figures taken
//! in front of either backend describe the same work. `ListItems` streams `count` such items
//! (ids "1", "2", …), which the Go backend cannot.
//!
//! With `--soap-listen`, it also serves a SOAP 1.1 endpoint on `/warehouse` that answers every
//! call with the demo Warehouse's `GetItemResponse` for `CUP-1001` (the bytes
//! `examples/common/warehouse.rs` sends), without parsing the request, so that the SOAP scenario
//! measures the gateway. `--soap-capture FILE` saves the first request's body (and its
//! `FILE.headers`), which the harness replays for the direct call.
//!
//! With `--rest-listen`, it also serves REST/JSON over HTTP/1.1: `GET /items/{id}` answers a small
//! item at once; `GET /slow/{key}` answers after `--rest-delay-ms` (default 100 ms); `GET /calls`
//! answers how many of each it received (`{"items": N, "slow": N}`), so that the coalescing
//! scenario reads the backend calls from the backend itself.
//!
//! Run with `cargo run --release --example bench_backend -- --listen 127.0.0.1:50061`;
//! `benches/load/run.sh` starts it for the streaming and SOAP scenarios.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use futures_util::stream;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic::server::Grpc;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

#[path = "common/bench_echo.rs"]
mod bench_echo;

use bench_echo::{unix_nanos_now, EchoRequest, EchoResponse};

/// Command line of the benchmark backend.
#[derive(Debug, Parser)]
#[command(
    name = "bench_backend",
    about = "bench.v1.Bench gRPC backend for polygate's load benchmarks"
)]
struct Args {
    /// The address to serve gRPC (h2c) on.
    #[arg(long, default_value = "127.0.0.1:50061")]
    listen: String,
    /// Also serve the SOAP 1.1 endpoint `/warehouse` (HTTP/1.1) on this address.
    #[arg(long)]
    soap_listen: Option<String>,
    /// Save the first SOAP request's body to this file, and its headers to `FILE.headers`.
    #[arg(long, requires = "soap_listen")]
    soap_capture: Option<PathBuf>,
    /// Also serve the REST/JSON endpoints (`/items/{id}`, `/slow/{key}`, `/calls`) on this
    /// address (HTTP/1.1).
    #[arg(long)]
    rest_listen: Option<String>,
    /// How long `/slow/{key}` waits before answering, in milliseconds.
    #[arg(long, default_value_t = 100)]
    rest_delay_ms: u64,
}

/// The REST endpoints' call counters.
#[derive(Debug, Default)]
struct RestCalls {
    items: AtomicU64,
    slow: AtomicU64,
}

/// Answers one REST request: an item, a slow answer, the call counts, or 404.
async fn rest_answer(
    request: http::Request<Incoming>,
    calls: Arc<RestCalls>,
    delay: Duration,
) -> http::Response<Full<Bytes>> {
    let path = request.uri().path();
    let get = request.method() == http::Method::GET;
    let (status, body) = if let Some(id) = path.strip_prefix("/items/").filter(|_| get) {
        calls.items.fetch_add(1, Ordering::Relaxed);
        let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
        (
            http::StatusCode::OK,
            format!(
                r#"{{"id":{id},"name":"Lightweight aluminium laptop stand","priceCents":"4999","stockCount":137,"sku":"LS-ALU-0042-SLV"}}"#
            ),
        )
    } else if let Some(key) = path.strip_prefix("/slow/").filter(|_| get) {
        calls.slow.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        let key = serde_json::to_string(key).unwrap_or_else(|_| "\"\"".to_owned());
        (http::StatusCode::OK, format!(r#"{{"key":{key}}}"#))
    } else if path == "/calls" && get {
        (
            http::StatusCode::OK,
            format!(
                r#"{{"items":{},"slow":{}}}"#,
                calls.items.load(Ordering::Relaxed),
                calls.slow.load(Ordering::Relaxed)
            ),
        )
    } else {
        (
            http::StatusCode::NOT_FOUND,
            r#"{"error":"not found"}"#.to_owned(),
        )
    };
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves the REST endpoints over HTTP/1.1 keep-alive.
async fn serve_rest(listener: TcpListener, delay: Duration) {
    let calls = Arc::new(RestCalls::default());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let calls = calls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let calls = calls.clone();
                async move { Ok::<_, Infallible>(rest_answer(request, calls, delay).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The demo Warehouse's answer to `GetItem` for `CUP-1001`, as `examples/common/warehouse.rs`
/// writes it.
const SOAP_GET_ITEM_RESPONSE: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<S:Body><w:GetItemResponse xmlns:w="urn:example:warehouse" xmlns:t="urn:example:warehouse:types">"#,
    r#"<w:item><t:sku>CUP-1001</t:sku><t:name>Espresso cups (set of 4)</t:name><t:category>kitchen</t:category>"#,
    r#"<t:price>24.90</t:price><t:stock>12</t:stock><t:tag>ceramic</t:tag><t:tag>gift</t:tag>"#,
    r#"<t:dimensions><t:widthCm>20.5</t:widthCm><t:heightCm>8</t:heightCm><t:weightKg>1.25</t:weightKg></t:dimensions>"#,
    r#"</w:item></w:GetItemResponse></S:Body></S:Envelope>"#
);

/// The most messages one `ListItems` call may ask for, so that a request cannot make the
/// backend stream without end.
const MAX_LIST_COUNT: i32 = 100_000;

/// `bench.v1.GetItemRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetItemRequest {
    #[prost(string, tag = "1")]
    id: String,
}

/// `bench.v1.ListItemsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct ListItemsRequest {
    #[prost(int32, tag = "1")]
    count: i32,
}

/// `bench.v1.Dimensions`.
#[derive(Clone, PartialEq, prost::Message)]
struct Dimensions {
    #[prost(double, tag = "1")]
    width_cm: f64,
    #[prost(double, tag = "2")]
    height_cm: f64,
    #[prost(double, tag = "3")]
    depth_cm: f64,
    #[prost(double, tag = "4")]
    weight_kg: f64,
}

/// `bench.v1.Item`.
#[derive(Clone, PartialEq, prost::Message)]
struct Item {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(int64, tag = "4")]
    price_cents: i64,
    #[prost(double, tag = "5")]
    rating: f64,
    #[prost(bool, tag = "6")]
    in_stock: bool,
    #[prost(string, repeated, tag = "7")]
    tags: Vec<String>,
    #[prost(message, optional, tag = "8")]
    dimensions: Option<Dimensions>,
    /// `bench.v1.ItemStatus`: 1 is `ITEM_STATUS_ACTIVE`.
    #[prost(int32, tag = "9")]
    status: i32,
    #[prost(message, optional, tag = "10")]
    created_at: Option<prost_types::Timestamp>,
    #[prost(int32, tag = "11")]
    stock_count: i32,
    #[prost(string, tag = "12")]
    sku: String,
}

/// The Go backend's item, with `id` echoed.
fn item(id: String) -> Item {
    Item {
        id,
        name: "Ergonomic aluminium laptop stand".to_owned(),
        description: "Adjustable stand with six height positions, ventilated surface and non-slip silicone pads; folds flat for travel.".to_owned(),
        price_cents: 4999,
        rating: 4.65,
        in_stock: true,
        tags: ["office", "ergonomics", "aluminium", "portable", "laptop-accessories"]
            .map(str::to_owned)
            .to_vec(),
        dimensions: Some(Dimensions {
            width_cm: 26.5,
            height_cm: 4.2,
            depth_cm: 23.75,
            weight_kg: 0.84,
        }),
        status: 1,
        // Fixed, so that every answer has the same size: 2024-01-02T03:04:05.123Z.
        created_at: Some(prost_types::Timestamp {
            seconds: 1_704_164_645,
            nanos: 123_000_000,
        }),
        stock_count: 137,
        sku: "LS-ALU-0042-SLV".to_owned(),
    }
}

/// Routes one HTTP/2 request to its method, as tonic's generated servers do.
async fn dispatch(request: http::Request<Incoming>) -> http::Response<tonic::body::Body> {
    match request.uri().path() {
        "/bench.v1.Bench/GetItem" => {
            let service = tower::service_fn(|call: Request<GetItemRequest>| async move {
                Ok::<_, Status>(Response::new(item(call.into_inner().id)))
            });
            Grpc::new(ProstCodec::<Item, GetItemRequest>::default())
                .unary(service, request)
                .await
        }
        "/bench.v1.Bench/Echo" => {
            let service = tower::service_fn(|call: Request<EchoRequest>| async move {
                let echo = call.into_inner();
                Ok::<_, Status>(Response::new(EchoResponse {
                    message: echo.message,
                    sequence: echo.sequence,
                    received_unix_nanos: unix_nanos_now(),
                }))
            });
            Grpc::new(ProstCodec::<EchoResponse, EchoRequest>::default())
                .unary(service, request)
                .await
        }
        "/bench.v1.Bench/ListItems" => {
            let service = tower::service_fn(|call: Request<ListItemsRequest>| async move {
                let count = call.into_inner().count;
                if !(0..=MAX_LIST_COUNT).contains(&count) {
                    return Err(Status::invalid_argument(format!(
                        "count must be between 0 and {MAX_LIST_COUNT}, got {count}"
                    )));
                }
                let items = (1..=count).map(|n| Ok::<_, Status>(item(n.to_string())));
                Ok(Response::new(stream::iter(items)))
            });
            Grpc::new(ProstCodec::<Item, ListItemsRequest>::default())
                .server_streaming(service, request)
                .await
        }
        other => Status::unimplemented(format!("no method {other}")).into_http(),
    }
}

/// Answers one SOAP request: the fixed `GetItemResponse` on `/warehouse`, 404 elsewhere.
async fn soap_answer(
    request: http::Request<Incoming>,
    capture: Arc<Mutex<Option<PathBuf>>>,
) -> http::Response<Full<Bytes>> {
    let on_endpoint =
        request.method() == http::Method::POST && request.uri().path() == "/warehouse";
    let (parts, body) = request.into_parts();
    // The body is read whole, as a real service would; its bytes are only kept for the capture.
    #[allow(
        clippy::disallowed_methods,
        reason = "a bench backend reads whole the small envelopes its bench sends"
    )]
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let first = capture.lock().map(|mut path| path.take()).unwrap_or(None);
    if let Some(path) = first {
        let headers: String = parts
            .headers
            .iter()
            .filter(|(name, _)| *name == "content-type" || *name == "soapaction")
            .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap_or("")))
            .collect();
        let mut headers_path = path.clone().into_os_string();
        headers_path.push(".headers");
        let _ = std::fs::write(&path, &body);
        let _ = std::fs::write(headers_path, headers);
    }
    let mut response = if on_endpoint {
        http::Response::new(Full::new(Bytes::from_static(
            SOAP_GET_ITEM_RESPONSE.as_bytes(),
        )))
    } else {
        let mut not_found = http::Response::new(Full::new(Bytes::from_static(b"Not Found")));
        *not_found.status_mut() = http::StatusCode::NOT_FOUND;
        not_found
    };
    let content_type = if on_endpoint {
        "text/xml; charset=utf-8"
    } else {
        "text/plain"
    };
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// Serves the SOAP endpoint over HTTP/1.1 keep-alive.
async fn serve_soap(listener: TcpListener, capture: Option<PathBuf>) {
    let capture = Arc::new(Mutex::new(capture));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let capture = capture.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let capture = capture.clone();
                async move { Ok::<_, Infallible>(soap_answer(request, capture).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if let Some(addr) = &args.soap_listen {
        let soap = TcpListener::bind(addr).await?;
        println!("SOAP 1.1 endpoint http://{}/warehouse", soap.local_addr()?);
        tokio::spawn(serve_soap(soap, args.soap_capture.clone()));
    }
    if let Some(addr) = &args.rest_listen {
        let rest = TcpListener::bind(addr).await?;
        println!("REST endpoints http://{}/items/{{id}}", rest.local_addr()?);
        tokio::spawn(serve_rest(rest, Duration::from_millis(args.rest_delay_ms)));
    }
    let listener = TcpListener::bind(&args.listen).await?;
    println!(
        "bench.v1.Bench gRPC backend listening on {}",
        listener.local_addr()?
    );
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http2_only();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // A failed accept (e.g. out of descriptors) must not end the server.
            Err(_) => continue,
        };
        // Small answers go out at once rather than waiting for more bytes to fill a segment.
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: http::Request<Incoming>| async {
                Ok::<_, Infallible>(dispatch(request).await)
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
