//! Issue 13: OAuth2 opaque tokens checked by token introspection (RFC 7662) against a real
//! introspection endpoint on a loopback port that counts its calls, in front of a real gRPC
//! backend: active and inactive tokens, the cache and the negative cache, scopes, the endpoint
//! failing (503, never cached) and concurrent requests sharing one call.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::support::http_client::TestResponse;
use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::{bounded, root, test_backend, test_config, Gateway};

const RULES: &str = r#"http:
  rules:
  - selector: polygate.test.v1.Testing.Echo
    get: /v1/any/{name}
    auth: any
  - selector: polygate.test.v1.Testing.Echo
    get: /v1/opaque/{name}
    auth: {schemes: [introspection]}
  - selector: polygate.test.v1.Testing.Echo
    post: /v1/write/{name}
    body: "*"
    auth: {schemes: [introspection], scopes: [write]}
"#;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The token a request to the endpoint carries (`token=…&token_type_hint=access_token`).
fn token_of(request: &Recorded) -> String {
    request
        .text()
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default()
        .to_owned()
}

/// The authorization server: checks polygate's client credentials, and knows a few tokens.
/// `tok-slow` is answered once `gate` opens.
async fn endpoint(addr: &str, gate: watch::Receiver<bool>) -> HttpServer {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("polygate:s3cret")
    );
    HttpServer::start_on(addr, None, move |request: Recorded| {
        let mut gate = gate.clone();
        let authorized = request.header("authorization") == Some(basic.as_str())
            && request.header("content-type") == Some("application/x-www-form-urlencoded");
        async move {
            if !authorized {
                return Answer::json(json!({"error": "invalid_client"})).status(401);
            }
            let exp = now() + 3600;
            let active = |sub: &str, scope: &str| {
                json!({"active": true, "sub": sub, "scope": scope, "exp": exp, "tenant": "t1",
                       "client_id": "app", "token_type": "Bearer"})
            };
            match token_of(&request).as_str() {
                "tok-alice" => Answer::json(active("alice", "read")),
                "tok-writer" => Answer::json(active("wendy", "read write")),
                "tok-slow" => {
                    gate.wait_for(|open| *open).await.unwrap();
                    Answer::json(active("carol", "read"))
                }
                "tok-broken" => Answer::json(json!({"error": "oops"})).status(500),
                _ => Answer::json(json!({"active": false})),
            }
        }
    })
    .await
    .expect("a loopback port")
}

fn calls(server: &HttpServer, token: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| token_of(r) == token)
        .count()
}

async fn bearer(gateway: &Gateway, path: &str, token: &str) -> TestResponse {
    let authorization = format!("Bearer {token}");
    gateway
        .client
        .send(
            "GET",
            path,
            &[
                ("authorization", authorization.as_str()),
                ("grpc-metadata-x-user-id", "forged"),
            ],
            "",
        )
        .await
}

async fn gateway(backend_url: &str, endpoint_url: &str) -> Gateway {
    let keys = root().join("tests/keys");
    let config = test_config(
        backend_url,
        &format!(
            "websocket: {{}}\nmappings: [rules.yaml]\npolicies:\n  jwt:\n    keys:\n      - {{kid: rs, algorithm: RS256, pem_file: {}}}\n  introspection:\n    url: {endpoint_url}/oauth2/introspect\n    client_id: polygate\n    client_secret: s3cret\n    cache_ttl: 1h\n    negative_ttl: 1h\n    timeout: 5s\n  forward_claims: {{sub: x-user-id, tenant: x-tenant}}\n",
            keys.join("rsa.pub.pem").display()
        ),
    );
    Gateway::start(&config, &[("rules.yaml", RULES)]).await
}

