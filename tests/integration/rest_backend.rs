//! Issue 5, items 5 and 6: REST/JSON backends — path template rewrite, method change, header
//! edits, pass-through or field selection, upstream errors mapped — over the shared HTTP
//! client (pooled keep-alive connections, TLS with a configured CA, HTTP/2, timeouts).

use serde_json::json;

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::{answering, gateway};
use crate::support::scratch_dir;

const USERS: &str = r#"
routes:
  - get: /v1/users/{id}
    backend: users
    rest:
      method: POST
      path: /api/users.php?uid={id}
    headers:
      add: {x-client: polygate, x-api-version: "2"}
      remove: [authorization]
  - get: /v1/users/{id}/name
    backend: users
    rest: {path: "/api/users/{id}", forward_query: false}
    response_body: data/profile/name
  - get: /v1/users/{id}/card
    backend: users
    rest: {path: "/api/users/{id}"}
    response_fields: {id: data/uid, name: data/profile/name, city: data/profile/city}
  - put: /v1/users/{id}
    backend: users
    body: "*"
    rest: {path: "/api/users/{id}"}
  - get: /v1/files/{path=**}
    backend: users
    rest: {path: "/static/{path}"}
"#;

fn user() -> serde_json::Value {
    json!({"data": {"uid": 7, "profile": {"name": "Ada", "tags": ["a"]}}})
}

async fn users_gateway(upstream: &HttpServer, extra: &str) -> crate::support::Gateway {
    gateway(
        &format!(
            "  users:\n    rest:\n      url: {}/base\n{extra}",
            upstream.url()
        ),
        USERS,
    )
    .await
}

#[tokio::test]
async fn paths_methods_and_headers_are_rewritten_and_json_passes_through() {
    let upstream = answering(Answer::json(user())).await;
    let gateway = users_gateway(&upstream, "").await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/users/a%20b?verbose=1",
            &[
                ("authorization", "Bearer secret"),
                ("x-request-id", "r-1"),
                ("x-api-version", "1"),
            ],
            "",
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.text(), user().to_string());
    let received = upstream.last_request();
    assert_eq!(received.method, "POST");
    assert_eq!(received.target, "/base/api/users.php?uid=a%20b&verbose=1");
    assert_eq!(received.header("authorization"), None);
    assert_eq!(received.header("x-request-id"), Some("r-1"));
    assert_eq!(received.header("x-client"), Some("polygate"));
    assert_eq!(received.header("x-api-version"), Some("2"));
    assert_eq!(received.header("accept-encoding"), Some("identity"));
    assert!(received.body.is_empty());
    let file = gateway.client.get("/v1/files/docs/a%2Fb/readme.txt").await;
    assert_eq!(file.status, 200);
    assert_eq!(
        upstream.last_request().target,
        "/base/static/docs/a%2Fb/readme.txt"
    );
}

