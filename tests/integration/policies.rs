//! Issue 13: authentication and rate limits through the real frontends (REST and WebSocket)
//! in front of a real gRPC backend: API keys, JWT (keys in the config, a JWKS file and a JWKS
//! URL), scopes, forwarded claims, and token buckets with their headers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::support::http_client::TestResponse;
use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::ws_client::WsClient;
use crate::support::{root, test_backend, test_config, Gateway, GrpcServer};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "polygate-tests";
const HS_SECRET: &str = "a-shared-secret-of-the-tests";

fn sha256(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/keys").join(name)).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims that pass: our issuer and audience, an hour to live.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600, "scope": "read"})
}

fn sign(algorithm: Algorithm, kid: &str, claims: &Value) -> String {
    let key = match algorithm {
        Algorithm::RS256 | Algorithm::PS256 => {
            EncodingKey::from_rsa_pem(&key_file("rsa.pem")).unwrap()
        }
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key_file("ec256.pem")).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&key_file("ed25519.pem")).unwrap(),
        _ => EncodingKey::from_secret(HS_SECRET.as_bytes()),
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &key).unwrap()
}

/// The public JWK of one of the test keys.
fn jwk(algorithm: Algorithm, kid: &str) -> Jwk {
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&key_file("rsa.pem")).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key_file("ec256.pem")).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&key_file("ed25519.pem")).unwrap(),
        _ => EncodingKey::from_secret(HS_SECRET.as_bytes()),
    };
    let mut jwk = Jwk::from_encoding_key(&key, algorithm).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn jwks(keys: Vec<Jwk>) -> String {
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

const RULES: &str = r#"http:
  rules:
  - selector: polygate.test.v1.Testing.Echo
    get: /v1/public/{name}
    auth: none
  - selector: polygate.test.v1.Testing.Echo
    get: /v1/any/{name}
    auth: any
  - selector: polygate.test.v1.Testing.Echo
    post: /v1/write/{name}
    body: "*"
    auth: {scopes: [write]}
  - selector: polygate.test.v1.Testing.Echo
    get: /v1/tokens/{name}
    auth: {schemes: [jwt]}
  - selector: polygate.test.v1.Testing.Echo
    get: /v1/limited/{name}
    auth: none
    rate_limit: {rate: 1, per: 1s, burst: 2, key: client_ip, name: limited}
  - selector: polygate.test.v1.Testing.Echo
    get: /v1/per-key/{name}
    auth: any
    rate_limit: {rate: 1, per: 1h, key: api_key, name: per-key}
"#;

/// The policies section, with `jwt_extra` lines added under `jwt:` and `default_auth`.
fn policies(default_auth: &str, jwt_extra: &str) -> String {
    let keys = root().join("tests/keys");
    format!(
        "mappings: [rules.yaml]\npolicies:\n  default_auth: {default_auth}\n  api_keys:\n    keys:\n      - {{name: reader, sha256: {}}}\n      - {{name: writer, sha256: {}, scopes: [write]}}\n  jwt:\n    issuers: [{ISSUER}]\n    audiences: [{AUDIENCE}]\n    leeway: 5s\n    keys:\n      - {{kid: rs, algorithm: RS256, pem_file: {}}}\n      - {{kid: ps, algorithm: PS256, pem_file: {}}}\n{jwt_extra}  forward_claims: {{sub: x-user-id}}\n",
        sha256("r-key"),
        sha256("w-key"),
        keys.join("rsa.pub.pem").display(),
        keys.join("rsa.pub.pem").display(),
    )
}

async fn gateway(backend: &GrpcServer, default_auth: &str) -> Gateway {
    let files = jwks(vec![
        jwk(Algorithm::ES256, "es"),
        jwk(Algorithm::EdDSA, "ed"),
        jwk(Algorithm::HS256, "hs"),
    ]);
    let config = test_config(
        &backend.url(),
        &format!(
            "websocket: {{}}\n{}",
            policies(default_auth, "    jwks_file: jwks.json\n")
        ),
    );
    Gateway::start(&config, &[("rules.yaml", RULES), ("jwks.json", &files)]).await
}

#[tokio::test]
async fn api_keys_authenticate_forward_their_name_and_carry_scopes() {
    let backend = test_backend().start().await;
    let gateway = gateway(&backend, "none").await;
    let client = &gateway.client;

    // Public: no key needed, and a forged identity header never reaches the backend.
    let public = client
        .send(
            "GET",
            "/v1/public/p",
            &[("grpc-metadata-x-user-id", "forged")],
            "",
        )
        .await;
    assert_eq!(public.status, 200);
    assert!(backend.last_call().metadata.get("x-user-id").is_none());

    let missing = client.get("/v1/any/a").await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("ApiKey realm=\"polygate\", header=\"x-api-key\", Bearer realm=\"polygate\"")
    );
    assert_eq!(
        missing.json(),
        json!({"code": 16, "message": "this route requires authentication: an API key in the x-api-key header or a bearer token in the authorization header", "details": []})
    );

    let invalid = client
        .send("GET", "/v1/any/a", &[("x-api-key", "guessed")], "")
        .await;
    assert_eq!(invalid.status, 401);
    assert_eq!(
        invalid.json()["message"],
        "invalid credentials: the API key is not valid"
    );

    let valid = client
        .send(
            "GET",
            "/v1/any/a",
            &[
                ("x-api-key", "r-key"),
                ("grpc-metadata-x-user-id", "forged"),
            ],
            "",
        )
        .await;
    assert_eq!(valid.status, 200);
    let metadata = backend.last_call().metadata;
    assert_eq!(metadata.get("x-user-id").unwrap(), "reader");
    assert_eq!(metadata.get_all("x-user-id").iter().count(), 1);
    assert!(
        metadata.get("x-api-key").is_none(),
        "keys are not forwarded"
    );

    let headers = |key| [("x-api-key", key), ("content-type", "application/json")];
    let denied = client
        .send("POST", "/v1/write/w", &headers("r-key"), "{}")
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json(),
        json!({"code": 7, "message": "the caller lacks the scope 'write' this route requires", "details": []})
    );
    let written = client
        .send("POST", "/v1/write/w", &headers("w-key"), "{}")
        .await;
    assert_eq!(written.status, 200);

    // A JWT-only route does not take an API key.
    let wrong_kind = client
        .send("GET", "/v1/tokens/t", &[("x-api-key", "r-key")], "")
        .await;
    assert_eq!(wrong_kind.status, 401);
    assert_eq!(
        wrong_kind.header("www-authenticate"),
        Some("Bearer realm=\"polygate\"")
    );
    // The gateway keeps serving.
    assert_eq!(client.get("/v1/public/after").await.status, 200);
    gateway.stop().await;
}

