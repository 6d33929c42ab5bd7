//! Resilient backends (docs/resilience.md): several endpoints of real gRPC and HTTP servers on
//! loopback, with endpoints killed, failing and coming back; every count is taken at the servers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use polygate::backends::resilience::{CircuitState, ResilienceSnapshot, ResilientBackend};
use serde_json::json;
use tonic_health::server::HealthReporter;

use crate::support::http_server::{Answer, HttpServer};
use crate::support::{bounded, root, test_backend, Gateway, GrpcServer};

/// Waits (polling, within `bounded`'s deadline) until `condition` holds.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    bounded(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// The resilience state of backend `name`.
fn snapshot(gateway: &Gateway, name: &str) -> ResilienceSnapshot {
    let backend = gateway.backend(name);
    backend
        .as_any()
        .and_then(|any| any.downcast_ref::<ResilientBackend>())
        .expect("the backend has the resilience layer")
        .snapshot()
}

/// The admin listener, for `/metrics`.
const ADMIN: &str = "admin:\n  listen: 127.0.0.1:0\n";

/// The sample lines of `family` on `/metrics` (the family's own series, not its `_suffix`es).
async fn series(gateway: &Gateway, family: &str) -> Vec<String> {
    let response = gateway.admin().get("/metrics").await;
    assert_eq!(response.status, 200);
    let prefix = format!("{family}{{");
    response
        .text()
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

/// `family{backend="backend",endpoint="url"} value` for each `(url, value)`.
fn per_endpoint(family: &str, backend: &str, values: &[(&str, u64)]) -> Vec<String> {
    values
        .iter()
        .map(|(url, value)| format!("{family}{{backend=\"{backend}\",endpoint=\"{url}\"}} {value}"))
        .collect()
}

/// The three `polygate_backend_circuit_state` series of one endpoint in `state`.
fn circuit(backend: &str, url: &str, state: &str) -> Vec<String> {
    ["closed", "open", "half_open"]
        .iter()
        .map(|s| {
            format!(
                "polygate_backend_circuit_state{{backend=\"{backend}\",endpoint=\"{url}\",state=\"{s}\"}} {}",
                u8::from(*s == state)
            )
        })
        .collect()
}

/// The three `polygate_backend_circuit_transitions_total` series of one endpoint.
fn transitions(backend: &str, url: &str, [closed, open, half_open]: [u64; 3]) -> Vec<String> {
    [("closed", closed), ("open", open), ("half_open", half_open)]
        .iter()
        .map(|(to, n)| {
            format!(
                "polygate_backend_circuit_transitions_total{{backend=\"{backend}\",endpoint=\"{url}\",to=\"{to}\"}} {n}"
            )
        })
        .collect()
}

/// A gRPC backend config for the test protos over `endpoints`, with `resilience` (YAML lines
/// indented for the block) and `extra` top-level config.
fn grpc_config(endpoints: &[String], resilience: &str, extra: &str) -> String {
    let protos = root().join("tests/protos");
    format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  test:\n    grpc:\n      endpoints: [{}]\n      schema:\n        protos: [polygate/test/v1/testing.proto]\n        proto_paths: [{}]\n      resilience:\n{resilience}{extra}",
        endpoints.join(", "),
        protos.display()
    )
}

/// A test gRPC server answering the health protocol from `reporter`, on `addr`.
async fn healthy_server(addr: &str, reporter: &HealthReporter) -> GrpcServer {
    test_backend()
        .with_health(reporter)
        .start_on(addr)
        .await
        .expect("the port is free")
}

/// A gRPC server whose `Echo` fails with UNAVAILABLE while `failing` is set.
async fn failing_server(failing: Arc<AtomicBool>) -> GrpcServer {
    test_backend()
        .handle("polygate.test.v1.Testing/Echo", move |call| {
            let failing = failing.load(Ordering::SeqCst);
            async move {
                if failing {
                    Err(tonic::Status::unavailable("down for maintenance"))
                } else {
                    Ok(crate::support::Reply::one(call.message().clone()))
                }
            }
        })
        .start()
        .await
}

/// `Echo` over POST, marked safe to repeat.
const RETRYABLE_ECHO: &str = "type: google.api.Service\nconfig_version: 3\nhttp:\n  rules:\n  - selector: polygate.test.v1.Testing.Echo\n    post: /v2/echo\n    body: \"*\"\n    retryable: true\n";

