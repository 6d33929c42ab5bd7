//! Issue 17, items 5–8 (the response cache): hits, misses and 304s; Vary, no-store and the
//! credentials bypass; gRPC methods by idempotency level; stale answers; coalesced misses;
//! purges; the byte bound. Every backend counts the calls it received.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tokio::sync::Semaphore;

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::gateway;
use crate::support::{bounded, root, Client, Gateway};

const ITEMS: &str = r#"
routes:
  - get: /v1/items/{sku}
    backend: shop
    rest: {path: "/items/{sku}"}
    cache: {ttl: 60s, vary_headers: [accept-language], tags: ["item:{sku}"]}
  - get: /v1/fresh/{sku}
    backend: shop
    rest: {path: "/fresh/{sku}"}
    cache: {ttl: 60s}
"#;

async fn shop(upstream: &HttpServer, extra: &str) -> Gateway {
    gateway(
        &format!(
            "  shop:\n    rest:\n      url: {}\n      response_headers: [vary]\nadmin:\n  listen: 127.0.0.1:0\n{extra}",
            upstream.url()
        ),
        ITEMS,
    )
    .await
}

/// A server answering `{"sku": …, "call": n}`, with the `Cache-Control` the path asks for.
async fn counting() -> HttpServer {
    let calls = Arc::new(AtomicUsize::new(0));
    HttpServer::start(move |request: Recorded| {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let path = request.target.split('?').next().unwrap_or("");
            let sku = path.rsplit('/').next().unwrap_or("").to_owned();
            let answer = Answer::json(json!({"sku": sku, "call": call}));
            if request.target.starts_with("/fresh/nostore") {
                return answer.header("cache-control", "no-store");
            }
            answer
        }
    })
    .await
}

async fn metric(admin: &Client, line: &str) -> u64 {
    let text = admin.get("/metrics").await.text();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line)
                .map(|v| v.trim().parse::<u64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no metric {line} in\n{text}"))
}

#[tokio::test]
async fn a_miss_is_stored_a_hit_skips_the_backend_and_a_matching_etag_gets_304() {
    let upstream = counting().await;
    let gateway = shop(&upstream, "").await;
    let first = gateway.client.get("/v1/items/7?b=2&a=1").await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json(), json!({"sku": "7", "call": 1}));
    assert_eq!(
        first.header("cache-status"),
        Some("polygate; fwd=miss; stored")
    );
    let etag = first.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    // The same bound values in another order are the same key.
    let second = gateway.client.get("/v1/items/7?a=1&b=2").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json(), json!({"sku": "7", "call": 1}));
    assert_eq!(second.header("cache-status"), Some("polygate; hit"));
    assert_eq!(second.header("etag"), Some(etag.as_str()));
    assert!(second.header("age").is_some());
    assert_eq!(upstream.requests().len(), 1);
    let revalidated = gateway
        .client
        .send(
            "GET",
            "/v1/items/7?a=1&b=2",
            &[("if-none-match", &etag)],
            "",
        )
        .await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.header("etag"), Some(etag.as_str()));
    let other = gateway.client.get("/v1/items/8").await;
    assert_eq!(other.json(), json!({"sku": "8", "call": 2}));
    // A client's no-cache is ignored unless the route allows it.
    let insisting = gateway
        .client
        .send("GET", "/v1/items/8", &[("cache-control", "no-cache")], "")
        .await;
    assert_eq!(insisting.header("cache-status"), Some("polygate; hit"));
    assert_eq!(upstream.requests().len(), 2);
    let admin = gateway.admin();
    let labels = r#"{method="GET",route="/v1/items/{sku}"}"#;
    assert_eq!(
        metric(&admin, &format!("polygate_cache_hits_total{labels}")).await,
        3
    );
    assert_eq!(
        metric(&admin, &format!("polygate_cache_misses_total{labels}")).await,
        2
    );
    gateway.stop().await;
}