async fn bearer(gateway: &Gateway, path: &str, token: &str) -> TestResponse {
    let value = format!("Bearer {token}");
    gateway
        .client
        .send("GET", path, &[("authorization", &value)], "")
        .await
}

#[tokio::test]
async fn jwts_of_every_family_verify_and_bad_ones_are_refused_with_the_reason() {
    let backend = test_backend().start().await;
    let gateway = gateway(&backend, "none").await;

    for (algorithm, kid) in [
        (Algorithm::RS256, "rs"),
        (Algorithm::PS256, "ps"),
        (Algorithm::ES256, "es"),
        (Algorithm::EdDSA, "ed"),
        (Algorithm::HS256, "hs"),
    ] {
        let token = sign(algorithm, kid, &claims(&format!("user-{kid}")));
        let answer = bearer(&gateway, "/v1/tokens/t", &token).await;
        assert_eq!(answer.status, 200, "{algorithm:?}: {}", answer.text());
        assert_eq!(
            backend.last_call().metadata.get("x-user-id").unwrap(),
            &format!("user-{kid}")
        );
        // Again, from the cache of verified tokens.
        assert_eq!(bearer(&gateway, "/v1/tokens/t", &token).await.status, 200);
    }

    let refused = |claims: Value, reason: &'static str| (claims, reason);
    let mut late = claims("late");
    late["nbf"] = json!(now() + 600);
    let mut expired = claims("old");
    expired["exp"] = json!(now() - 600);
    let mut foreign = claims("x");
    foreign["iss"] = json!("https://elsewhere.test");
    let mut other_audience = claims("x");
    other_audience["aud"] = json!("another-service");
    let mut no_exp = claims("x");
    no_exp.as_object_mut().unwrap().remove("exp");
    for (claims, reason) in [
        refused(expired, "the token has expired"),
        refused(late, "the token is not valid yet (nbf)"),
        refused(foreign, "the token's issuer is not accepted"),
        refused(other_audience, "the token's audience is not accepted"),
        refused(no_exp, "the token has no 'exp' claim"),
    ] {
        let answer = bearer(
            &gateway,
            "/v1/tokens/t",
            &sign(Algorithm::RS256, "rs", &claims),
        )
        .await;
        assert_eq!(answer.status, 401, "{reason}");
        assert_eq!(
            answer.json()["message"],
            format!("invalid credentials: {reason}")
        );
        assert!(answer
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }

    // alg none: no signature at all.
    let payload = base64_url(&claims("none").to_string());
    let unsigned = format!("{}.{payload}.", base64_url(r#"{"alg":"none","typ":"JWT"}"#));
    let answer = bearer(&gateway, "/v1/tokens/t", &unsigned).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json()["message"],
        "invalid credentials: the token is malformed or names an algorithm polygate does not accept (alg none is refused)"
    );

    // HS256 "signed" with the RS256 public key, naming the RSA key.
    let public_pem = key_file("rsa.pub.pem");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rs".into());
    let confused = encode(
        &header,
        &claims("mallory"),
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let answer = bearer(&gateway, "/v1/tokens/t", &confused).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json()["message"],
        "invalid credentials: the token's algorithm does not match its key"
    );

    // A valid signature by a key the gateway does not know under that id.
    let answer = bearer(
        &gateway,
        "/v1/tokens/t",
        &sign(Algorithm::ES256, "rs", &claims("x")),
    )
    .await;
    assert_eq!(answer.status, 401);
    let answer = bearer(
        &gateway,
        "/v1/tokens/t",
        &sign(Algorithm::RS256, "nobody", &claims("x")),
    )
    .await;
    assert_eq!(
        answer.json()["message"],
        "invalid credentials: the token's key id 'nobody' is unknown"
    );

    // Scopes from the token's `scope` claim.
    let mut writer = claims("w");
    writer["scope"] = json!("read write");
    let token = format!("Bearer {}", sign(Algorithm::ES256, "es", &writer));
    let headers = [
        ("authorization", token.as_str()),
        ("content-type", "application/json"),
    ];
    assert_eq!(
        gateway
            .client
            .send("POST", "/v1/write/w", &headers, "{}")
            .await
            .status,
        200
    );
    let reader = format!("Bearer {}", sign(Algorithm::ES256, "es", &claims("r")));
    let answer = gateway
        .client
        .send(
            "POST",
            "/v1/write/w",
            &[
                ("authorization", &reader),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_eq!(answer.status, 403);
    gateway.stop().await;
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn a_jwks_url_is_fetched_again_once_for_an_unknown_key_id() {
    let served = Arc::new(Mutex::new(jwks(vec![jwk(Algorithm::ES256, "first")])));
    let jwks_server = {
        let served = served.clone();
        HttpServer::start(move |_request: Recorded| {
            let body = served.lock().unwrap().clone();
            async move { Answer::new(200, "application/json", body) }
        })
        .await
    };
    let backend = test_backend().start().await;
    let config = test_config(
        &backend.url(),
        &policies(
            "none",
            &format!("    jwks_url: {}/jwks.json\n", jwks_server.url()),
        ),
    );
    let gateway = Gateway::start(&config, &[("rules.yaml", RULES)]).await;
    assert_eq!(jwks_server.requests().len(), 1, "fetched at start-up");

    let first = sign(Algorithm::ES256, "first", &claims("a"));
    assert_eq!(bearer(&gateway, "/v1/tokens/t", &first).await.status, 200);
    assert_eq!(jwks_server.requests().len(), 1);

    // The issuer rotates: a token naming the new key makes the gateway fetch again, once.
    *served.lock().unwrap() = jwks(vec![
        jwk(Algorithm::ES256, "first"),
        jwk(Algorithm::RS256, "second"),
    ]);
    let second = sign(Algorithm::RS256, "second", &claims("b"));
    let answer = bearer(&gateway, "/v1/tokens/t", &second).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(backend.last_call().metadata.get("x-user-id").unwrap(), "b");
    assert_eq!(jwks_server.requests().len(), 2);

    // Made-up key ids cost no more fetches within the refetch interval (JWKS amplification).
    for n in 0..5 {
        let forged = sign(Algorithm::RS256, &format!("made-up-{n}"), &claims("m"));
        let answer = bearer(&gateway, "/v1/tokens/t", &forged).await;
        assert_eq!(answer.status, 401);
    }
    assert_eq!(jwks_server.requests().len(), 2);
    assert_eq!(bearer(&gateway, "/v1/tokens/t", &first).await.status, 200);
    gateway.stop().await;
}

#[tokio::test]
async fn a_rate_limit_answers_429_with_its_headers_and_recovers_after_the_refill() {
    let backend = test_backend().start().await;
    let gateway = gateway(&backend, "none").await;
    let client = &gateway.client;
    assert_eq!(client.get("/v1/limited/a").await.status, 200);
    assert_eq!(client.get("/v1/limited/b").await.status, 200);
    let limited = client.get("/v1/limited/c").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(
        limited.header("ratelimit-policy"),
        Some("\"limited\";q=1;w=1")
    );
    assert_eq!(limited.header("ratelimit"), Some("\"limited\";r=0;t=1"));
    assert_eq!(
        limited.json(),
        json!({"code": 8, "message": "rate limit 'limited' reached: retry in 1 s", "details": []})
    );
    // Other routes are not affected, and the bucket refills at one token a second.
    assert_eq!(client.get("/v1/public/p").await.status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client.get("/v1/limited/again").await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bucket never refilled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Keyed by API key: each key has its own bucket.
    let with_key = |key| [("x-api-key", key)];
    assert_eq!(
        client
            .send("GET", "/v1/per-key/1", &with_key("r-key"), "")
            .await
            .status,
        200
    );
    assert_eq!(
        client
            .send("GET", "/v1/per-key/2", &with_key("r-key"), "")
            .await
            .status,
        429
    );
    assert_eq!(
        client
            .send("GET", "/v1/per-key/3", &with_key("w-key"), "")
            .await
            .status,
        200
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_websocket_upgrade_without_credentials_is_refused_and_calls_are_admitted_per_route() {
    let backend = test_backend().start().await;
    let gateway = gateway(&backend, "any").await;
    let addr = gateway.addr("http");
    let protocol = ("sec-websocket-protocol", "polygate.v1");

    let refused = WsClient::open(addr, "/ws", &[protocol])
        .await
        .err()
        .unwrap();
    let WsError::Http(response) = refused else {
        panic!("an HTTP answer, not {refused:?}")
    };
    assert_eq!(response.status(), 401);
    let refused = WsClient::open(addr, "/ws", &[protocol, ("x-api-key", "guessed")])
        .await
        .err()
        .unwrap();
    let WsError::Http(response) = refused else {
        panic!("an HTTP answer, not {refused:?}")
    };
    assert_eq!(response.status(), 401);

    let mut ws = WsClient::open(addr, "/ws", &[protocol, ("x-api-key", "r-key")])
        .await
        .expect("a valid key upgrades");
    ws.send(json!({"type": "init"})).await;
    assert_eq!(ws.next().await, json!({"type": "init_ack"}));
    ws.send(json!({"type": "call", "id": "r", "method": "GET", "path": "/v1/any/read"}))
        .await;
    assert_eq!(
        ws.next_for("r").await,
        json!({"type": "next", "id": "r", "message": {"name": "read"}})
    );
    assert_eq!(
        backend.last_call().metadata.get("x-user-id").unwrap(),
        "reader"
    );
    ws.send(
        json!({"type": "call", "id": "w", "method": "POST", "path": "/v1/write/x", "message": {}}),
    )
    .await;
    assert_eq!(
        ws.next_for("w").await,
        json!({"type": "error", "id": "w", "error": {"code": 7, "message": "the caller lacks the scope 'write' this route requires", "details": []}})
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_embedded_broker_refuses_bad_logins_and_keeps_users_to_their_topics() {
    use crate::support::mqtt::{Device, MqttGateway};
    use rumqttc::v5::{AsyncClient, ConnectionError, MqttOptions};

    let backend = test_backend().start().await;
    let protos = root().join("tests/protos");
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| {
            format!(
                "mqtt:\n  embedded:\n    listen: 127.0.0.1:0\n    storage_dir: {}\n    users: {{dev-1: pw1, watcher: pw2}}\n    acl:\n      dev-1: {{publish: ['devices/{{user}}/#'], subscribe: ['commands/{{user}}/+']}}\n      watcher: {{publish: ['commands/#'], subscribe: ['#']}}\nbackends:\n  test:\n    grpc:\n      url: {url}\n      schema:\n        protos: [polygate/test/v1/testing.proto]\n        proto_paths: [{}]\nmappings: [topics.yaml]\n",
                dir.join("broker").display(),
                protos.display()
            )
        },
        &[(
            "topics.yaml",
            "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: sensors/{name}\n",
        )],
    )
    .await;
    let broker = gateway.broker();

    // CONNECT with a wrong password: refused in the CONNACK.
    let mut options = MqttOptions::new("intruder", broker.ip().to_string(), broker.port());
    options.set_credentials("dev-1", "wrong");
    let (_client, mut events) = AsyncClient::new(options, 10);
    let refused = tokio::time::timeout(Duration::from_secs(10), events.poll())
        .await
        .expect("the broker answers the CONNECT");
    match refused {
        Err(ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(format!("{code:?}"), "BadUserNamePassword")
        }
        other => panic!("expected a refused CONNECT, got {other:?}"),
    }

    let mut watcher = Device::v5_with(broker, "watcher", Some(("watcher", "pw2"))).await;
    watcher.subscribe("devices/#", 1).await;
    let mut device = Device::v5_with(broker, "dev-1", Some(("dev-1", "pw1"))).await;

    // A publish outside the user's topics is dropped; the next one, inside, arrives first.
    device.publish("devices/dev-2/telemetry", "{}", 1).await;
    device.publish("devices/dev-1/telemetry", "{}", 1).await;
    assert_eq!(watcher.next().await.topic, "devices/dev-1/telemetry");

    // A subscription outside the user's topics delivers nothing.
    device.subscribe("commands/#", 1).await;
    device.subscribe("commands/dev-1/+", 1).await;
    watcher.publish("commands/dev-2/reboot", "{}", 1).await;
    watcher.publish("commands/dev-1/reboot", "{}", 1).await;
    assert_eq!(device.next().await.topic, "commands/dev-1/reboot");

    device.disconnect().await;
    watcher.disconnect().await;
    gateway.stop().await;
}

#[tokio::test]
async fn the_embedded_broker_takes_a_jwt_as_the_password_and_keeps_its_subject_to_its_topics() {
    use crate::support::mqtt::{Device, MqttGateway};
    use rumqttc::v5::{AsyncClient, ConnectionError, MqttOptions};

    let backend = test_backend().start().await;
    let protos = root().join("tests/protos");
    let url = backend.url();
    let rsa = root().join("tests/keys/rsa.pub.pem");
    let gateway = MqttGateway::start(
        |dir| {
            format!(
                "mqtt:\n  embedded:\n    listen: 127.0.0.1:0\n    storage_dir: {}\n    users: {{watcher: pw2}}\n    jwt_passwords: true\n    acl:\n      dev-7: {{publish: ['devices/{{user}}/#'], subscribe: ['commands/{{user}}/+']}}\n      watcher: {{publish: ['commands/#'], subscribe: ['#']}}\nbackends:\n  test:\n    grpc:\n      url: {url}\n      schema:\n        protos: [polygate/test/v1/testing.proto]\n        proto_paths: [{}]\nmappings: [topics.yaml]\npolicies:\n  jwt:\n    issuers: [{ISSUER}]\n    audiences: [{AUDIENCE}]\n    leeway: 5s\n    keys:\n      - {{kid: rs, algorithm: RS256, pem_file: {}}}\n",
                dir.join("broker").display(),
                protos.display(),
                rsa.display(),
            )
        },
        &[(
            "topics.yaml",
            "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: sensors/{name}\n",
        )],
    )
    .await;
    let broker = gateway.broker();

    // Refused in the CONNACK, MQTT 5: an expired token (0x86 BadUserNameOrPassword), and a
    // valid token under another user name.
    let expired = {
        let mut claims = claims("dev-7");
        claims["exp"] = json!(now() - 3600);
        sign(Algorithm::RS256, "rs", &claims)
    };
    let valid = sign(Algorithm::RS256, "rs", &claims("dev-7"));
    for (user, password) in [("dev-7", expired.as_str()), ("dev-8", valid.as_str())] {
        let mut options = MqttOptions::new("intruder", broker.ip().to_string(), broker.port());
        options.set_credentials(user, password);
        let (_client, mut events) = AsyncClient::new(options, 10);
        let refused = tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("the broker answers the CONNECT");
        match refused {
            Err(ConnectionError::ConnectionRefused(code)) => {
                assert_eq!(format!("{code:?}"), "BadUserNamePassword", "{user}")
            }
            other => panic!("expected a refused CONNECT, got {other:?}"),
        }
    }

    // MQTT 3.1.1: a token whose signature is another token's: return code 4.
    let forged = {
        let other = sign(Algorithm::RS256, "rs", &claims("dev-8"));
        let (signed, _) = valid.rsplit_once('.').unwrap();
        let (_, signature) = other.rsplit_once('.').unwrap();
        format!("{signed}.{signature}")
    };
    let mut options = rumqttc::MqttOptions::new("forger", broker.ip().to_string(), broker.port());
    options.set_credentials("dev-7", forged);
    let (_client, mut events) = rumqttc::AsyncClient::new(options, 10);
    let refused = tokio::time::timeout(Duration::from_secs(10), events.poll())
        .await
        .expect("the broker answers the CONNECT");
    match refused {
        Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(code, rumqttc::ConnectReturnCode::BadUserNamePassword)
        }
        other => panic!("expected a refused CONNECT, got {other:?}"),
    }

    // A valid token logs in as its subject, whose ACL applies: a publish outside its topics
    // is dropped, the next one, inside, arrives first.
    let mut watcher = Device::v5_with(broker, "watcher", Some(("watcher", "pw2"))).await;
    watcher.subscribe("devices/#", 1).await;
    let mut device = Device::v5_with(broker, "dev-7", Some(("dev-7", &valid))).await;
    device.publish("devices/dev-8/telemetry", "{}", 1).await;
    device.publish("devices/dev-7/telemetry", "{}", 1).await;
    assert_eq!(watcher.next().await.topic, "devices/dev-7/telemetry");
    device.subscribe("commands/#", 1).await;
    device.subscribe("commands/dev-7/+", 1).await;
    watcher.publish("commands/dev-8/reboot", "{}", 1).await;
    watcher.publish("commands/dev-7/reboot", "{}", 1).await;
    assert_eq!(device.next().await.topic, "commands/dev-7/reboot");

    device.disconnect().await;
    watcher.disconnect().await;
    gateway.stop().await;
}

#[tokio::test]
async fn jwt_passwords_without_a_jwt_verifier_are_refused_at_load() {
    let dir = crate::support::scratch_dir();
    let config = crate::support::mqtt::embedded_config("http://127.0.0.1:9", &dir, "").replace(
        "    allow_anonymous: true\n",
        "    allow_anonymous: true\n    jwt_passwords: true\n",
    );
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config).unwrap();
    let config = polygate::config::Config::from_file(&path).unwrap();
    let errors: Vec<String> = match polygate::app::build(&config).await {
        Ok(_) => panic!("jwt_passwords was accepted without policies.jwt"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(
        errors,
        vec!["mqtt: embedded.jwt_passwords verifies passwords with policies.jwt, which is not configured"]
    );
}
