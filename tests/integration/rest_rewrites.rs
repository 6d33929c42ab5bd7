//! Issue 15 item 3: declarative REST rewrites — query parameters renamed, added (static or
//! from a path variable) and dropped; static values and path variables set into the JSON body;
//! request headers set and removed — each seen exactly by the backend.

use serde_json::json;

use crate::support::http_server::Answer;
use crate::support::legacy::{answering, gateway};

const REWRITES: &str = r#"
routes:
  - get: /v1/users/{id}/orders
    backend: users
    rest:
      path: /api/orders
      query:
        rename: {pageSize: limit}
        add: {uid: "{id}", format: json}
        drop: [debug]
    headers:
      add: {x-api-key: k-1}
      remove: [x-request-id]
  - post: /v1/users/{id}/notes
    backend: users
    body: "*"
    rest:
      path: /api/notes
      set_body:
        user.id: "{id}"
        source: polygate
        urgent: true
        priority: 2
  - delete: /v1/users/{id}/notes/{note}
    backend: users
    rest:
      method: POST
      path: /api/notes/delete
      forward_query: false
      set_body: {note: "{note}", owner: "user-{id}"}
"#;

#[tokio::test]
async fn query_parameters_are_renamed_added_and_dropped() {
    let upstream = answering(Answer::json(json!([]))).await;
    let gateway = gateway(
        &format!("  users:\n    rest:\n      url: {}/base\n", upstream.url()),
        REWRITES,
    )
    .await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/users/a%20b/orders?pageSize=10&debug=1&sort=asc",
            &[("x-request-id", "r-1")],
            "",
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let received = upstream.last_request();
    assert_eq!(
        received.target,
        "/base/api/orders?limit=10&sort=asc&format=json&uid=a%20b"
    );
    assert_eq!(received.header("x-api-key"), Some("k-1"));
    assert_eq!(received.header("x-request-id"), None);
    // No client query at all: only the added parameters.
    gateway.client.get("/v1/users/7/orders").await;
    assert_eq!(
        upstream.last_request().target,
        "/base/api/orders?format=json&uid=7"
    );
}

#[tokio::test]
async fn path_variables_and_static_values_go_into_the_json_body() {
    let upstream = answering(Answer::json(json!({"ok": true}))).await;
    let gateway = gateway(
        &format!("  users:\n    rest:\n      url: {}/base\n", upstream.url()),
        REWRITES,
    )
    .await;
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/users/7/notes",
            json!({"text": "hi", "user": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let received = upstream.last_request();
    assert_eq!(received.target, "/base/api/notes");
    assert_eq!(received.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(
        body,
        json!({"text": "hi", "user": {"name": "Ada", "id": "7"}, "source": "polygate", "urgent": true, "priority": 2})
    );
    // A route without a client body sends the members alone, under another method.
    let response = gateway
        .client
        .send("DELETE", "/v1/users/7/notes/n9?x=1", &[], "")
        .await;
    assert_eq!(response.status, 200);
    let received = upstream.last_request();
    assert_eq!(received.method, "POST");
    assert_eq!(received.target, "/base/api/notes/delete");
    assert_eq!(received.text(), r#"{"note":"n9","owner":"user-7"}"#);
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test]
async fn a_body_that_cannot_take_the_members_is_refused_before_the_backend_is_called() {
    let upstream = answering(Answer::json(json!({"ok": true}))).await;
    let gateway = gateway(
        &format!("  users:\n    rest:\n      url: {}/base\n", upstream.url()),
        REWRITES,
    )
    .await;
    let array = gateway
        .client
        .json("POST", "/v1/users/7/notes", json!(["hi"]))
        .await;
    assert_eq!(array.status, 400);
    assert_eq!(
        array.json()["message"],
        "POST /v1/users/{id}/notes sets members of the body, so the body must be a JSON object"
    );
    let clash = gateway
        .client
        .json("POST", "/v1/users/7/notes", json!({"user": "Ada"}))
        .await;
    assert_eq!(clash.status, 400);
    assert_eq!(
        clash.json()["message"],
        "body member 'user' is not an object, so 'user.id' cannot be set inside it"
    );
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_rewrite_naming_an_unknown_variable_is_a_load_error() {
    let dir = crate::support::scratch_dir();
    std::fs::write(
        dir.join("legacy.yaml"),
        "routes:\n  - get: /v1/users/{id}\n    backend: users\n    rest:\n      path: /api/users\n      set_body: {uid: \"{user_id}\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("polygate.yaml"),
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  users:\n    rest:\n      url: http://127.0.0.1:9\nmappings: [legacy.yaml]\n",
    )
    .unwrap();
    let config = polygate::config::Config::from_file(&dir.join("polygate.yaml")).unwrap();
    let errors = match polygate::app::build(&config).await {
        Ok(_) => panic!("the config was accepted"),
        Err(errors) => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    };
    assert!(
        errors.contains("set_body.uid '{user_id}': {user_id} is not a variable of the route's path /v1/users/{id}"),
        "{errors}"
    );
}