#[tokio::test]
async fn vary_headers_split_the_key_no_store_is_not_kept_and_credentials_bypass() {
    let upstream = counting().await;
    let gateway = shop(&upstream, "").await;
    let get = |lang: &'static str| {
        let client = gateway.client.clone();
        async move {
            client
                .send("GET", "/v1/items/1", &[("accept-language", lang)], "")
                .await
                .json()["call"]
                .clone()
        }
    };
    assert_eq!(get("fr").await, 1);
    assert_eq!(get("en").await, 2);
    assert_eq!(get("fr").await, 1);
    assert_eq!(upstream.requests().len(), 2);
    for expected in [3, 4] {
        let answer = gateway.client.get("/v1/fresh/nostore").await;
        assert_eq!(answer.json()["call"], expected);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    let bearer = gateway
        .client
        .send(
            "GET",
            "/v1/items/1",
            &[("accept-language", "fr"), ("authorization", "Bearer x")],
            "",
        )
        .await;
    assert_eq!(bearer.json()["call"], 5);
    assert_eq!(
        bearer.header("cache-status"),
        Some("polygate; fwd=bypass; detail=credentials")
    );
    let cookie = gateway
        .client
        .send("GET", "/v1/fresh/9", &[("cookie", "session=1")], "")
        .await;
    assert_eq!(cookie.json()["call"], 6);
    // …and neither answer was stored for others.
    assert_eq!(gateway.client.get("/v1/fresh/9").await.json()["call"], 7);
    gateway.stop().await;
}

