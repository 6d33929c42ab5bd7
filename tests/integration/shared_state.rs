//! Issue 13 item 2 (a rate limit shared through Redis) and issue 17 item 8 (the Redis cache
//! tier and purges across instances): a real redis-server, two polygate processes, a counting
//! REST backend, and Redis killed mid-test.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::support::binary::Serving;
use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::redis_server::RedisServer;
use crate::support::{scratch_dir, Client};

/// A server answering `{"sku": …, "call": n}`.
async fn counting() -> HttpServer {
    let calls = Arc::new(AtomicUsize::new(0));
    HttpServer::start(move |request: Recorded| {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let sku = request.target.rsplit('/').next().unwrap_or("").to_owned();
            Answer::json(json!({"sku": sku, "call": call}))
        }
    })
    .await
}

/// One polygate process with `route_extra` on its one route and `redis_extra` under `redis:`.
/// Commands may take 2 s, so a loaded machine does not turn a slow answer into a failure.
async fn instance(
    upstream: &HttpServer,
    redis: &RedisServer,
    route_extra: &str,
    redis_extra: &str,
) -> Serving {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("routes.yaml"),
        format!(
            "routes:\n  - get: /v1/items/{{sku}}\n    backend: shop\n    rest: {{path: \"/items/{{sku}}\"}}\n{route_extra}"
        ),
    )
    .unwrap();
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nbackends:\n  shop:\n    rest:\n      url: {}\nmappings: [routes.yaml]\nredis:\n  url: {}\n  command_timeout: 2s\n{redis_extra}",
        upstream.url(),
        redis.url()
    );
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config).unwrap();
    start(&path).await
}

async fn start(path: &Path) -> Serving {
    Serving::config(path).await
}

fn admin(serving: &Serving) -> &Client {
    serving.admin.as_ref().expect("an admin listener")
}

async fn metric(admin: &Client, line: &str) -> u64 {
    let text = admin.get("/metrics").await.text();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line)
                .filter(|rest| rest.starts_with(' '))
                .map(|v| v.trim().parse::<u64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no metric {line} in\n{text}"))
}

const LIMIT_ERRORS: &str = r#"polygate_rate_limit_redis_errors_total{limit="items"}"#;

