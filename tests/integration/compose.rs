//! Issue 17, items 1–4 (composed routes): one route answered by gRPC, SOAP and REST steps run as
//! a dependency graph, against real servers that count their calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tokio::sync::Barrier;

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::envelope11;
use crate::support::{
    bounded, scratch_dir, test_backend, test_config, to_json, Gateway, GrpcServer, Reply,
};

const ECHO: &str = "polygate.test.v1.Testing.Echo";

/// polygate with the gRPC test backend `test`, the `extra` backends and one mapping file.
async fn composed(grpc: &GrpcServer, extra: &str, mapping: &str) -> Gateway {
    let config = test_config(&grpc.url(), &format!("{extra}mappings: [compose.yaml]\n"));
    Gateway::start(&config, &[("compose.yaml", mapping)]).await
}

fn rest_backend(name: &str, server: &HttpServer) -> String {
    format!("  {name}:\n    rest:\n      url: {}\n", server.url())
}

/// A REST server answering each path with `answer(path)`, counting calls.
async fn rest(answer: fn(&str) -> Answer) -> HttpServer {
    HttpServer::start(move |request: Recorded| async move { answer(&request.target) }).await
}

#[tokio::test]
async fn independent_steps_of_three_protocols_run_at_once() {
    // Each backend answers only once all three were called: run one after another, the route
    // could not answer.
    let barrier = Arc::new(Barrier::new(3));
    let soap_barrier = barrier.clone();
    let warehouse = HttpServer::start(move |_request: Recorded| {
        let barrier = soap_barrier.clone();
        async move {
            barrier.wait().await;
            Answer::xml(envelope11(
                r#"<GetItemResponse><title>Lamp</title></GetItemResponse>"#,
            ))
        }
    })
    .await;
    let rest_barrier = barrier.clone();
    let reviews = HttpServer::start(move |_request: Recorded| {
        let barrier = rest_barrier.clone();
        async move {
            barrier.wait().await;
            Answer::json(json!({"stars": 4}))
        }
    })
    .await;
    let grpc_barrier = barrier.clone();
    let grpc = test_backend()
        .handle(ECHO, move |call| {
            let barrier = grpc_barrier.clone();
            async move {
                barrier.wait().await;
                Ok(Reply::one(call.message().clone()))
            }
        })
        .start()
        .await;
    let extra = format!(
        "  warehouse:\n    soap:\n      url: {}/wh\n{}",
        warehouse.url(),
        rest_backend("reviews", &reviews)
    );
    let mapping = r#"routes:
  - get: /v1/items/{sku}
    timeout: 20s
    compose:
      - name: item
        backend: warehouse
        soap: {operation: GetItem}
        safe: true
        request: {sku: "{request.sku}"}
      - name: stock
        backend: test
        grpc: polygate.test.v1.Testing.Echo
        safe: true
        request: {name: "{request.sku}", int64_value: "{request.count}"}
        response_fields: {sku: name, count: int64Value}
      - name: reviews
        backend: reviews
        rest: {path: "/reviews/{request.sku}"}
"#;
    let gateway = composed(&grpc, &extra, mapping).await;
    let response = bounded(
        "the composed answer",
        gateway.client.get("/v1/items/l-1?count=9007199254740993"),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({
            "item": {"title": "Lamp"},
            "stock": {"sku": "l-1", "count": "9007199254740993"},
            "reviews": {"stars": 4},
        })
    );
    assert_eq!(response.header("polygate-partial"), None);
    assert_eq!(warehouse.requests().len(), 1);
    assert_eq!(reviews.requests().len(), 1);
    assert_eq!(reviews.last_request().target, "/reviews/l-1");
    assert_eq!(grpc.calls().len(), 1);
    assert_eq!(
        to_json(grpc.last_call().message()),
        json!({"name": "l-1", "int64Value": "9007199254740993"})
    );
}