#[tokio::test]
async fn concurrent_misses_on_one_key_make_one_backend_call() {
    let gate = Arc::new(Semaphore::new(0));
    let opened = gate.clone();
    let upstream = HttpServer::start(move |_request: Recorded| {
        let gate = gate.clone();
        async move {
            let _permit = gate.acquire().await.unwrap();
            Answer::json(json!({"sku": "1"}))
        }
    })
    .await;
    let gateway = shop(&upstream, "").await;
    let admin = gateway.admin();
    const CLIENTS: usize = 50;
    let requests: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = gateway.client.clone();
            tokio::spawn(async move { client.get("/v1/items/1").await })
        })
        .collect();
    let coalesced = r#"polygate_cache_coalesced_total{method="GET",route="/v1/items/{sku}"}"#;
    bounded("every other request waiting", async {
        while metric(&admin, coalesced).await < (CLIENTS - 1) as u64 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    opened.add_permits(CLIENTS);
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json(), json!({"sku": "1"}));
    }
    assert_eq!(upstream.requests().len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn stale_while_revalidate_refreshes_once_and_stale_if_error_serves_when_the_backend_is_down()
{
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let (counted, held) = (calls.clone(), gate.clone());
    let upstream = HttpServer::start(move |_request: Recorded| {
        let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
        let gate = held.clone();
        async move {
            if call > 1 {
                let _permit = gate.acquire().await.unwrap();
            }
            Answer::json(json!({"call": call})).header(
                "cache-control",
                "max-age=0, stale-while-revalidate=600, stale-if-error=600",
            )
        }
    })
    .await;
    let gateway = shop(&upstream, "").await;
    assert_eq!(
        gateway.client.get("/v1/items/1").await.json(),
        json!({"call": 1})
    );
    // Stale at once (max-age=0): every request is served stale while one refresh runs.
    for _ in 0..5 {
        let stale = gateway.client.get("/v1/items/1").await;
        assert_eq!(stale.json(), json!({"call": 1}));
        assert_eq!(
            stale.header("cache-status"),
            Some("polygate; hit; fwd=stale")
        );
    }
    bounded("the refresh reaching the backend", async {
        while calls.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(upstream.requests().len(), 2);
    gate.add_permits(1);
    bounded("the refreshed answer", async {
        while gateway.client.get("/v1/items/1").await.json() != json!({"call": 2}) {}
    })
    .await;

    // stale-if-error: the backend gone, the stale copy answers.
    let upstream = HttpServer::start(|_request: Recorded| async {
        Answer::json(json!({"call": 1})).header("cache-control", "max-age=0, stale-if-error=600")
    })
    .await;
    let gateway = gateway_for_swr_off(&upstream).await;
    assert_eq!(gateway.client.get("/v1/items/5").await.json()["call"], 1);
    upstream.stop().await;
    let rescued = gateway.client.get("/v1/items/5").await;
    assert_eq!(rescued.status, 200, "{}", rescued.text());
    assert_eq!(rescued.json()["call"], 1);
    assert_eq!(
        rescued.header("cache-status"),
        Some("polygate; hit; fwd=stale; detail=stale-if-error")
    );
    let never_stored = gateway.client.get("/v1/items/6").await;
    assert_eq!(never_stored.status, 503, "{}", never_stored.text());
    gateway.stop().await;
}

/// A gateway with one cached item route and no admin listener.
async fn gateway_for_swr_off(upstream: &HttpServer) -> Gateway {
    gateway(
        &format!("  shop:\n    rest:\n      url: {}\n", upstream.url()),
        "routes:\n  - get: /v1/items/{sku}\n    backend: shop\n    rest: {path: \"/items/{sku}\"}\n    cache: {ttl: 60s}\n",
    )
    .await
}

#[tokio::test]
async fn purges_drop_a_tag_a_route_with_values_a_route_or_everything() {
    let upstream = counting().await;
    let gateway = shop(&upstream, "").await;
    let admin = gateway.admin();
    for sku in ["1", "2", "3"] {
        gateway.client.get(&format!("/v1/items/{sku}")).await;
    }
    gateway.client.get("/v1/fresh/1").await;
    assert_eq!(upstream.requests().len(), 4);
    let purge = |body: serde_json::Value| {
        let admin = admin.clone();
        async move { admin.json("POST", "/cache/purge", body).await.json()["purged"].clone() }
    };
    assert_eq!(purge(json!({"tag": "item:1"})).await, 1);
    assert_eq!(
        purge(json!({"route": "GET /v1/items/{sku}", "values": {"sku": "2"}})).await,
        1
    );
    let calls = |sku: &'static str| {
        let client = gateway.client.clone();
        async move { client.get(&format!("/v1/items/{sku}")).await.json()["call"].clone() }
    };
    assert_eq!(calls("1").await, 5);
    assert_eq!(calls("2").await, 6);
    assert_eq!(calls("3").await, 3);
    assert_eq!(purge(json!({"route": "GET /v1/items/{sku}"})).await, 3);
    assert_eq!(calls("3").await, 7);
    assert_eq!(purge(json!({})).await, 2);
    assert_eq!(gateway.client.get("/v1/fresh/1").await.json()["call"], 8);
    let refused = admin
        .json("POST", "/cache/purge", json!({"values": {"sku": "1"}}))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["message"], "values need a route");
    gateway.stop().await;
}

#[tokio::test]
async fn the_byte_bound_holds_after_many_distinct_answers() {
    let filler = "x".repeat(2048);
    let upstream = HttpServer::start(move |request: Recorded| {
        let body = json!({"target": request.target, "filler": filler.clone()});
        async move { Answer::json(body) }
    })
    .await;
    let gateway = shop(
        &upstream,
        "cache:\n  max_size: 64KiB\n  max_entry_size: 8KiB\n",
    )
    .await;
    for sku in 0..300 {
        let answer = gateway.client.get(&format!("/v1/items/{sku}")).await;
        assert_eq!(answer.status, 200);
    }
    let admin = gateway.admin();
    // A purge that matches nothing applies the store's pending evictions.
    admin
        .json("POST", "/cache/purge", json!({"tag": "none"}))
        .await;
    let size = metric(&admin, "polygate_cache_size_bytes").await;
    assert!(size > 0 && size <= 64 * 1024, "{size}");
    assert_eq!(
        metric(&admin, "polygate_cache_max_size_bytes").await,
        64 * 1024
    );
    let evictions = r#"polygate_cache_evictions_total{method="GET",route="/v1/items/{sku}"}"#;
    assert!(metric(&admin, evictions).await > 0);
    gateway.stop().await;
}

#[tokio::test]
async fn the_byte_bound_holds_after_a_gibibyte_of_distinct_answers() {
    // 1,100 distinct answers of about 1 MiB each (more than 1 GiB in all) through a cache of
    // 8 MiB: each body is its target then one shared filler, copied rather than rebuilt.
    const ANSWERS: usize = 1100;
    const MAX_SIZE: u64 = 8 * 1024 * 1024;
    let filler: Arc<[u8]> = vec![b'x'; 1000 * 1024].into();
    let upstream = HttpServer::start(move |request: Recorded| {
        let filler = filler.clone();
        async move {
            let mut body = Vec::with_capacity(filler.len() + 64);
            body.extend_from_slice(b"{\"target\":\"");
            body.extend_from_slice(request.target.as_bytes());
            body.extend_from_slice(b"\",\"filler\":\"");
            body.extend_from_slice(&filler);
            body.extend_from_slice(b"\"}");
            Answer::new(200, "application/json", body)
        }
    })
    .await;
    let gateway = shop(
        &upstream,
        "cache:\n  max_size: 8MiB\n  max_entry_size: 2MiB\n",
    )
    .await;
    let mut served: u64 = 0;
    for sku in 0..ANSWERS {
        let answer = gateway.client.get(&format!("/v1/items/{sku}")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("cache-status"),
            Some("polygate; fwd=miss; stored")
        );
        served += answer.body.len() as u64;
    }
    assert!(served > 1024 * 1024 * 1024, "{served}");
    assert_eq!(upstream.requests().len(), ANSWERS);
    let admin = gateway.admin();
    // A purge that matches nothing applies the store's pending evictions.
    admin
        .json("POST", "/cache/purge", json!({"tag": "none"}))
        .await;
    let size = metric(&admin, "polygate_cache_size_bytes").await;
    assert!(size > 0 && size <= MAX_SIZE, "{size}");
    assert_eq!(
        metric(&admin, "polygate_cache_max_size_bytes").await,
        MAX_SIZE
    );
    assert!(metric(&admin, "polygate_cache_entries").await <= 8);
    let evictions = r#"polygate_cache_evictions_total{method="GET",route="/v1/items/{sku}"}"#;
    assert!(metric(&admin, evictions).await > 0);
    gateway.stop().await;
}

const TICKETS: &str = "http:\n  rules:\n  - selector: polygate.test.v1.Tickets.Read\n    get: /v1/tickets/{name}\n    cache: {ttl: 60s}\n";

fn tickets_config(url: &str, mapping: &str) -> String {
    let protos = root().join("tests/protos");
    format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  tickets:\n    grpc:\n      url: {url}\n      schema:\n        protos: [polygate/test/v1/idempotent.proto]\n        proto_paths: [{}]\nmappings: [{mapping}]\n",
        protos.display()
    )
}

