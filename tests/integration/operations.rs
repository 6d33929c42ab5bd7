//! Issue 14: the admin listener (`/healthz`, `/readyz`, `/metrics`, `/config`, `/routes`),
//! metrics after REST, SOAP and error traffic, the access log, W3C trace context reaching gRPC
//! and SOAP backends, hot reload, and graceful shutdown with readiness turning false first.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tonic::{Code, Status};

use crate::support::binary::Serving;
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

const LOOKUP_V1: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Unannotated.Lookup\n      get: /v1/lookup/{name}\n";
const LOOKUP_V2: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Unannotated.Lookup\n      get: /v2/lookup/{name}\n    - selector: polygate.test.v1.Unannotated.Hidden\n      get: /v1/hidden/{name}\n";
const BROKEN: &str =
    "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Nope\n      get: /v3/nope/{name}\n";

type Held = tokio::sync::mpsc::Sender<Result<prost_reflect::DynamicMessage, Status>>;

/// `builder` with a `List` that streams what the test sends on the returned sender and ends
/// when the sender is dropped (one call).
fn held_list(builder: GrpcServerBuilder) -> (GrpcServerBuilder, Held) {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let receiver = std::sync::Mutex::new(Some(receiver));
    let builder = builder.handle_live("polygate.test.v1.Testing/List", move |_call| {
        let receiver = receiver.lock().unwrap().take().expect("one List call");
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .boxed()
    });
    (builder, sender)
}

fn numbered(i: i32) -> prost_reflect::DynamicMessage {
    crate::support::message(
        "polygate.test.v1.Everything",
        json!({"name": format!("m{i}"), "int32Value": i}),
    )
}

/// The NDJSON lines of a streamed answer, read as they come.
struct Lines {
    body: hyper::body::Incoming,
    buffer: Vec<u8>,
}

impl Lines {
    async fn open(client: &crate::support::Client, path: &str) -> Self {
        let response = client.open("GET", path, &[]).await;
        assert_eq!(response.status(), 200);
        Self {
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }

    /// The next line, or None at the end of the body.
    async fn next(&mut self) -> Option<Value> {
        use http_body_util::BodyExt;
        loop {
            if let Some(at) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=at).collect();
                return Some(serde_json::from_slice(&line[..line.len() - 1]).unwrap());
            }
            match bounded("the next stream chunk", self.body.frame()).await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(error)) => panic!("the stream failed: {error}"),
                None => return None,
            }
        }
    }
}

fn streamed(i: i32) -> Value {
    json!({"name": format!("m{i}"), "int32Value": i})
}