#[tokio::test]
async fn a_sequence_keeps_int64_and_arrays_and_a_missing_value_follows_the_policy() {
    let shop = rest(|target| match target {
        "/list" => Answer::json(json!({
            "count": "9007199254740993",
            "items": [{"sku": "a"}, {"sku": "b"}],
        })),
        _ => Answer::json(json!({"unexpected": target})),
    })
    .await;
    let grpc = test_backend().start().await;
    let mapping = r#"routes:
  - get: /v1/list
    errors: true
    compose:
      - name: list
        backend: shop
        rest: {path: /list}
      - name: echo
        backend: test
        grpc: polygate.test.v1.Testing.Echo
        safe: true
        request: {tags: "{list.items.sku}", int64_value: "{list.count}", name: "n-{list.count}"}
        response_fields: {tags: tags, big: int64Value, name: name}
      - name: extra
        backend: shop
        rest: {path: "/extra/{list.missing}"}
        on_error: omit
"#;
    let gateway = composed(&grpc, &rest_backend("shop", &shop), mapping).await;
    let response = gateway.client.get("/v1/list").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({
            "list": {"count": "9007199254740993", "items": [{"sku": "a"}, {"sku": "b"}]},
            "echo": {"tags": ["a", "b"], "big": "9007199254740993", "name": "n-9007199254740993"},
            "errors": [{
                "step": "extra",
                "path": "extra",
                "code": "FAILED_PRECONDITION",
                "message": "the value {list.missing} is missing",
            }],
        })
    );
    assert_eq!(response.header("polygate-partial"), Some("extra"));
    assert_eq!(
        to_json(grpc.last_call().message()),
        json!({"tags": ["a", "b"], "int64Value": "9007199254740993", "name": "n-9007199254740993"})
    );
    // The step whose value was missing was never called.
    let targets: Vec<String> = shop.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, vec!["/list"]);
}

#[tokio::test]
async fn for_each_is_bounded_at_the_backend_and_collect_makes_one_call() {
    let shop = rest(|target| match target {
        "/list" => Answer::json(json!({"items": [
            {"sku": "a"}, {"sku": "b"}, {"sku": "c"}, {"sku": "d"}, {"sku": "e"}
        ]})),
        other => Answer::json(json!({"sku": other.trim_start_matches("/items/")})),
    })
    .await;
    let grpc = test_backend().start().await;
    let mapping = r#"routes:
  - get: /v1/all
    compose:
      - name: list
        backend: shop
        rest: {path: /list}
        response_body: items
      - name: items
        backend: shop
        rest: {path: "/items/{each.sku}"}
        for_each: {in: list, max_items: 3, concurrency: 2, over_limit: partial}
      - name: all
        backend: test
        grpc: polygate.test.v1.Testing.Echo
        safe: true
        request: {tags: "{each}"}
        collect: {in: list.sku}
        response_body: tags
  - get: /v1/strict
    compose:
      - name: list
        backend: shop
        rest: {path: /list}
      - name: items
        backend: shop
        rest: {path: "/items/{each.sku}"}
        for_each: {in: list.items, max_items: 2}
"#;
    let gateway = composed(&grpc, &rest_backend("shop", &shop), mapping).await;
    let response = gateway.client.get("/v1/all").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({
            "list": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}, {"sku": "d"}, {"sku": "e"}],
            "items": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}],
            "all": ["a", "b", "c", "d", "e"],
        })
    );
    assert_eq!(response.header("polygate-partial"), Some("items"));
    let mut items: Vec<String> = shop
        .requests()
        .into_iter()
        .map(|r| r.target)
        .filter(|t| t.starts_with("/items/"))
        .collect();
    items.sort();
    assert_eq!(items, vec!["/items/a", "/items/b", "/items/c"]);
    assert_eq!(grpc.calls().len(), 1);

    let strict = gateway.client.get("/v1/strict").await;
    assert_eq!(strict.status, 400, "{}", strict.text());
    assert_eq!(
        strict.json()["message"],
        "step 'items': 5 items, more than max_items 2"
    );
    let calls = shop
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/items/"))
        .count();
    assert_eq!(calls, 3, "the strict route called no item");
}