#[tokio::test]
async fn grpc_methods_marked_no_side_effects_are_cached_and_unmarked_ones_are_refused() {
    let protos = root().join("tests/protos");
    let encoded = polygate::descriptors::compile_protos(
        &[protos.join("polygate/test/v1/idempotent.proto")],
        std::slice::from_ref(&protos),
    )
    .unwrap();
    let pool = prost_reflect::DescriptorPool::decode(encoded.as_slice()).unwrap();
    let server = crate::support::GrpcServerBuilder::new(pool).start().await;
    let gateway = Gateway::start(
        &tickets_config(&server.url(), "tickets.yaml"),
        &[("tickets.yaml", TICKETS)],
    )
    .await;
    for status in ["polygate; fwd=miss; stored", "polygate; hit"] {
        let answer = gateway.client.get("/v1/tickets/t1").await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json(), json!({"name": "t1"}));
        assert_eq!(answer.header("cache-status"), Some(status));
    }
    assert_eq!(server.calls().len(), 1);
    gateway.stop().await;

    let dir = crate::support::scratch_dir();
    let unmarked = "http:\n  rules:\n  - selector: polygate.test.v1.Tickets.Issue\n    get: /v1/issued/{name}\n    cache: {ttl: 60s}\n";
    std::fs::write(dir.join("issue.yaml"), unmarked).unwrap();
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, tickets_config(&server.url(), "issue.yaml")).unwrap();
    let config = polygate::config::Config::from_file(&path).unwrap();
    let errors: Vec<String> = match polygate::app::build(&config).await {
        Ok(_) => panic!("an unmarked method was cached"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("issue.yaml:")
            && errors[0].contains(
                "polygate.test.v1.Tickets.Issue is not marked idempotency_level = NO_SIDE_EFFECTS"
            ),
        "{errors:?}"
    );
    // assume_safe caches it anyway.
    let assumed = unmarked.replace("{ttl: 60s}", "{ttl: 60s, assume_safe: true}");
    std::fs::write(dir.join("issue.yaml"), assumed).unwrap();
    let config = polygate::config::Config::from_file(&path).unwrap();
    assert!(polygate::app::build(&config).await.is_ok());
}