/// Polls `path` until it answers `status`.
async fn until_status(client: &crate::support::Client, path: &str, status: u16) {
    bounded(&format!("{path} answering {status}"), async {
        while client.get(path).await.status != status {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_file_change_reloads_routes_while_a_stream_started_before_completes() {
    let (builder, held) = held_list(test_backend());
    let backend = builder.start().await;
    let gateway = Gateway::start(
        &crate::support::test_config(&backend.url(), "mappings: [lookup.yaml]\n"),
        &[("lookup.yaml", LOOKUP_V1)],
    )
    .await;
    let reloader = gateway.running().reloader().unwrap().clone();
    let watching = tokio::spawn(polygate::reload::watch(
        reloader,
        polygate::reload::ReloadConfig {
            watch: Some(true),
            interval: Some(polygate::config::units::ConfigDuration(
                Duration::from_millis(20),
            )),
        },
        polygate::reload::Triggers::listen(),
    ));
    let client = &gateway.client;
    // The answer's head waits for its first message.
    held.send(Ok(numbered(1))).await.unwrap();
    let mut stream = Lines::open(client, "/v1/list/a").await;
    assert_eq!(stream.next().await, Some(streamed(1)));
    assert_eq!(client.get("/v1/lookup/x").await.status, 200);

    std::fs::write(gateway.dir.join("lookup.yaml"), LOOKUP_V2).unwrap();
    until_status(client, "/v2/lookup/x", 200).await;
    assert_eq!(
        client.get("/v1/lookup/x").await.status,
        404,
        "the changed route moved"
    );
    let hidden = client.get("/v1/hidden/y").await;
    assert_eq!(
        (hidden.status.as_u16(), hidden.json()["name"].clone()),
        (200, json!("y"))
    );

    // The stream opened before the reload runs to its end on the table it started with.
    held.send(Ok(numbered(2))).await.unwrap();
    drop(held);
    assert_eq!(stream.next().await, Some(streamed(2)));
    assert_eq!(stream.next().await, None);
    // The backend's settings did not change: it was reused, with its one connection.
    assert_eq!(backend.connections_accepted(), 1);
    let reloads = &gateway.running().pipeline.telemetry().metrics.reloads;
    assert_eq!(
        reloads.succeeded.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    watching.abort();
    gateway.stop().await;
}

/// polygate as a child process serving the test protos with `lookup.yaml` = `mapping`, an
/// admin listener, and `extra` top-level sections.
async fn serving(
    backend: &GrpcServer,
    mapping: &str,
    extra: &str,
) -> (Serving, std::path::PathBuf) {
    let dir = crate::support::scratch_dir();
    std::fs::write(dir.join("lookup.yaml"), mapping).unwrap();
    let config = crate::support::test_config(
        &backend.url(),
        &format!("mappings: [lookup.yaml]\nadmin:\n  listen: 127.0.0.1:0\n{extra}"),
    );
    std::fs::write(dir.join("polygate.yaml"), config).unwrap();
    (Serving::config(&dir.join("polygate.yaml")).await, dir)
}

/// Polls `/metrics` until it holds `line`.
async fn until_metric(admin: &crate::support::Client, line: &str) -> String {
    bounded(&format!("the metric {line}"), async {
        loop {
            let metrics = admin.get("/metrics").await.text();
            if metrics.lines().any(|l| l == line) {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_broken_reload_on_sighup_is_refused_and_counted_while_traffic_continues() {
    let backend = test_backend().start().await;
    let (serving, dir) = serving(&backend, LOOKUP_V1, "reload:\n  watch: false\n").await;
    let admin = serving.admin.clone().expect("an admin listener");
    assert_eq!(serving.client.get("/v1/lookup/x").await.status, 200);

    std::fs::write(dir.join("lookup.yaml"), BROKEN).unwrap();
    serving.hangup();
    let metrics = until_metric(
        &admin,
        "polygate_config_reloads_total{result=\"failure\"} 1",
    )
    .await;
    assert!(metrics.contains("\npolygate_config_last_reload_successful 0\n"));
    assert!(metrics.contains("\npolygate_config_reloads_total{result=\"success\"} 0\n"));
    assert_eq!(
        serving.client.get("/v1/lookup/x").await.status,
        200,
        "the old config serves"
    );
    assert_eq!(serving.client.get("/v3/nope/x").await.status, 404);
    let routes = admin.get("/routes").await.json();
    assert!(routes
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["path"] == "/v1/lookup/{name}"));

    std::fs::write(dir.join("lookup.yaml"), LOOKUP_V2).unwrap();
    serving.hangup();
    let metrics = until_metric(
        &admin,
        "polygate_config_reloads_total{result=\"success\"} 1",
    )
    .await;
    assert!(metrics.contains("\npolygate_config_last_reload_successful 1\n"));
    assert_eq!(serving.client.get("/v2/lookup/x").await.status, 200);
    serving.terminate();
    assert_eq!(bounded("the exit", serving.exited()).await, Some(0));
}

#[tokio::test]
async fn sigterm_turns_readiness_false_refuses_new_connections_and_lets_work_under_way_finish() {
    let reached = std::sync::Arc::new(tokio::sync::Notify::new());
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let (reached_at, released) = (reached.clone(), release.clone());
    let (builder, held) = held_list(test_backend().handle(
        "polygate.test.v1.Testing/Slow",
        move |call| {
            let (reached, release) = (reached_at.clone(), released.clone());
            async move {
                reached.notify_one();
                release.notified().await;
                Ok(Reply::one(call.message().clone()))
            }
        },
    ));
    let backend = builder.start().await;
    let (serving, _dir) = serving(&backend, LOOKUP_V1, "").await;
    let admin = serving.admin.clone().expect("an admin listener");
    assert_eq!(admin.get("/readyz").await.status, 200);

    held.send(Ok(numbered(1))).await.unwrap();
    let mut stream = Lines::open(&serving.client, "/v1/list/a").await;
    assert_eq!(stream.next().await, Some(streamed(1)));
    let client = serving.client.clone();
    let slow = tokio::spawn(async move { client.get("/v1/slow").await });
    bounded("the slow call reaching the backend", reached.notified()).await;

    serving.terminate();
    // Readiness turns false while both are still under way...
    let ready = bounded("readiness turning false", async {
        loop {
            let ready = admin.get("/readyz").await;
            if ready.status == 503 {
                return ready;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(
        ready.json()["checks"][0],
        json!({"check": "draining", "ok": false})
    );
    // ...then the REST listener refuses new connections...
    let address = serving
        .client
        .base()
        .trim_start_matches("http://")
        .to_owned();
    bounded("new connections being refused", async {
        while tokio::net::TcpStream::connect(&address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // ...and what was under way finishes.
    release.notify_one();
    let slow = bounded("the slow answer", slow).await.unwrap();
    assert_eq!(slow.status, 200, "{}", slow.text());
    held.send(Ok(numbered(2))).await.unwrap();
    drop(held);
    assert_eq!(stream.next().await, Some(streamed(2)));
    assert_eq!(stream.next().await, None);
    assert_eq!(bounded("the exit", serving.exited()).await, Some(0));
}

#[tokio::test]
async fn websocket_and_mqtt_traffic_is_counted_by_frontend() {
    use crate::support::mqtt::{embedded_config, eventually, Device, MqttGateway};
    use crate::support::ws_client::WsClient;

    // A WebSocket bound to Echo: one message in, one out, a connection opened and closed.
    let backend = test_backend().start().await;
    let bindings = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      websocket: /ws/echo\n";
    let gateway = Gateway::start(
        &crate::support::test_config(
            &backend.url(),
            "websocket: {}\nmappings: [bindings.yaml]\nadmin:\n  listen: 127.0.0.1:0\n",
        ),
        &[("bindings.yaml", bindings)],
    )
    .await;
    let mut ws = WsClient::open(gateway.addr("http"), "/ws/echo", &[])
        .await
        .unwrap();
    ws.send(json!({"name": "w"})).await;
    assert_eq!(
        serde_json::from_str::<Value>(&ws.text().await.unwrap()).unwrap(),
        json!({"result": {"name": "w"}})
    );
    assert!(ws.text().await.is_err(), "the socket closes after the call");
    let admin = gateway.admin();
    let metrics = until_metric(&admin, "polygate_websocket_connections 0").await;
    for line in [
        "polygate_websocket_connections_total 1",
        "polygate_websocket_messages_total{direction=\"in\"} 1",
        "polygate_websocket_messages_total{direction=\"out\"} 1",
        "polygate_requests_total{frontend=\"websocket\",method=\"WEBSOCKET\",route=\"/ws/echo\",backend=\"test\",code=\"OK\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing:\n{metrics}");
    }
    gateway.stop().await;

    // An MQTT message on a topic route: in, acknowledged, counted under its topic template.
    let telemetry = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.EchoNested\n      topic: devices/{name}/telemetry/{nested.label}\n";
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [telemetry.yaml]\n"),
        &[("telemetry.yaml", telemetry)],
    )
    .await;
    let device = Device::v5(gateway.broker(), "device-1").await;
    device
        .publish("devices/d-1/telemetry/boiler", r#"{"int32Value": 1}"#, 1)
        .await;
    device.wait_acked(1).await;
    let metrics = &gateway.running.pipeline.telemetry().metrics;
    eventually(
        || metrics.mqtt.acks.load(std::sync::atomic::Ordering::Relaxed) == 1,
        "the message acknowledged",
    )
    .await;
    let text = metrics.render(&[]);
    for line in [
        "polygate_mqtt_messages_total{direction=\"in\"} 1",
        "polygate_mqtt_acks_total 1",
        "polygate_requests_total{frontend=\"mqtt\",method=\"PUBLISH\",route=\"devices/{name}/telemetry/{nested.label}\",backend=\"test\",code=\"OK\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    device.disconnect().await;
    gateway.stop().await;
}