#[tokio::test]
async fn a_killed_grpc_endpoint_fails_no_request_and_returns_once_its_health_check_passes() {
    let reporter = HealthReporter::new();
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Some(healthy_server("127.0.0.1:0", &reporter).await));
    }
    let urls: Vec<String> = servers.iter().flatten().map(GrpcServer::url).collect();
    let resilience = "        health_check: {interval: 20ms, timeout: 1s, unhealthy_threshold: 1}\n        outlier: {consecutive_failures: 1, base_ejection: 1h, max_ejection: 1h}\n";
    let gateway = Gateway::start(&grpc_config(&urls, resilience, ADMIN), &[]).await;
    let calls = |servers: &[Option<GrpcServer>]| -> Vec<usize> {
        servers
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.calls().len()))
            .collect()
    };
    for _ in 0..30 {
        let response = gateway.client.get("/v1/echo/a").await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(calls(&servers), [10, 10, 10]);

    let killed = servers[1].take().unwrap();
    let addr = killed.addr.to_string();
    killed.stop().await;
    // Calls the dead endpoint never received go to another one: no request fails.
    for _ in 0..30 {
        let response = gateway.client.get("/v1/echo/a").await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let total = |counts: Vec<usize>| counts.iter().sum::<usize>();
    // (The killed server's 10 calls are gone with it.)
    assert_eq!(total(calls(&servers)), 20 + 30);
    until("the killed endpoint is found unhealthy", || {
        !snapshot(&gateway, "test").endpoints[1].healthy
    })
    .await;
    let state = snapshot(&gateway, "test");
    let healthy = "polygate_backend_endpoint_healthy";
    assert_eq!(
        series(&gateway, healthy).await,
        per_endpoint(
            healthy,
            "test",
            &[(&urls[0], 1), (&urls[1], 0), (&urls[2], 1)]
        )
    );
    // Ejected by the first call it failed, unless its health check found it dead first.
    let ejections = state.endpoints[1].ejections;
    assert!(ejections <= 1, "{state:?}");
    let family = "polygate_backend_endpoint_ejections_total";
    assert_eq!(
        series(&gateway, family).await,
        per_endpoint(
            family,
            "test",
            &[(&urls[0], 0), (&urls[1], ejections), (&urls[2], 0)]
        )
    );
    for _ in 0..30 {
        let response = gateway.client.get("/v1/echo/a").await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(total(calls(&servers)), 80);
    // Out of balancing, the dead endpoint is not even tried any more.
    assert_eq!(
        snapshot(&gateway, "test").endpoints[1].requests,
        state.endpoints[1].requests
    );

    servers[1] = Some(healthy_server(&addr, &reporter).await);
    until("the restarted endpoint passes its health check", || {
        let endpoint = &snapshot(&gateway, "test").endpoints[1];
        endpoint.healthy && !endpoint.ejected
    })
    .await;
    let before = calls(&servers);
    for _ in 0..30 {
        let response = gateway.client.get("/v1/echo/a").await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let after = calls(&servers);
    let added: Vec<usize> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(added, [10, 10, 10]);
    let state = snapshot(&gateway, "test");
    assert!(state
        .endpoints
        .iter()
        .all(|e| e.circuit == CircuitState::Closed));
    assert_eq!(
        series(&gateway, healthy).await,
        per_endpoint(
            healthy,
            "test",
            &[(&urls[0], 1), (&urls[1], 1), (&urls[2], 1)]
        )
    );
    let ejected = "polygate_backend_endpoint_ejected";
    assert_eq!(
        series(&gateway, ejected).await,
        per_endpoint(
            ejected,
            "test",
            &[(&urls[0], 0), (&urls[1], 0), (&urls[2], 0)]
        )
    );
    let closed: Vec<String> = urls
        .iter()
        .flat_map(|u| circuit("test", u, "closed"))
        .collect();
    assert_eq!(
        series(&gateway, "polygate_backend_circuit_state").await,
        closed
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_endpoint_ejected_after_a_failure_shows_on_metrics() {
    let servers = [answering(503).await, answering(200).await];
    let urls: Vec<String> = servers.iter().map(HttpServer::url).collect();
    let resilience = "        retry: {max_retries: 0}\n        outlier: {consecutive_failures: 1, base_ejection: 1h, max_ejection: 1h}\n        circuit_breaker: {failure_threshold: 0}\n";
    let gateway = Gateway::start(
        &format!("{}{ADMIN}", rest_config(&urls, resilience)),
        &[("routes.yaml", ORDER_ROUTES)],
    )
    .await;
    // Round-robin starts at the failing endpoint; its one failure ejects it.
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(gateway.client.get(&format!("/v1/orders/{i}")).await.status);
    }
    assert_eq!(statuses, [503, 200, 200, 200]);
    let (a, b) = (urls[0].as_str(), urls[1].as_str());
    for (family, values) in [
        ("polygate_backend_endpoint_healthy", [1, 1]),
        ("polygate_backend_endpoint_ejected", [1, 0]),
        ("polygate_backend_endpoint_ejections_total", [1, 0]),
        ("polygate_backend_endpoint_requests_total", [1, 3]),
        ("polygate_backend_endpoint_failures_total", [1, 0]),
        ("polygate_backend_endpoint_requests_in_flight", [0, 0]),
    ] {
        assert_eq!(
            series(&gateway, family).await,
            per_endpoint(family, "orders", &[(a, values[0]), (b, values[1])]),
            "{family}"
        );
    }
    assert_eq!(
        series(&gateway, "polygate_backend_retries_total").await,
        ["polygate_backend_retries_total{backend=\"orders\"} 0"]
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_retry_budget_caps_retries_when_every_endpoint_fails() {
    let failing = Arc::new(AtomicBool::new(true));
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(failing_server(failing.clone()).await);
    }
    let urls: Vec<String> = servers.iter().map(GrpcServer::url).collect();
    let resilience = "        retry: {max_retries: 2, backoff: 1ms, max_backoff: 1ms, budget_percent: 20, min_retries: 3}\n        outlier: {consecutive_failures: 0}\n        circuit_breaker: {failure_threshold: 0}\n";
    let gateway = Gateway::start(
        &grpc_config(
            &urls,
            resilience,
            &format!("mappings: [echo.yaml]\n{ADMIN}"),
        ),
        &[("echo.yaml", RETRYABLE_ECHO)],
    )
    .await;
    for _ in 0..20 {
        let response = gateway
            .client
            .json("POST", "/v2/echo", json!({"name": "x"}))
            .await;
        assert_eq!(response.status, 503, "{}", response.text());
    }
    // The reserve of 3 pays the first call's 2 retries and one of the second's; after that
    // every fifth call has paid for one retry: 7 retries, not the 40 that 2 per call would be.
    let received: usize = servers.iter().map(|s| s.calls().len()).sum();
    assert_eq!(received, 20 + 7);
    let state = snapshot(&gateway, "test");
    assert_eq!(state.retries, 7);
    assert_eq!(state.budget_exhausted, 19);
    for (family, value) in [
        ("polygate_backend_retries_total", 7),
        ("polygate_backend_retry_budget_exhausted_total", 19),
        ("polygate_backend_circuit_open_refusals_total", 0),
    ] {
        assert_eq!(
            series(&gateway, family).await,
            [format!("{family}{{backend=\"test\"}} {value}")]
        );
    }
    // Every call and retry reached an endpoint, and each one failed.
    for family in [
        "polygate_backend_endpoint_requests_total",
        "polygate_backend_endpoint_failures_total",
    ] {
        let sum: u64 = series(&gateway, family)
            .await
            .iter()
            .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(sum, 27, "{family}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn the_circuit_opens_refuses_calls_and_half_opens_for_one_trial() {
    let failing = Arc::new(AtomicBool::new(true));
    let server = failing_server(failing.clone()).await;
    let resilience = "        retry: {max_retries: 0}\n        outlier: {consecutive_failures: 0}\n        circuit_breaker: {failure_threshold: 3, open_for: 1s, half_open_calls: 1}\n";
    let gateway = Gateway::start(
        &grpc_config(
            &[server.url()],
            resilience,
            &format!("mappings: [echo.yaml]\n{ADMIN}"),
        ),
        &[("echo.yaml", RETRYABLE_ECHO)],
    )
    .await;
    let url = server.url();
    let state = "polygate_backend_circuit_state";
    let moves = "polygate_backend_circuit_transitions_total";
    let echo = || {
        gateway
            .client
            .json("POST", "/v2/echo", json!({"name": "x"}))
    };
    for _ in 0..3 {
        assert_eq!(echo().await.status, 503);
    }
    assert_eq!(server.calls().len(), 3);
    assert_eq!(
        snapshot(&gateway, "test").endpoints[0].circuit,
        CircuitState::Open
    );
    // (open_for is 1s: the circuit cannot half-open between these reads and the calls above.)
    assert_eq!(series(&gateway, state).await, circuit("test", &url, "open"));
    assert_eq!(
        series(&gateway, moves).await,
        transitions("test", &url, [0, 1, 0])
    );
    // Open: refused without reaching the server. (The circuit may half-open meanwhile; the
    // loop stops there, and the check below holds either way.)
    let mut refused = 0;
    while snapshot(&gateway, "test").endpoints[0].circuit == CircuitState::Open && refused < 5 {
        let response = echo().await;
        if response.text().contains("CIRCUIT_OPEN") {
            assert_eq!(response.status, 503);
            refused += 1;
        }
    }
    assert_eq!(server.calls().len(), 3);

    until("the circuit half-opens", || {
        snapshot(&gateway, "test").endpoints[0].circuit == CircuitState::HalfOpen
    })
    .await;
    assert_eq!(
        series(&gateway, state).await,
        circuit("test", &url, "half_open")
    );
    assert_eq!(
        series(&gateway, moves).await,
        transitions("test", &url, [0, 1, 1])
    );
    // A failed trial opens it again.
    let response = echo().await;
    assert_eq!(response.status, 503);
    assert!(!response.text().contains("CIRCUIT_OPEN"));
    assert_eq!(server.calls().len(), 4);
    assert_eq!(
        snapshot(&gateway, "test").endpoints[0].circuit,
        CircuitState::Open
    );

    until("the circuit half-opens again", || {
        snapshot(&gateway, "test").endpoints[0].circuit == CircuitState::HalfOpen
    })
    .await;
    failing.store(false, Ordering::SeqCst);
    let response = echo().await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(server.calls().len(), 5);
    let state = snapshot(&gateway, "test");
    assert_eq!(state.endpoints[0].circuit, CircuitState::Closed);
    assert_eq!(state.endpoints[0].circuit_opened, 2);
    assert_eq!(state.circuit_refusals, refused);
    let state = "polygate_backend_circuit_state";
    assert_eq!(
        series(&gateway, state).await,
        circuit("test", &url, "closed")
    );
    assert_eq!(
        series(&gateway, moves).await,
        transitions("test", &url, [1, 2, 2])
    );
    let family = "polygate_backend_circuit_open_refusals_total";
    assert_eq!(
        series(&gateway, family).await,
        [format!("{family}{{backend=\"test\"}} {refused}")]
    );
    gateway.stop().await;
}

/// Routes of a REST backend `orders`: a POST and a GET.
const ORDER_ROUTES: &str = r#"routes:
  - post: /v1/orders
    backend: orders
    body: "*"
    rest: {path: /orders}
  - get: /v1/orders/{id}
    backend: orders
    rest: {path: "/orders/{id}"}
"#;

fn rest_config(endpoints: &[String], resilience: &str) -> String {
    format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  orders:\n    rest:\n      endpoints: [{}]\n      resilience:\n{resilience}mappings: [routes.yaml]\n",
        endpoints.join(", ")
    )
}

async fn answering(status: u16) -> HttpServer {
    HttpServer::start(move |_| async move { Answer::json(json!({"id": 1})).status(status) }).await
}

#[tokio::test]
async fn a_post_the_backend_received_is_never_retried_but_a_get_is() {
    let servers = [answering(503).await, answering(503).await];
    let urls: Vec<String> = servers.iter().map(HttpServer::url).collect();
    let resilience = "        retry: {max_retries: 2, backoff: 1ms, max_backoff: 1ms, min_retries: 100}\n        outlier: {consecutive_failures: 0}\n        circuit_breaker: {failure_threshold: 0}\n";
    let gateway = Gateway::start(
        &rest_config(&urls, resilience),
        &[("routes.yaml", ORDER_ROUTES)],
    )
    .await;
    let received = || servers.iter().map(|s| s.requests().len()).sum::<usize>();
    let response = gateway
        .client
        .json("POST", "/v1/orders", json!({"item": "tea"}))
        .await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(received(), 1);
    let response = gateway.client.get("/v1/orders/7").await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(received(), 1 + 3);
    assert_eq!(snapshot(&gateway, "orders").retries, 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_post_the_endpoint_never_received_goes_to_another_endpoint() {
    // A port nobody listens on: connections are refused, so nothing was received.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let live = answering(200).await;
    let resilience = "        retry: {backoff: 1ms, max_backoff: 1ms}\n";
    let gateway = Gateway::start(
        &rest_config(&[dead, live.url()], resilience),
        &[("routes.yaml", ORDER_ROUTES)],
    )
    .await;
    // Round-robin starts at the dead endpoint.
    let response = gateway
        .client
        .json("POST", "/v1/orders", json!({"item": "tea"}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(live.requests().len(), 1);
    let state = snapshot(&gateway, "orders");
    assert_eq!(state.retries, 1);
    assert_eq!(state.endpoints[0].failures, 1);
    gateway.stop().await;
}

#[tokio::test]
async fn round_robin_spreads_calls_evenly() {
    let servers = [
        answering(200).await,
        answering(200).await,
        answering(200).await,
    ];
    let urls: Vec<String> = servers.iter().map(HttpServer::url).collect();
    let gateway = Gateway::start(
        &rest_config(&urls, "        balance: round_robin\n"),
        &[("routes.yaml", ORDER_ROUTES)],
    )
    .await;
    for i in 0..30 {
        let response = gateway.client.get(&format!("/v1/orders/{i}")).await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let counts: Vec<usize> = servers.iter().map(|s| s.requests().len()).collect();
    assert_eq!(counts, [10, 10, 10]);
    let state = snapshot(&gateway, "orders");
    assert_eq!(
        state
            .endpoints
            .iter()
            .map(|e| e.requests)
            .collect::<Vec<_>>(),
        [10, 10, 10]
    );
    assert_eq!(state.retries, 0);
    gateway.stop().await;
}

/// A server answering 200, except that `/orders/slow` never answers.
async fn slow_on_request() -> HttpServer {
    HttpServer::start(|request| async move {
        if request.target == "/orders/slow" {
            Answer::hang()
        } else {
            Answer::json(json!({"id": 1}))
        }
    })
    .await
}

#[tokio::test]
async fn least_request_sends_calls_past_an_endpoint_busy_with_a_slow_one() {
    let servers = [slow_on_request().await, slow_on_request().await];
    let urls: Vec<String> = servers.iter().map(HttpServer::url).collect();
    let gateway = Gateway::start(
        &rest_config(&urls, "        balance: least_request\n"),
        &[("routes.yaml", ORDER_ROUTES)],
    )
    .await;
    let client = gateway.client.clone();
    let slow = tokio::spawn(async move { client.get("/v1/orders/slow").await });
    until("the slow call reached a server", || {
        servers.iter().any(|s| !s.requests().is_empty())
    })
    .await;
    let busy = servers
        .iter()
        .position(|s| !s.requests().is_empty())
        .unwrap();
    for i in 0..10 {
        let response = gateway.client.get(&format!("/v1/orders/{i}")).await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    // Of the two endpoints, the one with a call under way got none of the ten.
    assert_eq!(servers[busy].requests().len(), 1);
    assert_eq!(servers[1 - busy].requests().len(), 10);
    slow.abort();
    gateway.stop().await;
}

#[tokio::test]
async fn http_health_checks_take_an_endpoint_out_and_bring_it_back() {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let checked = HttpServer::start(move |request| {
        let healthy = flag.load(Ordering::SeqCst);
        async move {
            match (request.target.as_str(), healthy) {
                ("/healthz", false) => Answer::json(json!({})).status(503),
                _ => Answer::json(json!({"id": 1})),
            }
        }
    })
    .await;
    let other = answering(200).await;
    let resilience = "        health_check: {path: /healthz, interval: 20ms, timeout: 1s, unhealthy_threshold: 1}\n";
    let gateway = Gateway::start(
        &rest_config(&[checked.url(), other.url()], resilience),
        &[("routes.yaml", ORDER_ROUTES)],
    )
    .await;
    let orders = |server: &HttpServer| {
        server
            .requests()
            .iter()
            .filter(|r| r.target.starts_with("/orders"))
            .count()
    };
    healthy.store(false, Ordering::SeqCst);
    until("the endpoint fails its health check", || {
        !snapshot(&gateway, "orders").endpoints[0].healthy
    })
    .await;
    for i in 0..10 {
        assert_eq!(
            gateway.client.get(&format!("/v1/orders/{i}")).await.status,
            200
        );
    }
    assert_eq!((orders(&checked), orders(&other)), (0, 10));
    healthy.store(true, Ordering::SeqCst);
    until("the endpoint passes its health check", || {
        snapshot(&gateway, "orders").endpoints[0].healthy
    })
    .await;
    for i in 0..10 {
        assert_eq!(
            gateway.client.get(&format!("/v1/orders/{i}")).await.status,
            200
        );
    }
    assert_eq!((orders(&checked), orders(&other)), (5, 15));
    gateway.stop().await;
}

#[tokio::test]
async fn dns_names_are_resolved_to_one_endpoint_per_address() {
    let server = answering(200).await;
    let by_name = format!("http://localhost:{}", server.addr.port());
    let gateway = Gateway::start(
        &rest_config(&[by_name], "        dns_refresh: 1s\n"),
        &[("routes.yaml", ORDER_ROUTES)],
    )
    .await;
    let address = format!("http://127.0.0.1:{}", server.addr.port());
    until("localhost is resolved", || {
        snapshot(&gateway, "orders")
            .endpoints
            .iter()
            .any(|e| e.url == address)
    })
    .await;
    // Every call succeeds, whichever of localhost's addresses it is sent to first.
    for i in 0..6 {
        let response = gateway.client.get(&format!("/v1/orders/{i}")).await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(server.requests().len(), 6);
    gateway.stop().await;
}

#[tokio::test]
async fn mistakes_in_resilience_settings_are_reported_with_the_backend() {
    let dir = crate::support::scratch_dir();
    let cases = [
        (
            "    rest:\n      url: http://127.0.0.1:1\n      endpoints: [http://127.0.0.1:2]\n",
            "backend 'b': takes a url or endpoints, not both",
        ),
        (
            "    rest:\n      endpoints: [http://127.0.0.1:2]\n      resilience:\n        health_check: {interval: 1s}\n",
            "backend 'b': resilience.health_check needs a path (e.g. /healthz) for this backend",
        ),
        (
            "    rest:\n      endpoints: [http://127.0.0.1:2, ftp://x]\n",
            "backend 'b': endpoint ftp://x: url 'ftp://x' needs http:// or https://",
        ),
    ];
    for (backend, expected) in cases {
        let path = dir.join("polygate.yaml");
        std::fs::write(
            &path,
            format!("http:\n  listen: 127.0.0.1:0\nbackends:\n  b:\n{backend}"),
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

#[tokio::test]
async fn grpc_methods_with_an_idempotency_level_are_retried_and_others_are_not() {
    let protos = root().join("tests/protos");
    let encoded = polygate::descriptors::compile_protos(
        &[protos.join("polygate/test/v1/idempotent.proto")],
        std::slice::from_ref(&protos),
    )
    .unwrap();
    let pool = prost_reflect::DescriptorPool::decode(encoded.as_slice()).unwrap();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let mut builder = crate::support::GrpcServerBuilder::new(pool.clone());
        for method in [
            "polygate.test.v1.Tickets/Read",
            "polygate.test.v1.Tickets/Issue",
        ] {
            builder = builder.handle(method, |_| async {
                Err(tonic::Status::unavailable("down for maintenance"))
            });
        }
        servers.push(builder.start().await);
    }
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  tickets:\n    grpc:\n      endpoints: [{}, {}]\n      schema:\n        protos: [polygate/test/v1/idempotent.proto]\n        proto_paths: [{}]\n      resilience:\n        retry: {{backoff: 1ms, max_backoff: 1ms}}\n",
        servers[0].url(),
        servers[1].url(),
        protos.display()
    );
    let gateway = Gateway::start(&config, &[]).await;
    let received = || servers.iter().map(|s| s.calls().len()).sum::<usize>();
    let response = gateway
        .client
        .json("POST", "/v1/tickets:read", json!({"name": "t"}))
        .await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(received(), 3);
    let response = gateway
        .client
        .json("POST", "/v1/tickets", json!({"name": "t"}))
        .await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(received(), 3 + 1);
    assert_eq!(snapshot(&gateway, "tickets").retries, 2);
    gateway.stop().await;
}

#[tokio::test]
async fn one_url_without_resilience_keys_has_no_layer_and_mqtt_backends_take_none() {
    let server = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&server, "").await;
    assert!(gateway.backend("test").as_any().is_none());
    gateway.stop().await;

    let dir = crate::support::scratch_dir();
    let path = dir.join("polygate.yaml");
    std::fs::write(
        &path,
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  broker:\n    mqtt:\n      broker: {url: mqtt://127.0.0.1:1883}\n      resilience: {}\n",
    )
    .unwrap();
    let error = polygate::config::Config::from_file(&path).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `resilience`"),
        "{error}"
    );
}