#[tokio::test]
async fn only_get_routes_with_a_safe_backend_call_may_be_cached() {
    let upstream = counting().await;
    let dir = crate::support::scratch_dir();
    let cases = [
        ("  - post: /v1/items\n    backend: shop\n    rest: {path: /items}\n    cache: {ttl: 1s}\n", "cache: only GET and HEAD routes are cached, not POST"),
        ("  - get: /v1/items\n    backend: shop\n    rest: {path: /items, method: POST}\n    cache: {ttl: 1s}\n", "cache: the backend call is a POST; mark the route safe: true if it has no side effects"),
    ];
    for (route, expected) in cases {
        std::fs::write(dir.join("legacy.yaml"), format!("routes:\n{route}")).unwrap();
        let path = dir.join("polygate.yaml");
        std::fs::write(
            &path,
            format!("http:\n  listen: 127.0.0.1:0\nbackends:\n  shop:\n    rest:\n      url: {}\nmappings: [legacy.yaml]\n", upstream.url()),
        )
        .unwrap();
        let config = polygate::config::Config::from_file(&path).unwrap();
        let errors: Vec<String> = match polygate::app::build(&config).await {
            Ok(_) => panic!("{route} was accepted"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("legacy.yaml:") && errors[0].ends_with(expected),
            "{errors:?}"
        );
        // safe: true admits the POST backend call.
        if expected.contains("safe: true") {
            let safe = route.replace("    cache:", "    safe: true\n    cache:");
            std::fs::write(dir.join("legacy.yaml"), format!("routes:\n{safe}")).unwrap();
            let config = polygate::config::Config::from_file(&path).unwrap();
            assert!(polygate::app::build(&config).await.is_ok());
        }
    }
}

#[tokio::test]
async fn soap_keys_come_from_bound_values_so_fresh_nonces_do_not_split_them() {
    std::env::set_var("POLYGATE_IT_CACHE_WSSE_PASSWORD", "pw");
    let service = HttpServer::start(|_request: Recorded| async {
        Answer::xml(crate::support::legacy::envelope11(
            r#"<AddResponse xmlns="http://tempuri.org/"><AddResult>5</AddResult></AddResponse>"#,
        ))
    })
    .await;
    let backends = format!(
        "  calc:\n    soap:\n      url: {}/calc\n      ws_security:\n        username: svc\n        password_env: POLYGATE_IT_CACHE_WSSE_PASSWORD\n",
        service.url()
    );
    let mapping = r#"
xml_mapping:
  default_namespace: http://tempuri.org/
  types:
    Add/intA: int
    Add/intB: int
    AddResponse/AddResult: int
  order:
    Add: [intA, intB]
routes:
  - get: /v1/calc/add/{intA}/{intB}
    backend: calc
    safe: true
    soap:
      operation: Add
      action: http://tempuri.org/Add
    cache: {ttl: 60s}
"#;
    let gateway = gateway(&backends, mapping).await;
    for status in ["polygate; fwd=miss; stored", "polygate; hit"] {
        let answer = gateway.client.get("/v1/calc/add/2/3").await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.header("cache-status"), Some(status));
    }
    assert_eq!(service.requests().len(), 1);
    gateway.client.get("/v1/calc/add/3/2").await;
    let requests = service.requests();
    assert_eq!(requests.len(), 2);
    let nonce = |request: &Recorded| {
        crate::support::xml_tree::parse(request.text())
            .unwrap()
            .at(&["Header", "Security", "UsernameToken"])
            .unwrap()
            .text_at(&["Nonce"])
    };
    // Every envelope carries a fresh nonce; the key never saw one.
    assert_ne!(nonce(&requests[0]), nonce(&requests[1]));
    gateway.stop().await;
}

#[tokio::test]
async fn not_found_answers_are_kept_only_with_a_negative_ttl() {
    let upstream = HttpServer::start(|_request: Recorded| async {
        Answer::json(json!({"error": "no such item"})).status(404)
    })
    .await;
    let mapping = "routes:\n  - get: /v1/items/{sku}\n    backend: shop\n    rest: {path: \"/items/{sku}\"}\n    cache: {ttl: 60s, negative_ttl: 60s}\n  - get: /v1/plain/{sku}\n    backend: shop\n    rest: {path: \"/items/{sku}\"}\n    cache: {ttl: 60s}\n";
    let gateway = gateway(
        &format!("  shop:\n    rest:\n      url: {}\n", upstream.url()),
        mapping,
    )
    .await;
    for _ in 0..2 {
        let missing = gateway.client.get("/v1/items/none").await;
        assert_eq!(missing.status, 404, "{}", missing.text());
        assert_eq!(missing.json(), json!({"error": "no such item"}));
    }
    assert_eq!(upstream.requests().len(), 1);
    for _ in 0..2 {
        assert_eq!(gateway.client.get("/v1/plain/none").await.status, 404);
    }
    assert_eq!(upstream.requests().len(), 3);
    gateway.stop().await;
}
