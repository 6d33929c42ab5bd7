//! Item 6: headers to metadata and back, forwarding headers, deadlines.

use serde_json::json;
use tonic::metadata::MetadataValue;

use crate::support::{test_backend, Gateway, Reply};

#[tokio::test]
async fn allowlisted_and_grpc_metadata_headers_are_forwarded_and_others_are_not() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/echo/m",
            &[
                ("authorization", "Bearer t0k"),
                ("grpc-metadata-tenant", "acme"),
                ("grpc-metadata-trace-bin", "AAEC"),
                ("grpc-metadata-location", "Gj\u{f8}vik"),
                ("cookie", "secret=1"),
                ("x-forwarded-for", "203.0.113.9"),
                ("user-agent", "test-client/1"),
            ],
            "",
        )
        .await;
    assert_eq!(response.status, 200);
    let metadata = backend.last_call().metadata;
    assert_eq!(metadata.get("authorization").unwrap(), "Bearer t0k");
    assert_eq!(metadata.get("tenant").unwrap(), "acme");
    assert_eq!(
        metadata
            .get_bin("trace-bin")
            .unwrap()
            .to_bytes()
            .unwrap()
            .as_ref(),
        &[0, 1, 2]
    );
    assert!(
        metadata.get("location").is_none(),
        "non-ASCII values are skipped"
    );
    assert!(metadata.get("cookie").is_none());
    assert_eq!(
        metadata.get("x-forwarded-for").unwrap(),
        "203.0.113.9, 127.0.0.1"
    );
    assert_eq!(
        metadata.get("x-forwarded-host").unwrap(),
        gateway.client.base().trim_start_matches("http://")
    );
    assert_eq!(metadata.get("x-forwarded-proto").unwrap(), "http");
    assert!(metadata
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("polygate/"));
}

#[tokio::test]
async fn a_bad_binary_metadata_header_is_400() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/echo/m",
            &[("grpc-metadata-trace-bin", "not base64!")],
            "",
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "header grpc-metadata-trace-bin must be base64, as its -Bin suffix says", "details": []})
    );
}

#[tokio::test]
async fn the_configured_allowlist_replaces_the_default() {
    let backend = test_backend().start().await;
    let config = crate::support::test_config(&backend.url(), "").replace(
        "listen: 127.0.0.1:0",
        "listen: 127.0.0.1:0\n  forward_headers: [x-tenant]",
    );
    let gateway = Gateway::start(&config, &[]).await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/echo/m",
            &[("x-tenant", "t1"), ("authorization", "Bearer x")],
            "",
        )
        .await;
    assert_eq!(response.status, 200);
    let metadata = backend.last_call().metadata;
    assert_eq!(metadata.get("x-tenant").unwrap(), "t1");
    assert!(metadata.get("authorization").is_none());
}

#[tokio::test]
async fn the_deadline_reaches_the_backend_as_grpc_timeout() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "routes:\n  timeout: 2s\n").await;
    gateway
        .client
        .send("GET", "/v1/echo/t", &[("grpc-timeout", "1500m")], "")
        .await;
    let sent = backend
        .last_call()
        .metadata
        .get("grpc-timeout")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(sent, "1500000u");
    gateway.client.get("/v1/echo/t").await;
    let sent = backend
        .last_call()
        .metadata
        .get("grpc-timeout")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(sent, "2000000u");
    // A client cannot stretch the route's timeout.
    gateway
        .client
        .send("GET", "/v1/echo/t", &[("grpc-timeout", "1H")], "")
        .await;
    let sent = backend
        .last_call()
        .metadata
        .get("grpc-timeout")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(sent, "2000000u");
}

#[tokio::test]
async fn response_metadata_comes_back_as_grpc_metadata_headers() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Echo", |call| async move {
            let mut reply = Reply::one(call.message().clone());
            reply
                .metadata
                .insert("uuid", MetadataValue::from_static("u-1"));
            reply
                .metadata
                .insert("x-served-by", MetadataValue::from_static("backend-a"));
            Ok(reply)
        })
        .handle("polygate.test.v1.Testing/Fail", |_| async move {
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert("uuid", MetadataValue::from_static("u-2"));
            Err(tonic::Status::with_metadata(
                tonic::Code::NotFound,
                "not found",
                metadata,
            ))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/echo/h").await;
    assert_eq!(response.header("grpc-metadata-uuid"), Some("u-1"));
    assert_eq!(
        response.header("grpc-metadata-x-served-by"),
        Some("backend-a")
    );
    assert_eq!(response.header("grpc-metadata-content-type"), None);
    let response = gateway.client.get("/v1/fail/5").await;
    assert_eq!(response.status, 404);
    assert_eq!(response.header("grpc-metadata-uuid"), Some("u-2"));
    assert_eq!(
        response.json(),
        json!({"code": 5, "message": "not found", "details": []})
    );
}

#[tokio::test]
async fn trailers_of_a_unary_answer_come_back_as_grpc_trailer_headers() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Echo", |call| async move {
            let mut reply = Reply::one(call.message().clone());
            reply
                .trailers
                .insert("checksum", MetadataValue::from_static("abc123"));
            Ok(reply)
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/echo/t").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("grpc-trailer-checksum"), Some("abc123"));
    assert_eq!(response.json(), json!({"name": "t"}));
}
