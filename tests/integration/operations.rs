//! Issue 14: the admin listener (`/healthz`, `/readyz`, `/metrics`, `/config`, `/routes`),
//! metrics after REST, SOAP and error traffic, the access log, W3C trace context reaching gRPC
//! and SOAP backends, hot reload, and graceful shutdown with readiness turning false first.

use std::time::Duration;

use serde_json::{json, Value};
use tonic::{Code, Status};

use crate::support::http_server::Answer;
use crate::support::legacy::{answering, envelope11};
use crate::support::{bounded, root, test_backend, GrpcServer, Reply};
use crate::support::{Gateway, GrpcServerBuilder};

const CALCULATOR: &str = r#"
xml_mapping:
  default_namespace: http://tempuri.org/
  types:
    Add/intA: int
    Add/intB: int
    AddResponse/AddResult: int
  order:
    Add: [intA, intB]
routes:
  - post: /v1/calc/add
    backend: calc
    body: "*"
    soap:
      operation: Add
      action: http://tempuri.org/Add
"#;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A test backend whose `Fail` answers NOT_FOUND.
fn failing_backend() -> GrpcServerBuilder {
    test_backend().handle("polygate.test.v1.Testing/Fail", |_| async move {
        Err::<Reply, _>(Status::new(Code::NotFound, "no such thing"))
    })
}

/// polygate in front of the gRPC `backend` (the test protos) and a SOAP calculator at
/// `soap_url`, with `extra` top-level sections.
async fn gateway(backend: &GrpcServer, soap_url: &str, extra: &str) -> Gateway {
    let protos = root().join("tests/protos");
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  test:\n    grpc:\n      url: {}\n      schema:\n        protos: [polygate/test/v1/testing.proto]\n        proto_paths: [{}]\n  calc:\n    soap:\n      url: {soap_url}/calculator.asmx\nmappings: [calc.yaml]\nroutes:\n  metadata:\n    authorization: Bearer hunter2\n    x-tenant: library\n{extra}",
        backend.url(),
        protos.display()
    );
    Gateway::start(&config, &[("calc.yaml", CALCULATOR)]).await
}

fn add_response() -> Answer {
    Answer::xml(envelope11(
        r#"<AddResponse xmlns="http://tempuri.org/"><AddResult>5</AddResult></AddResponse>"#,
    ))
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_admin_listener_serves_health_routes_and_the_config_with_secrets_redacted() {
    let backend = test_backend().start().await;
    let soap = answering(add_response()).await;
    let gateway = gateway(&backend, &soap.url(), "admin:\n  listen: 127.0.0.1:0\n").await;
    let admin = gateway.admin();

    let health = admin.get("/healthz").await;
    assert_eq!(
        (health.status.as_u16(), health.text()),
        (200, "ok\n".into())
    );

    let ready = admin.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(ready.json()["ready"], json!(true));

    let routes = admin.get("/routes").await;
    assert_eq!(routes.status, 200);
    let routes = routes.json();
    assert!(routes.as_array().unwrap().contains(&json!({
        "method": "GET", "path": "/v1/echo/{name}", "backend": "test",
        "operation": "/polygate.test.v1.Testing/Echo"
    })));
    assert!(routes.as_array().unwrap().contains(&json!({
        "method": "POST", "path": "/v1/calc/add", "backend": "calc",
        "operation": "http://tempuri.org/Add"
    })));

    let config = admin.get("/config").await;
    assert_eq!(config.status, 200);
    let config = config.json();
    assert_eq!(
        config["config"]["routes"]["metadata"],
        json!({"authorization": "[redacted]", "x-tenant": "library"})
    );
    assert!(!config.to_string().contains("hunter2"));

    let missing = admin.get("/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], json!(5));
    let post = admin.send("POST", "/metrics", &[], "").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    gateway.stop().await;
}

#[tokio::test]
async fn readiness_is_false_while_a_backend_is_unreachable_unless_it_is_optional() {
    let backend = test_backend().start().await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let gateway = gateway(&backend, &dead, "admin:\n  listen: 127.0.0.1:0\n").await;
    let ready = gateway.admin().get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let failed: Vec<Value> = ready.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == json!(false))
        .cloned()
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["check"], json!("backend calc"));
    gateway.stop().await;

    let gateway = gateway_optional(&backend, &dead).await;
    let ready = gateway.admin().get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    gateway.stop().await;
}

