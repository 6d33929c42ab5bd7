//! Item 7: server streams as NDJSON or Server-Sent Events, errors in and before the stream,
//! and client streams from NDJSON bodies.

use serde_json::json;
use tonic::{Code, Status};

use crate::support::{message, numbered, request_names, test_backend, to_json, Gateway, Reply};

#[tokio::test]
async fn a_server_stream_is_ndjson_by_default() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Ok(Reply::stream(numbered(3), None))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/list/all").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    assert_eq!(
        response.text(),
        "{\"name\":\"m1\",\"int32Value\":1}\n{\"name\":\"m2\",\"int32Value\":2}\n{\"name\":\"m3\",\"int32Value\":3}\n"
    );
}

#[tokio::test]
async fn a_server_stream_is_server_sent_events_when_asked() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Ok(Reply::stream(numbered(2), None))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/list/all",
            &[("accept", "text/event-stream")],
            "",
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert_eq!(
        response.text(),
        "data: {\"name\":\"m1\",\"int32Value\":1}\n\ndata: {\"name\":\"m2\",\"int32Value\":2}\n\n"
    );
}

#[tokio::test]
async fn an_error_after_the_first_message_ends_the_stream_with_an_error_object() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Ok(Reply::stream(
                numbered(2),
                Some(Status::new(Code::Aborted, "lost the lock")),
            ))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/list/all").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json_lines(),
        vec![
            json!({"name": "m1", "int32Value": 1}),
            json!({"name": "m2", "int32Value": 2}),
            json!({"error": {"code": 10, "message": "lost the lock", "details": []}}),
        ]
    );
    let events = gateway
        .client
        .send(
            "GET",
            "/v1/list/all",
            &[("accept", "text/event-stream")],
            "",
        )
        .await;
    assert!(
        events.text().ends_with(
            "event: error\ndata: {\"code\":10,\"message\":\"lost the lock\",\"details\":[]}\n\n"
        ),
        "{}",
        events.text()
    );
}

#[tokio::test]
async fn an_error_before_any_message_is_a_plain_error_answer() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Err(Status::new(Code::NotFound, "no such list"))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/list/none").await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.json(),
        json!({"code": 5, "message": "no such list", "details": []})
    );
}

#[tokio::test]
async fn an_empty_stream_is_an_empty_ndjson_body() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Ok(Reply::stream(vec![], None))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/list/empty").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    assert_eq!(response.text(), "");
}

#[tokio::test]
async fn a_client_stream_takes_an_ndjson_body_with_the_path_bound_into_every_message() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Collect", |call| async move {
            let names = request_names(&call);
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"tags": names, "int32Value": call.messages.len()}),
            )))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let body = "{\"name\":\"a\"}\n\n{\"name\":\"b\",\"int64Value\":2}\n{\"name\":\"c\"}";
    let response = gateway
        .client
        .send(
            "POST",
            "/v1/collect/p1",
            &[("content-type", "application/x-ndjson")],
            body,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"tags": ["a", "b", "c"], "int32Value": 3})
    );
    let received: Vec<_> = backend.last_call().messages.iter().map(to_json).collect();
    assert_eq!(
        received,
        vec![
            json!({"name": "a", "parent": "p1"}),
            json!({"name": "b", "int64Value": "2", "parent": "p1"}),
            json!({"name": "c", "parent": "p1"}),
        ]
    );
}

#[tokio::test]
async fn a_client_stream_also_takes_a_json_array() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Collect", |call| async move {
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"int32Value": call.messages.len()}),
            )))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/collect/p",
            json!([{"name": "x"}, {"name": "y"}]),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"int32Value": 2}));
}

#[tokio::test]
async fn a_bad_line_in_a_client_stream_is_400_and_the_backend_sees_no_half_call_succeed() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Collect", |call| async move {
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"int32Value": call.messages.len()}),
            )))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let body = "{\"name\":\"a\"}\n{\"name\": oops}\n";
    let response = gateway
        .client
        .send(
            "POST",
            "/v1/collect/p",
            &[("content-type", "application/x-ndjson")],
            body,
        )
        .await;
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid JSON body: "));
    assert_eq!(gateway.client.get("/v1/echo/next").await.status, 200);
}

#[tokio::test]
async fn a_stream_of_http_bodies_is_their_bytes_concatenated() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/DownloadChunks", |_| async move {
            let chunks = ["SGVsbG8gMQ==", "SGVsbG8gMg=="]
                .iter()
                .map(|data| {
                    message(
                        "google.api.HttpBody",
                        json!({"contentType": "text/plain", "data": data}),
                    )
                })
                .collect();
            Ok(Reply::stream(chunks, None))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/chunks/raw").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.text(), "Hello 1Hello 2");
}