#[tokio::test]
async fn each_on_error_policy() {
    let shop = rest(|target| match target {
        "/bad" => Answer::json(json!({"error": "boom"})).status(500),
        _ => Answer::json(json!({"ok": true})),
    })
    .await;
    let grpc = test_backend().start().await;
    let mapping = r#"routes:
  - get: /v1/fail
    compose:
      - {name: good, backend: shop, rest: {path: /good}}
      - {name: bad, backend: shop, rest: {path: /bad}}
  - get: /v1/omit
    errors: true
    compose:
      - {name: good, backend: shop, rest: {path: /good}}
      - {name: bad, backend: shop, rest: {path: /bad}, on_error: omit}
  - get: /v1/default
    compose:
      - {name: good, backend: shop, rest: {path: /good}}
      - {name: bad, backend: shop, rest: {path: /bad}, on_error: {default: {stars: 0}}}
"#;
    let gateway = composed(&grpc, &rest_backend("shop", &shop), mapping).await;
    let failed = gateway.client.get("/v1/fail").await;
    // The step's own error, named: a REST 500 is UNKNOWN.
    assert_eq!(failed.status, 500, "{}", failed.text());
    let message = failed.json()["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("step 'bad': "), "{message}");

    let omitted = gateway.client.get("/v1/omit").await;
    assert_eq!(omitted.status, 200, "{}", omitted.text());
    assert_eq!(omitted.header("polygate-partial"), Some("bad"));
    let body = omitted.json();
    assert_eq!(body["good"], json!({"ok": true}));
    assert_eq!(body.get("bad"), None);
    assert_eq!(body["errors"][0]["step"], "bad");
    assert_eq!(body["errors"][0]["path"], "bad");

    let defaulted = gateway.client.get("/v1/default").await;
    assert_eq!(defaulted.status, 200, "{}", defaulted.text());
    assert_eq!(defaulted.header("polygate-partial"), Some("bad"));
    assert_eq!(
        defaulted.json(),
        json!({"good": {"ok": true}, "bad": {"stars": 0}})
    );
}

/// Counts a handler that was dropped before it finished.
struct Abandoned(Arc<AtomicUsize>, bool);

impl Drop for Abandoned {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn a_step_past_its_deadline_answers_504_and_the_backend_sees_the_cancellation() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let seen = dropped.clone();
    let grpc = test_backend()
        .handle("polygate.test.v1.Testing.Slow", move |call| {
            let guard = Abandoned(seen.clone(), false);
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok(Reply::one(call.message().clone()))
            }
        })
        .start()
        .await;
    let shop = rest(|_| Answer::json(json!({"ok": true}))).await;
    let mapping = r#"routes:
  - get: /v1/late
    compose:
      - {name: fast, backend: shop, rest: {path: /fast}}
      - name: slow
        backend: test
        grpc: polygate.test.v1.Testing.Slow
        timeout: 200ms
"#;
    let gateway = composed(&grpc, &rest_backend("shop", &shop), mapping).await;
    let response = gateway.client.get("/v1/late").await;
    assert_eq!(response.status, 504, "{}", response.text());
    assert_eq!(
        response.json()["message"],
        "step 'slow': no answer within its timeout of 200ms"
    );
    let timeout = grpc
        .last_call()
        .metadata
        .get("grpc-timeout")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(timeout.is_some(), "the gRPC step carried no grpc-timeout");
    bounded("the backend seeing the cancellation", async {
        while dropped.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_write_step_runs_last_only_after_the_others_and_is_never_retried() {
    let shop = HttpServer::start(|request: Recorded| async move {
        match (request.method.as_str(), request.target.as_str()) {
            ("POST", "/orders") => Answer::json(json!({"error": "busy"})).status(503),
            (_, "/missing") => Answer::json(json!({"error": "no"})).status(404),
            _ => Answer::json(json!({"price": 3})),
        }
    })
    .await;
    let grpc = test_backend().start().await;
    let extra = format!(
        "  shop:\n    rest:\n      endpoints: [{}]\n      resilience:\n        retry: {{max_retries: 2, backoff: 1ms, max_backoff: 2ms}}\n",
        shop.url()
    );
    let mapping = r#"routes:
  - post: /v1/order
    body: "*"
    compose:
      - {name: price, backend: shop, rest: {path: /price}}
      - name: order
        backend: shop
        rest: {path: /orders, method: POST}
        request: {qty: "{request.qty}", price: "{price.price}"}
  - post: /v1/order-after-failure
    body: "*"
    compose:
      - {name: price, backend: shop, rest: {path: /missing}, on_error: omit}
      - name: order
        backend: shop
        rest: {path: /orders, method: POST}
        request: {qty: "{request.qty}"}
"#;
    let gateway = composed(&grpc, &extra, mapping).await;
    let response = gateway
        .client
        .json("POST", "/v1/order", json!({"qty": 2}))
        .await;
    assert_eq!(response.status, 503, "{}", response.text());
    let seen: Vec<(String, String)> = shop
        .requests()
        .into_iter()
        .map(|r| (r.method.to_string(), r.target))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("GET".to_owned(), "/price".to_owned()),
            ("POST".to_owned(), "/orders".to_owned()),
        ],
        "the write ran last, once"
    );
    assert_eq!(shop.last_request().text(), r#"{"price":3,"qty":2}"#);

    let skipped = gateway
        .client
        .json("POST", "/v1/order-after-failure", json!({"qty": 2}))
        .await;
    assert_eq!(skipped.status, 409, "{}", skipped.text());
    let writes = shop
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(
        writes, 1,
        "the write step ran although a step before it failed"
    );
}

/// The errors of building a gateway with the gRPC test protos and one mapping file.
async fn load_errors(mapping: &str) -> Vec<String> {
    let dir = scratch_dir();
    std::fs::write(dir.join("compose.yaml"), mapping).unwrap();
    let path = dir.join("polygate.yaml");
    let config = test_config(
        "http://127.0.0.1:1",
        "  shop:\n    rest:\n      url: http://127.0.0.1:1\nmappings: [compose.yaml]\n",
    );
    std::fs::write(&path, config).unwrap();
    let config = polygate::config::Config::from_file(&path).unwrap();
    match polygate::app::build(&config).await {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))
            .collect(),
    }
}