#[tokio::test]
async fn two_processes_draw_from_one_shared_bucket() {
    let redis = RedisServer::start().await;
    let upstream = counting().await;
    // Five tokens for the whole route, one more per hour: nothing refills during the test.
    let limit =
        "    rate_limit: {rate: 1, per: 1h, burst: 5, key: route, name: items, shared: true}\n";
    let a = instance(&upstream, &redis, limit, "").await;
    let b = instance(&upstream, &redis, limit, "").await;
    let mut accepted = 0;
    let mut refused = Vec::new();
    for n in 0..12 {
        let client = if n % 2 == 0 { &a.client } else { &b.client };
        let answer = client.get(&format!("/v1/items/{n}")).await;
        match answer.status.as_u16() {
            200 => accepted += 1,
            429 => refused.push(answer),
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    // Local buckets would have let 5 through each; the shared one lets 5 through in all.
    assert_eq!(accepted, 5);
    assert_eq!(refused.len(), 7);
    assert_eq!(upstream.requests().len(), 5);
    let limited = &refused[0];
    assert_eq!(limited.header("retry-after"), Some("3600"));
    assert_eq!(
        limited.header("ratelimit-policy"),
        Some("\"items\";q=1;w=3600")
    );
    assert_eq!(limited.header("ratelimit"), Some("\"items\";r=0;t=3600"));
    assert_eq!(limited.json()["code"], 8);
    assert_eq!(
        limited.json()["message"],
        "rate limit 'items' reached: retry in 3600 s"
    );
    assert_eq!(metric(admin(&a), LIMIT_ERRORS).await, 0);
}

#[tokio::test]
async fn with_redis_gone_fail_open_falls_back_to_the_local_bucket() {
    let mut redis = RedisServer::start().await;
    let upstream = counting().await;
    let limit = "    rate_limit: {rate: 1, per: 1h, burst: 3, key: route, name: items, shared: true, fail: open}\n";
    let a = instance(&upstream, &redis, limit, "").await;
    let b = instance(&upstream, &redis, limit, "").await;
    for n in 0..3 {
        assert_eq!(a.client.get(&format!("/v1/items/{n}")).await.status, 200);
    }
    // The shared bucket is empty for B too.
    assert_eq!(b.client.get("/v1/items/3").await.status, 429);
    redis.kill();
    // A's own bucket (never drawn from) decides now: three more, then 429.
    for n in 4..7 {
        let answer = a.client.get(&format!("/v1/items/{n}")).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let limited = a.client.get("/v1/items/7").await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.header("ratelimit-policy"),
        Some("\"items\";q=1;w=3600")
    );
    // A whole hour less what the local bucket refilled since its first token was taken.
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((3590..=3600).contains(&retry), "{retry}");
    assert_eq!(upstream.requests().len(), 6);
    assert_eq!(metric(admin(&a), LIMIT_ERRORS).await, 4);
    assert_eq!(metric(admin(&b), LIMIT_ERRORS).await, 0);
}

#[tokio::test]
async fn with_redis_slow_or_gone_fail_closed_answers_503() {
    let mut redis = RedisServer::start().await;
    let upstream = counting().await;
    let limit = "    rate_limit: {rate: 1, per: 1h, burst: 5, key: route, name: items, shared: true, fail: closed}\n";
    let a = instance(&upstream, &redis, limit, "").await;
    assert_eq!(a.client.get("/v1/items/1").await.status, 200);
    let refused = |answer: crate::support::http_client::TestResponse| {
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert_eq!(answer.json()["code"], 14);
        assert_eq!(
            answer.json()["message"],
            "rate limit 'items' cannot be checked now (its shared state is unavailable); try again later"
        );
    };
    // Paused: no answer within command_timeout.
    redis.pause();
    for n in 2..4 {
        refused(a.client.get(&format!("/v1/items/{n}")).await);
    }
    redis.resume();
    // Back: the shared bucket decides again (at most the two checks that timed out ran late).
    assert_eq!(a.client.get("/v1/items/4").await.status, 200);
    redis.kill();
    refused(a.client.get("/v1/items/5").await);
    assert_eq!(upstream.requests().len(), 2);
    assert_eq!(metric(admin(&a), LIMIT_ERRORS).await, 3);
}

const CACHED: &str = "    cache: {ttl: 60s, tags: [\"item:{sku}\"]}\n";
const TIER: &str = "  cache: true\n";
const CHANNEL: &str = "polygate:cache:purge";

#[tokio::test]
async fn an_instance_hits_what_another_filled_and_a_purge_reaches_both() {
    let redis = RedisServer::start().await;
    let upstream = counting().await;
    let a = instance(&upstream, &redis, CACHED, TIER).await;
    let b = instance(&upstream, &redis, CACHED, TIER).await;
    redis.wait_subscribers(CHANNEL, 2).await;

    let filled = a.client.get("/v1/items/7").await;
    assert_eq!(filled.status, 200);
    assert_eq!(filled.json(), json!({"sku": "7", "call": 1}));
    assert_eq!(
        filled.header("cache-status"),
        Some("polygate; fwd=miss; stored")
    );
    let shared = b.client.get("/v1/items/7").await;
    assert_eq!(shared.status, 200);
    assert_eq!(shared.json(), json!({"sku": "7", "call": 1}));
    assert_eq!(shared.header("cache-status"), Some("polygate; hit"));
    assert_eq!(shared.header("etag"), filled.header("etag"));
    assert_eq!(upstream.requests().len(), 1);
    assert_eq!(
        metric(admin(&b), "polygate_cache_redis_hits_total").await,
        1
    );
    assert_eq!(
        metric(admin(&a), "polygate_cache_redis_writes_total").await,
        1
    );

    let purged = admin(&a)
        .send("POST", "/cache/purge", &[], r#"{"tag": "item:7"}"#)
        .await;
    assert_eq!(purged.status, 200);
    assert_eq!(purged.json(), json!({"purged": 1}));
    let keys: Vec<Vec<u8>> = redis
        .query(redis::cmd("KEYS").arg("polygate:cache:e:*"))
        .await;
    assert!(keys.is_empty(), "the Redis copy is deleted");
    crate::support::bounded("B receives the purge", async {
        while metric(admin(&b), "polygate_cache_redis_purges_received_total").await < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let refilled = b.client.get("/v1/items/7").await;
    assert_eq!(refilled.json(), json!({"sku": "7", "call": 2}));
    assert_eq!(
        refilled.header("cache-status"),
        Some("polygate; fwd=miss; stored")
    );
    let again = a.client.get("/v1/items/7").await;
    assert_eq!(again.json(), json!({"sku": "7", "call": 2}));
    assert_eq!(again.header("cache-status"), Some("polygate; hit"));
    assert_eq!(upstream.requests().len(), 2);
    assert_eq!(
        metric(admin(&a), "polygate_cache_redis_purges_received_total").await,
        0
    );
}

#[tokio::test]
async fn with_redis_killed_mid_run_no_request_fails() {
    let mut redis = RedisServer::start().await;
    let upstream = counting().await;
    let a = instance(&upstream, &redis, CACHED, TIER).await;
    let b = instance(&upstream, &redis, CACHED, TIER).await;
    assert_eq!(a.client.get("/v1/items/1").await.json()["call"], 1);
    assert_eq!(b.client.get("/v1/items/1").await.json()["call"], 1);
    redis.kill();
    // What each instance holds still serves; new keys go to the backend, one call each.
    let held = b.client.get("/v1/items/1").await;
    assert_eq!(held.status, 200);
    assert_eq!(held.header("cache-status"), Some("polygate; hit"));
    let on_a = a.client.get("/v1/items/2").await;
    assert_eq!(on_a.status, 200, "{}", on_a.text());
    assert_eq!(on_a.json(), json!({"sku": "2", "call": 2}));
    let on_b = b.client.get("/v1/items/2").await;
    assert_eq!(on_b.status, 200, "{}", on_b.text());
    assert_eq!(on_b.json(), json!({"sku": "2", "call": 3}));
    // A keeps its own copy.
    assert_eq!(a.client.get("/v1/items/2").await.json()["call"], 2);
    assert_eq!(upstream.requests().len(), 3);
    // One failed read and one failed write on each instance: the tier was bypassed.
    assert_eq!(
        metric(admin(&a), "polygate_cache_redis_errors_total").await,
        2
    );
    assert_eq!(
        metric(admin(&b), "polygate_cache_redis_errors_total").await,
        2
    );
}

#[test]
fn check_refuses_a_shared_limit_without_redis_and_a_bad_redis_section() {
    let dir = scratch_dir();
    let base = "http:\n  listen: 127.0.0.1:0\nbackends:\n  shop:\n    rest:\n      url: http://127.0.0.1:1\nmappings: [routes.yaml]\n";
    let check = |limit: &str, config: String| {
        std::fs::write(
            dir.join("routes.yaml"),
            format!("routes:\n  - get: /v1/items/{{sku}}\n    backend: shop\n    rest: {{path: \"/items/{{sku}}\"}}\n    rate_limit: {limit}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("polygate.yaml"), config).unwrap();
        let output = crate::support::binary::polygate()
            .args(["check", "--config"])
            .arg(dir.join("polygate.yaml"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8(output.stderr).unwrap()
    };
    let shared = "{rate: 5, name: items, shared: true}";
    let stderr = check(shared, base.to_owned());
    assert!(
        stderr.contains("error: route GET /v1/items/{sku}: rate_limit.shared needs the redis: section (the server the instances share)"),
        "{stderr}"
    );
    let stderr = check("{rate: 5, fail: closed}", base.to_owned());
    assert!(
        stderr.contains(
            "routes.yaml:2: rate_limit.fail applies to shared limits only (shared: true)"
        ),
        "{stderr}"
    );
    let stderr = check(
        shared,
        format!("{base}redis:\n  url: rediss://cache:6380\n  command_timeout: 0s\n"),
    );
    assert!(
        stderr.contains(
            "error: redis.url: TLS (rediss://) is not supported; use redis:// on a trusted network"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: redis.command_timeout must be above zero"),
        "{stderr}"
    );
}