#[tokio::test]
async fn opaque_tokens_are_introspected_cached_and_checked_for_scopes() {
    let backend = test_backend().start().await;
    let (_open, gate) = watch::channel(false);
    let server = endpoint("127.0.0.1:0", gate).await;
    let gateway = gateway(&backend.url(), &server.url()).await;

    // Active: the backend sees the forwarded claims, not the client's forged copy.
    let answer = bearer(&gateway, "/v1/opaque/a", "tok-alice").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json(), json!({"name": "a"}));
    let metadata = backend.last_call().metadata;
    assert_eq!(metadata.get("x-user-id").unwrap(), "alice");
    assert_eq!(metadata.get_all("x-user-id").iter().count(), 1);
    assert_eq!(metadata.get("x-tenant").unwrap(), "t1");
    let call = server.last_request();
    assert_eq!(call.method, "POST");
    assert_eq!(call.target, "/oauth2/introspect");
    assert_eq!(call.text(), "token=tok-alice&token_type_hint=access_token");

    // The second request is served from the cache: still one call.
    assert_eq!(bearer(&gateway, "/v1/any/b", "tok-alice").await.status, 200);
    assert_eq!(calls(&server, "tok-alice"), 1);

    // Inactive: 401 invalid_token, and the answer is cached too (negative cache).
    for _ in 0..2 {
        let refused = bearer(&gateway, "/v1/opaque/r", "tok-revoked").await;
        assert_eq!(refused.status, 401);
        assert_eq!(
            refused.json(),
            json!({"code": 16, "message": "invalid credentials: the token is not active", "details": []})
        );
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer realm=\"polygate\", error=\"invalid_token\", error_description=\"the token is not active\"")
        );
    }
    assert_eq!(calls(&server, "tok-revoked"), 1);

    // Per-route scopes: `read` is not `write`.
    let client = &gateway.client;
    let send = |authorization: &'static str| async move {
        let headers = [
            ("authorization", authorization),
            ("content-type", "application/json"),
        ];
        client.send("POST", "/v1/write/w", &headers, "{}").await
    };
    let denied = send("Bearer tok-alice").await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json(),
        json!({"code": 7, "message": "the caller lacks the scope 'write' this route requires", "details": []})
    );
    assert_eq!(send("Bearer tok-writer").await.status, 200);
    assert_eq!(
        backend.last_call().metadata.get("x-user-id").unwrap(),
        "wendy"
    );

    // A JWT is verified locally, never sent to the endpoint.
    let jwt = {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(
            &std::fs::read(root().join("tests/keys/rsa.pem")).unwrap(),
        )
        .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("rs".into());
        jsonwebtoken::encode(&header, &json!({"sub": "jay", "exp": now() + 600}), &key).unwrap()
    };
    let before = server.requests().len();
    assert_eq!(bearer(&gateway, "/v1/any/j", &jwt).await.status, 200);
    assert_eq!(
        backend.last_call().metadata.get("x-user-id").unwrap(),
        "jay"
    );
    assert_eq!(server.requests().len(), before);
    // … and a route that takes introspection only refuses it without asking.
    assert_eq!(bearer(&gateway, "/v1/opaque/j", &jwt).await.status, 401);
    assert_eq!(server.requests().len(), before);

    gateway.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_websocket_upgrade_waits_for_its_token_to_be_introspected() {
    use crate::support::ws_client::WsClient;
    use tokio_tungstenite::tungstenite::Error as WsError;

    let backend = test_backend().start().await;
    let (_open, gate) = watch::channel(false);
    let server = endpoint("127.0.0.1:0", gate).await;
    let gateway = gateway(&backend.url(), &server.url()).await;
    let addr = gateway.addr("http");
    let protocol = ("sec-websocket-protocol", "polygate.v1");

    let refused = WsClient::open(
        addr,
        "/ws",
        &[protocol, ("authorization", "Bearer tok-revoked")],
    )
    .await
    .err()
    .unwrap();
    let WsError::Http(response) = refused else {
        panic!("an HTTP answer, not {refused:?}")
    };
    assert_eq!(response.status(), 401);

    let mut ws = WsClient::open(
        addr,
        "/ws",
        &[protocol, ("authorization", "Bearer tok-alice")],
    )
    .await
    .expect("an active token upgrades");
    ws.send(json!({"type": "init"})).await;
    assert_eq!(ws.next().await, json!({"type": "init_ack"}));
    ws.send(json!({"type": "call", "id": "a", "method": "GET", "path": "/v1/opaque/w"}))
        .await;
    assert_eq!(
        ws.next_for("a").await,
        json!({"type": "next", "id": "a", "message": {"name": "w"}})
    );
    assert_eq!(
        backend.last_call().metadata.get("x-user-id").unwrap(),
        "alice"
    );
    assert_eq!(
        calls(&server, "tok-alice"),
        1,
        "introspected once, for the upgrade"
    );

    gateway.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_endpoint_that_fails_gives_503_which_is_never_cached() {
    let backend = test_backend().start().await;
    let (_open, gate) = watch::channel(false);
    let server = endpoint("127.0.0.1:0", gate.clone()).await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    let gateway = gateway(&backend.url(), &server.url()).await;

    // A 5xx answer: 503 UNAVAILABLE in the canonical shape, and asked again next time.
    for n in 1..=2 {
        let failed = bearer(&gateway, "/v1/opaque/x", "tok-broken").await;
        assert_eq!(failed.status, 503);
        assert_eq!(
            failed.json(),
            json!({"code": 14, "message": "the credential cannot be checked now: the introspection endpoint answered 500 Internal Server Error; try again later", "details": []})
        );
        assert!(failed.header("www-authenticate").is_none());
        assert_eq!(calls(&server, "tok-broken"), n);
    }

    // The endpoint stops: 503, not 401.
    server.stop().await;
    let down = bearer(&gateway, "/v1/opaque/a", "tok-alice").await;
    assert_eq!(down.status, 503);
    let body: Value = down.json();
    assert_eq!(body["code"], 14);
    assert!(
        body["message"].as_str().unwrap().starts_with(
            "the credential cannot be checked now: the introspection endpoint cannot be reached"
        ),
        "{body}"
    );

    // It comes back on the same address: the next request is introspected and served.
    let server = endpoint(&addr, gate).await;
    let answer = bearer(&gateway, "/v1/opaque/a", "tok-alice").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(calls(&server, "tok-alice"), 1);
    assert_eq!(
        backend.last_call().metadata.get("x-user-id").unwrap(),
        "alice"
    );

    gateway.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_new_token_make_one_endpoint_call() {
    const REQUESTS: usize = 8;
    let backend = test_backend().start().await;
    let (open, gate) = watch::channel(false);
    let server = endpoint("127.0.0.1:0", gate).await;
    let gateway = gateway(&backend.url(), &server.url()).await;
    let metrics = &gateway.running().pipeline.telemetry().metrics;

    let requests: Vec<_> = (0..REQUESTS)
        .map(|n| {
            let client = gateway.client.clone();
            tokio::spawn(async move {
                client
                    .send(
                        "GET",
                        &format!("/v1/opaque/c{n}"),
                        &[("authorization", "Bearer tok-slow")],
                        "",
                    )
                    .await
            })
        })
        .collect();
    // Every request is under way while the endpoint holds its one answer back.
    bounded("all requests under way", async {
        while metrics.in_flight(polygate::model::FrontendKind::Rest) < REQUESTS as i64
            || calls(&server, "tok-slow") == 0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    open.send(true).unwrap();
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    assert_eq!(calls(&server, "tok-slow"), 1);
    assert_eq!(
        backend.last_call().metadata.get("x-user-id").unwrap(),
        "carol"
    );

    gateway.stop().await;
    server.stop().await;
}