async fn gateway_optional(backend: &GrpcServer, soap_url: &str) -> Gateway {
    gateway(
        backend,
        soap_url,
        "admin:\n  listen: 127.0.0.1:0\n  optional_backends: [calc]\n",
    )
    .await
}

/// The sample lines of `/metrics` that start with `prefix`.
fn samples(metrics: &str, prefix: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|line| line.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn metrics_hold_the_named_series_with_bounded_labels_after_rest_soap_and_error_traffic() {
    let backend = failing_backend().start().await;
    let soap = answering(add_response()).await;
    let gateway = gateway(&backend, &soap.url(), "admin:\n  listen: 127.0.0.1:0\n").await;
    let client = &gateway.client;
    for name in ["a", "b"] {
        assert_eq!(client.get(&format!("/v1/echo/{name}")).await.status, 200);
    }
    assert_eq!(client.get("/v1/fail/3").await.status, 404);
    assert_eq!(client.get("/v1/nowhere").await.status, 404);
    let added = client
        .json("POST", "/v1/calc/add", json!({"intA": 2, "intB": 3}))
        .await;
    assert_eq!(added.status, 200, "{}", added.text());
    let bad = client
        .send(
            "POST",
            "/v1/calc/add",
            &[("content-type", "application/json")],
            "{",
        )
        .await;
    assert_eq!(bad.status, 400);

    let metrics = gateway.admin().get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let metrics = metrics.text();
    let echo = r#"frontend="rest",method="GET",route="/v1/echo/{name}",backend="test""#;
    let fail = r#"frontend="rest",method="GET",route="/v1/fail/{int32_value}",backend="test""#;
    let add = r#"frontend="rest",method="POST",route="/v1/calc/add",backend="calc""#;
    let unmatched = r#"frontend="rest",method="",route="",backend="""#;
    let mut requests = samples(&metrics, "polygate_requests_total{");
    requests.sort();
    let mut expected = vec![
        format!("polygate_requests_total{{{echo},code=\"OK\"}} 2"),
        format!("polygate_requests_total{{{fail},code=\"NOT_FOUND\"}} 1"),
        format!("polygate_requests_total{{{add},code=\"OK\"}} 1"),
        format!("polygate_requests_total{{{add},code=\"INVALID_ARGUMENT\"}} 1"),
        format!("polygate_requests_total{{{unmatched},code=\"NOT_FOUND\"}} 1"),
    ];
    expected.sort();
    assert_eq!(requests, expected, "{metrics}");
    for (series, count) in [
        (
            format!("polygate_request_duration_seconds_count{{{echo}}}"),
            2,
        ),
        (
            format!("polygate_request_duration_seconds_bucket{{{echo},le=\"+Inf\"}}"),
            2,
        ),
        (
            format!("polygate_backend_call_duration_seconds_count{{{echo}}}"),
            2,
        ),
        (
            format!("polygate_backend_call_duration_seconds_count{{{add}}}"),
            1,
        ),
        (
            format!("polygate_backend_call_duration_seconds_count{{{fail}}}"),
            1,
        ),
        // The malformed body never reached the backend.
        (
            format!("polygate_request_duration_seconds_count{{{add}}}"),
            2,
        ),
        (format!("polygate_request_size_bytes_count{{{add}}}"), 2),
        (format!("polygate_response_size_bytes_count{{{add}}}"), 1),
        ("polygate_requests_in_flight{frontend=\"rest\"}".into(), 0),
        (
            "polygate_config_reloads_total{result=\"failure\"}".into(),
            0,
        ),
    ] {
        assert!(
            metrics.contains(&format!("{series} {count}\n")),
            "{series} {count} missing:\n{metrics}"
        );
    }
    assert!(!metrics.contains("/v1/echo/a"), "a raw path became a label");
    assert!(metrics.contains(&format!(
        "polygate_response_size_bytes_sum{{{add}}} {}\n",
        added.body.len()
    )));
    assert!(metrics.contains("# TYPE polygate_request_duration_seconds histogram\n"));
    assert!(metrics.contains("# TYPE polygate_requests_total counter\n"));
    gateway.stop().await;
}

/// The lines of the file at `path`, once it holds `count`.
async fn lines(path: &std::path::Path, count: usize) -> Vec<String> {
    bounded("the access log lines", async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.len() >= count {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn the_access_log_writes_one_json_line_per_request_with_every_field() {
    let backend = test_backend().start().await;
    let soap = answering(add_response()).await;
    let gateway = gateway(
        &backend,
        &soap.url(),
        "access_log:\n  format: json\n  path: access.log\n",
    )
    .await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/echo/x",
            &[("x-request-id", "req-1"), ("traceparent", TRACEPARENT)],
            "",
        )
        .await;
    assert_eq!(response.status, 200);
    let added = gateway
        .client
        .json("POST", "/v1/calc/add", json!({"intA": 2, "intB": 3}))
        .await;
    assert_eq!(added.status, 200);
    let lines = lines(&gateway.dir.join("access.log"), 2).await;
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    let time = first["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    let client = first["client"].as_str().unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{client}");
    assert!(first["upstream_ms"].as_f64().unwrap() > 0.0);
    assert!(first["duration_ms"].as_f64().unwrap() >= first["upstream_ms"].as_f64().unwrap());
    let mut rest = first.clone();
    for varying in ["time", "client", "upstream_ms", "duration_ms"] {
        rest.as_object_mut().unwrap().remove(varying);
    }
    assert_eq!(
        rest,
        json!({
            "frontend": "rest", "route": "/v1/echo/{name}", "method": "GET",
            "target": "/v1/echo/x", "status": "OK", "code": 0, "backend": "test",
            "bytes_in": 0, "bytes_out": response.body.len(), "request_id": "req-1",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "principal": null
        })
    );
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["route"], json!("/v1/calc/add"));
    assert_eq!(second["backend"], json!("calc"));
    assert_eq!(second["bytes_in"], json!(r#"{"intA":2,"intB":3}"#.len()));
    assert_eq!(second["bytes_out"], json!(added.body.len()));
    gateway.stop().await;
}

#[tokio::test]
async fn traceparent_and_tracestate_reach_grpc_and_soap_backends_with_the_same_trace_id() {
    let backend = test_backend().start().await;
    let soap = answering(add_response()).await;
    let gateway = gateway(&backend, &soap.url(), "").await;
    let trace = [("traceparent", TRACEPARENT), ("tracestate", "vendor=abc")];
    assert_eq!(
        gateway
            .client
            .send("GET", "/v1/echo/x", &trace, "")
            .await
            .status,
        200
    );
    let added = gateway
        .client
        .send(
            "POST",
            "/v1/calc/add",
            &[trace[0], trace[1], ("content-type", "application/json")],
            r#"{"intA": 2, "intB": 3}"#,
        )
        .await;
    assert_eq!(added.status, 200);
    let call = backend.last_call();
    let grpc = call.metadata.get("traceparent").unwrap().to_str().unwrap();
    let request = soap.last_request();
    let soap_seen = request.header("traceparent").unwrap();
    assert_eq!(grpc, TRACEPARENT);
    assert_eq!(soap_seen, TRACEPARENT);
    assert_eq!(grpc[3..35], soap_seen[3..35]);
    assert_eq!(call.metadata.get("tracestate").unwrap(), "vendor=abc");
    assert_eq!(request.header("tracestate"), Some("vendor=abc"));

    // A malformed traceparent is dropped with its tracestate, never forwarded.
    let broken = [
        ("traceparent", "00-nothex-01"),
        ("tracestate", "vendor=abc"),
    ];
    assert_eq!(
        gateway
            .client
            .send("GET", "/v1/echo/y", &broken, "")
            .await
            .status,
        200
    );
    let call = backend.last_call();
    assert!(call.metadata.get("traceparent").is_none());
    assert!(call.metadata.get("tracestate").is_none());
    gateway.stop().await;
}
