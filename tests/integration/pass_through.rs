//! Issue 15 item 1: REST and plain-XML backends passed through — success statuses (201 with a
//! rewritten `Location`, 204 empty), 4xx with the backend's body (JSON as is, XML converted),
//! 5xx as 502/503/504 with a body only when it is JSON or XML, allow-listed headers.

use serde_json::json;

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::gateway;

const USERS: &str = r#"
routes:
  - post: /v1/users
    backend: users
    body: "*"
    rest: {path: /api/users}
  - get: /v1/users/{id}
    backend: users
    rest: {path: "/api/users/{id}"}
  - delete: /v1/users/{id}
    backend: users
    rest: {path: "/api/users/{id}"}
  - get: /v1/folded/{id}
    backend: users
    rest: {path: "/api/users/{id}", pass_through: false}
"#;

/// The users service: its answers chosen by the path the gateway asks for.
async fn users_service() -> HttpServer {
    HttpServer::start(|request: Recorded| async move {
        let base = "/base/api/users";
        match (request.method.as_str(), request.target.as_str()) {
            ("POST", _) if request.text().contains("\"ref\"") => {
                Answer::json(json!({"id": 43})).status(201).header("location", "https://cdn.example.com/u/43")
            }
            ("POST", _) if request.text().contains("\"relative\"") => {
                Answer::json(json!({"id": 44})).status(201).header("location", "/base/api/users/44")
            }
            ("POST", _) => Answer::json(json!({"id": 42}))
                .status(201)
                .header("location", &format!("http://{}{base}/42", request.header("host").unwrap_or_default())),
            ("DELETE", _) => Answer::new(204, "application/json", ""),
            (_, t) if t == format!("{base}/accepted") => Answer::json(json!({"job": "j1"})).status(202),
            (_, t) if t == format!("{base}/invalid") => Answer::new(
                422,
                "application/problem+json",
                r#"{"type":"about:blank","title":"Unprocessable","errors":{"email":["is taken"]}}"#,
            ),
            (_, t) if t == format!("{base}/down") => Answer::json(json!({"error": "maintenance"}))
                .status(503)
                .header("retry-after", "120"),
            (_, t) if t == format!("{base}/locked") => Answer::json(json!({"error": "token expired"}))
                .status(401)
                .header("www-authenticate", r#"Bearer realm="users", error="invalid_token""#),
            (_, t) if t == format!("{base}/crash") => Answer::new(
                500,
                "text/html",
                "<html><body><h1>500</h1><pre>NullPointerException at com.acme.Users.find(Users.java:42)</pre></body></html>",
            ),
            (_, t) if t == format!("{base}/broken") => Answer::json(json!({"error": "db"})).status(500),
            _ => Answer::json(json!({"id": 7, "name": "Ada"}))
                .header("etag", "\"v7\"")
                .header("x-total-count", "1")
                .header("x-internal-trace", "secret"),
        }
    })
    .await
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
async fn a_201_keeps_its_status_body_and_location_rewritten_into_the_front_path() {
    let upstream = users_service().await;
    let gateway = users_gateway(&upstream, "").await;
    let created = gateway
        .client
        .json("POST", "/v1/users", json!({"name": "Ada"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("location"), Some("/v1/users/42"));
    assert_eq!(created.json(), json!({"id": 42}));
    let relative = gateway
        .client
        .json("POST", "/v1/users", json!({"relative": 1}))
        .await;
    assert_eq!(relative.status, 201);
    assert_eq!(relative.header("location"), Some("/v1/users/44"));
    // A Location elsewhere passes as it is.
    let foreign = gateway
        .client
        .json("POST", "/v1/users", json!({"ref": 1}))
        .await;
    assert_eq!(
        foreign.header("location"),
        Some("https://cdn.example.com/u/43")
    );
    let accepted = gateway.client.get("/v1/users/accepted").await;
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.json(), json!({"job": "j1"}));
}

#[tokio::test]
async fn a_204_is_answered_empty() {
    let upstream = users_service().await;
    let gateway = users_gateway(&upstream, "").await;
    let deleted = gateway.client.send("DELETE", "/v1/users/7", &[], "").await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(deleted.header("content-type"), None);
    assert_eq!(upstream.last_request().method, "DELETE");
}

#[tokio::test]
async fn a_422_passes_with_the_backends_own_json_body() {
    let upstream = users_service().await;
    let gateway = users_gateway(&upstream, "").await;
    let invalid = gateway.client.get("/v1/users/invalid").await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.header("content-type"), Some("application/json"));
    assert_eq!(
        invalid.text(),
        r#"{"type":"about:blank","title":"Unprocessable","errors":{"email":["is taken"]}}"#
    );
    // With pass_through: false on the route, the canonical shape as before: 422 → 400.
    let folded = gateway.client.get("/v1/folded/invalid").await;
    assert_eq!(folded.status, 400);
    assert_eq!(folded.json()["code"], 3);
    assert_eq!(
        folded.json()["message"],
        "backend 'users' answered HTTP 422 Unprocessable Entity"
    );
}

#[tokio::test]
async fn a_503_keeps_retry_after_and_a_401_its_challenge() {
    let upstream = users_service().await;
    let gateway = users_gateway(&upstream, "").await;
    let down = gateway.client.get("/v1/users/down").await;
    assert_eq!(down.status, 503);
    assert_eq!(down.header("retry-after"), Some("120"));
    assert_eq!(down.json(), json!({"error": "maintenance"}));
    let locked = gateway.client.get("/v1/users/locked").await;
    assert_eq!(locked.status, 401);
    assert_eq!(
        locked.header("www-authenticate"),
        Some(r#"Bearer realm="users", error="invalid_token""#)
    );
    assert_eq!(locked.json(), json!({"error": "token expired"}));
}

#[tokio::test]
async fn a_500_is_a_502_with_a_json_body_only_and_never_an_html_page() {
    let upstream = users_service().await;
    let gateway = users_gateway(&upstream, "").await;
    let broken = gateway.client.get("/v1/users/broken").await;
    assert_eq!(broken.status, 502);
    assert_eq!(broken.json(), json!({"error": "db"}));
    let crash = gateway.client.get("/v1/users/crash").await;
    assert_eq!(crash.status, 502);
    let text = crash.text();
    assert!(
        !text.contains("NullPointer") && !text.contains("<html"),
        "{text}"
    );
    assert_eq!(
        crash.json()["message"],
        "backend 'users' answered HTTP 500 Internal Server Error"
    );
    // Folded, the page is not copied into the details either.
    let folded = gateway.client.get("/v1/folded/crash").await;
    assert_eq!(folded.status, 502);
    assert!(!folded.text().contains("NullPointer"), "{}", folded.text());
}

#[tokio::test]
async fn response_headers_pass_by_allow_list() {
    let upstream = users_service().await;
    let gateway = users_gateway(&upstream, "").await;
    let user = gateway.client.get("/v1/users/7").await;
    assert_eq!(user.status, 200);
    assert_eq!(user.header("etag"), Some("\"v7\""));
    assert_eq!(user.header("x-total-count"), None);
    assert_eq!(user.header("x-internal-trace"), None);
    let paging = users_gateway(&upstream, "      response_headers: [X-Total-Count]\n").await;
    let user = paging.client.get("/v1/users/7").await;
    assert_eq!(user.header("x-total-count"), Some("1"));
    assert_eq!(user.header("x-internal-trace"), None);
    // Off for the whole backend: the status and headers fold as before.
    let off = users_gateway(&upstream, "      pass_through: false\n").await;
    let created = off
        .client
        .json("POST", "/v1/users", json!({"name": "Ada"}))
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.header("location"), None);
}

const ORDERS: &str = r#"
routes:
  - get: /v1/orders/{id}
    backend: orders
    xml: {path: "/api/orders/{id}.xml"}
"#;

#[tokio::test]
async fn a_plain_xml_404_passes_with_its_xml_body_converted() {
    let upstream = HttpServer::start(|request: Recorded| async move {
        if request.target.ends_with("/html.xml") {
            return Answer::new(404, "text/html", "<h1>Not Found</h1><p>Apache/2.4 at host</p>");
        }
        Answer::new(
            404,
            "application/xml",
            r#"<?xml version="1.0"?><error><code>ORDER_UNKNOWN</code><message>no order 9</message></error>"#,
        )
    })
    .await;
    let gateway = gateway(
        &format!("  orders:\n    xml:\n      url: {}\n", upstream.url()),
        ORDERS,
    )
    .await;
    let missing = gateway.client.get("/v1/orders/9").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        json!({"code": "ORDER_UNKNOWN", "message": "no order 9"})
    );
    // An HTML 404 keeps its status, in the canonical shape, without the page.
    let html = gateway.client.get("/v1/orders/html").await;
    assert_eq!(html.status, 404);
    assert_eq!(html.json()["code"], 5);
    assert!(!html.text().contains("Apache"), "{}", html.text());
}