#[tokio::test]
async fn cycles_and_unknown_fields_are_load_errors_with_file_and_line() {
    let mapping = r#"routes:
  - get: /v1/cycle
    compose:
      - name: a
        backend: shop
        rest: {path: "/a/{b.id}"}
      - name: b
        backend: shop
        rest: {path: "/b/{a.id}"}
  - get: /v1/unknown
    compose:
      - name: echo
        backend: test
        grpc: polygate.test.v1.Testing.Echo
        request: {nmae: "{request.name}"}
  - get: /v1/nostep
    compose:
      - name: one
        backend: shop
        rest: {path: "/x/{two.id}"}
  - get: /v1/stream
    compose:
      - name: list
        backend: test
        grpc: polygate.test.v1.Testing.List
"#;
    assert_eq!(
        load_errors(mapping).await,
        vec![
            "compose.yaml:4: compose: the steps form a cycle: a -> b -> a",
            "compose.yaml:12: step 'echo': request field 'nmae': message polygate.test.v1.Everything has no field 'nmae'",
            "compose.yaml:18: step 'one': {two.id} names no step 'two' (steps: one; the client's request is {request.…})",
            "compose.yaml:23: step 'list': method polygate.test.v1.Testing.List streams; a step calls a unary method",
        ]
    );
}

#[tokio::test]
async fn path_query_and_body_make_the_request_object_and_merge_lifts_the_answer() {
    let grpc = test_backend().start().await;
    let shop = rest(|_| Answer::json(json!({}))).await;
    let mapping = r#"routes:
  - post: /v1/echo/{name}
    body: "*"
    compose:
      - name: echo
        backend: test
        grpc: polygate.test.v1.Testing.Echo
        safe: true
        request: {name: "{request.name}", numbers: "{request.numbers}", nested: {label: "{request.label}"}}
        merge: true
"#;
    let gateway = composed(&grpc, &rest_backend("shop", &shop), mapping).await;
    let response = gateway
        .client
        .json("POST", "/v1/echo/x?label=l", json!({"numbers": [1, 2]}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"name": "x", "numbers": [1, 2], "nested": {"label": "l"}})
    );
}

/// The `_count` of a step's duration histogram on `/metrics`, `None` without a series.
async fn step_count(gateway: &Gateway, route: &str, step: &str) -> Option<u64> {
    let text = gateway.admin().get("/metrics").await.text();
    let series = format!(
        "polygate_compose_step_duration_seconds_count{{method=\"GET\",route=\"{route}\",step=\"{step}\"}} "
    );
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn each_step_that_calls_its_backend_is_timed_under_its_route_and_name() {
    let shop = rest(|_| Answer::json(json!({"name": "n-1"}))).await;
    let grpc = test_backend().start().await;
    let mapping = r#"routes:
  - get: /v1/timed/{sku}
    compose:
      - name: list
        backend: shop
        rest: {path: "/list/{request.sku}"}
      - name: echo
        backend: test
        grpc: polygate.test.v1.Testing.Echo
        safe: true
        request: {name: "{list.name}"}
      - name: never
        backend: shop
        rest: {path: "/never/{list.missing}"}
        on_error: omit
"#;
    let extra = format!(
        "{}admin:\n  listen: 127.0.0.1:0\n",
        rest_backend("shop", &shop)
    );
    let gateway = composed(&grpc, &extra, mapping).await;
    let route = "/v1/timed/{sku}";
    assert_eq!(step_count(&gateway, route, "list").await, None);
    for round in 1..=2 {
        let response = gateway.client.get("/v1/timed/7").await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("polygate-partial"), Some("never"));
        assert_eq!(step_count(&gateway, route, "list").await, Some(round));
        assert_eq!(step_count(&gateway, route, "echo").await, Some(round));
        // A step whose value was missing called nothing and is not timed.
        assert_eq!(step_count(&gateway, route, "never").await, None);
    }
    let text = gateway.admin().get("/metrics").await.text();
    assert!(text.contains("# TYPE polygate_compose_step_duration_seconds histogram\n"));
    assert!(
        text.contains(
            "polygate_compose_step_duration_seconds_bucket{method=\"GET\",route=\"/v1/timed/{sku}\",step=\"echo\",le=\"+Inf\"} 2\n"
        ),
        "{text}"
    );
    assert_eq!(shop.requests().len(), 2);
    assert_eq!(grpc.calls().len(), 2);
}