#[tokio::test]
async fn bodies_are_forwarded_and_other_media_types_keep_their_type() {
    let upstream = HttpServer::start(|request: Recorded| async move {
        match request.method.as_str() {
            "PUT" => Answer::new(200, "text/csv", "id,name\n7,Ada\n"),
            _ => Answer::new(204, "application/json", ""),
        }
    })
    .await;
    let gateway = users_gateway(&upstream, "").await;
    let response = gateway
        .client
        .json("PUT", "/v1/users/7", json!({"name": "Ada"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/csv"));
    assert_eq!(response.text(), "id,name\n7,Ada\n");
    let received = upstream.last_request();
    assert_eq!(received.target, "/base/api/users/7");
    assert_eq!(received.header("content-type"), Some("application/json"));
    assert_eq!(received.text(), r#"{"name":"Ada"}"#);
    // The backend's 204 passes through, empty (issue 15).
    let empty = gateway.client.get("/v1/users/7/name").await;
    assert_eq!(empty.status, 204);
    assert!(empty.body.is_empty());
    let refused = gateway.client.json("GET", "/v1/users/7", json!({})).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["message"],
        "GET /v1/users/{id} takes no request body"
    );
}

#[tokio::test]
async fn answers_are_selected_by_path_or_by_fields() {
    let upstream = answering(Answer::json(user())).await;
    let gateway = users_gateway(&upstream, "").await;
    assert_eq!(
        gateway.client.get("/v1/users/7/name?x=1").await.json(),
        json!("Ada")
    );
    assert_eq!(upstream.last_request().target, "/base/api/users/7");
    assert_eq!(
        gateway.client.get("/v1/users/7/card").await.json(),
        json!({"id": 7, "name": "Ada"})
    );
}

#[tokio::test]
async fn upstream_errors_are_canonical_errors_with_the_answer_in_details_when_not_passed_through() {
    let upstream = HttpServer::start(|request: Recorded| async move {
        match request.target.as_str() {
            "/base/api/users.php?uid=404" => {
                Answer::new(404, "application/json", r#"{"error":"no such user"}"#)
            }
            "/base/api/users.php?uid=401" => {
                Answer::new(401, "application/json", r#"{"error":"token expired"}"#)
            }
            "/base/api/users.php?uid=429" => Answer::new(429, "text/plain", "slow down"),
            _ => Answer::new(502, "text/html", "<h1>bad gateway</h1>"),
        }
    })
    .await;
    let gateway = users_gateway(&upstream, "      pass_through: false\n").await;
    let error_info = json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "UPSTREAM_HTTP_ERROR", "domain": "polygate"});
    for (id, status, code, message, body) in [
        (
            "404",
            404,
            5,
            "backend 'users' answered HTTP 404 Not Found",
            json!({"error": "no such user"}),
        ),
        (
            "401",
            401,
            16,
            "backend 'users' answered HTTP 401 Unauthorized",
            json!({"error": "token expired"}),
        ),
        (
            "429",
            429,
            8,
            "backend 'users' answered HTTP 429 Too Many Requests",
            json!(null),
        ),
        (
            "500",
            502,
            2,
            "backend 'users' answered HTTP 502 Bad Gateway",
            // Only JSON bodies are copied: an error page never reaches the client (issue 15).
            json!(null),
        ),
    ] {
        let response = gateway.client.get(&format!("/v1/users/{id}")).await;
        assert_eq!(response.status, status, "{id}");
        let upstream_status = if id == "500" {
            502
        } else {
            id.parse::<u16>().unwrap()
        };
        let mut detail = json!({"@type": "type.polygate.dev/polygate.v1.UpstreamResponse", "status": upstream_status});
        if !body.is_null() {
            detail["body"] = body;
        }
        assert_eq!(
            response.json(),
            json!({"code": code, "message": message, "details": [error_info, detail]}),
            "{id}"
        );
    }
}

#[tokio::test]
async fn unreachable_slow_and_oversized_upstreams_have_clear_errors() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let slow = answering(Answer::hang()).await;
    let big = answering(Answer::json(json!({"blob": "x".repeat(4096)}))).await;
    let backends = format!(
        "  gone:\n    rest:\n      url: http://127.0.0.1:{closed_port}\n  slow:\n    rest:\n      url: {}\n      request_timeout: 200ms\n  big:\n    rest:\n      url: {}\n      max_response_size: 1KiB\n",
        slow.url(),
        big.url()
    );
    let mapping = "routes:\n  - get: /v1/gone\n    backend: gone\n    rest: {path: /}\n  - get: /v1/slow\n    backend: slow\n    rest: {path: /}\n  - get: /v1/big\n    backend: big\n    rest: {path: /}\n";
    let gateway = gateway(&backends, mapping).await;
    let gone = gateway.client.get("/v1/gone").await;
    assert_eq!(gone.status, 503);
    assert_eq!(gone.json()["code"], 14);
    let message = gone.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("backend 'gone': cannot connect: "),
        "{message}"
    );
    let slow_response = gateway.client.get("/v1/slow").await;
    assert_eq!(slow_response.status, 504);
    assert_eq!(
        slow_response.json(),
        json!({"code": 4, "message": "the backend did not answer within 200ms", "details": []})
    );
    let big_response = gateway.client.get("/v1/big").await;
    assert_eq!(big_response.status, 502);
    assert_eq!(
        big_response.json()["message"],
        "backend 'big': the answer exceeds max_response_size (1024 bytes): Content-Length is 4107"
    );
}

#[tokio::test]
async fn connections_are_pooled_and_kept_alive() {
    let upstream = answering(Answer::json(user())).await;
    let gateway = users_gateway(&upstream, "").await;
    for _ in 0..5 {
        assert_eq!(gateway.client.get("/v1/users/7/card").await.status, 200);
    }
    assert_eq!(upstream.requests().len(), 5);
    assert_eq!(upstream.connections_accepted(), 1);
    assert!(upstream
        .requests()
        .iter()
        .all(|r| r.version == http::Version::HTTP_11));
}

#[tokio::test]
async fn http2_is_used_by_prior_knowledge_or_by_alpn_over_tls_with_a_configured_ca() {
    let h2c = answering(Answer::json(user())).await;
    let gateway = users_gateway(&h2c, "      http2: true\n").await;
    assert_eq!(
        gateway.client.get("/v1/users/7/name").await.json(),
        json!("Ada")
    );
    assert_eq!(h2c.last_request().version, http::Version::HTTP_2);

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "polygate test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let tls = HttpServer::start_tls(
        &server_cert.pem(),
        &server_key.serialize_pem(),
        |_r: Recorded| async { Answer::json(user()) },
    )
    .await;
    let dir = scratch_dir();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let trusted = users_gateway(
        &tls,
        &format!("      ca_file: {}\n", dir.join("ca.pem").display()),
    )
    .await;
    let response = trusted.client.get("/v1/users/7/name").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), json!("Ada"));
    assert_eq!(tls.last_request().version, http::Version::HTTP_2);

    let untrusted = users_gateway(&tls, "").await;
    let response = untrusted.client.get("/v1/users/7/name").await;
    assert_eq!(response.status, 503);
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("backend 'users': cannot connect: "),
        "{message}"
    );
    assert!(message.contains("certificate"), "{message}");
    assert_eq!(tls.requests().len(), 1);
}
