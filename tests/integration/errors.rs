//! Item 5: gRPC codes become HTTP statuses as grpc-gateway maps them, with the canonical JSON
//! body; the gateway's own errors use the same shape.

use prost::Message as _;
use serde_json::json;
use tonic::{Code, Status};

use crate::support::grpc_server::status_with_details;
use crate::support::{test_backend, Gateway, Reply};

fn failing_backend() -> crate::support::GrpcServerBuilder {
    test_backend().handle("polygate.test.v1.Testing/Fail", |call| async move {
        let code = call
            .message()
            .get_field_by_name("int32_value")
            .and_then(|v| v.as_i32())
            .unwrap_or(0);
        if code == 0 {
            return Ok(Reply::one(call.message().clone()));
        }
        Err(Status::new(Code::from_i32(code), format!("failure {code}")))
    })
}

#[tokio::test]
async fn every_grpc_code_maps_to_its_http_status_with_the_canonical_body() {
    let backend = failing_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let table = [
        (0, 200),
        (1, 499),
        (2, 500),
        (3, 400),
        (4, 504),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (11, 400),
        (12, 501),
        (13, 500),
        (14, 503),
        (15, 500),
        (16, 401),
    ];
    for (code, http) in table {
        let response = gateway.client.get(&format!("/v1/fail/{code}")).await;
        assert_eq!(response.status.as_u16(), http, "code {code}");
        if code == 0 {
            assert_eq!(response.json(), json!({}));
        } else {
            assert_eq!(response.header("content-type"), Some("application/json"));
            assert_eq!(
                response.json(),
                json!({"code": code, "message": format!("failure {code}"), "details": []})
            );
        }
    }
}

#[tokio::test]
async fn unauthenticated_answers_carry_www_authenticate() {
    let backend = failing_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/fail/16").await;
    assert_eq!(response.status, 401);
    assert_eq!(response.header("www-authenticate"), Some("failure 16"));
}

#[derive(Clone, PartialEq, prost::Message)]
struct DebugInfo {
    #[prost(string, repeated, tag = "1")]
    stack_entries: Vec<String>,
    #[prost(string, tag = "2")]
    detail: String,
}

#[tokio::test]
async fn status_details_become_json_with_their_type_and_unknown_ones_keep_their_bytes() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Fail", |_| async move {
            let debug = DebugInfo {
                stack_entries: vec!["foo:1".into()],
                detail: "error debug details".into(),
            };
            Err(status_with_details(
                Code::FailedPrecondition,
                "not ready".into(),
                &[
                    ("google.rpc.DebugInfo", debug.encode_to_vec()),
                    ("acme.Unknown", vec![1, 2, 3]),
                ],
            ))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/fail/9").await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({
            "code": 9,
            "message": "not ready",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.DebugInfo", "stackEntries": ["foo:1"], "detail": "error debug details"},
                {"@type": "type.googleapis.com/acme.Unknown", "value": "AQID"}
            ]
        })
    );
}

#[tokio::test]
async fn malformed_json_is_400_and_the_next_request_is_served() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    for body in [
        "{\"name\": ",
        "INVALID",
        "{\"name\":\"a\"}EXTRA",
        "{\"int32Value\": \"x\"}",
        "[1,2]",
    ] {
        let response = gateway
            .client
            .send(
                "POST",
                "/v1/echo",
                &[("content-type", "application/json")],
                body,
            )
            .await;
        assert_eq!(response.status, 400, "{body}");
        let json = response.json();
        assert_eq!(json["code"], 3, "{body}");
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid JSON body: "),
            "{body}: {json}"
        );
    }
    let invalid_utf8 = gateway
        .client
        .send(
            "POST",
            "/v1/echo",
            &[("content-type", "application/json")],
            &b"{\"name\":\"\xc3\x28\"}"[..],
        )
        .await;
    assert_eq!(invalid_utf8.status, 400);
    assert!(backend.calls().is_empty());
    assert_eq!(
        gateway
            .client
            .json("POST", "/v1/echo", json!({"name": "ok"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let backend = test_backend().start().await;
    let config = crate::support::test_config(&backend.url(), "").replace(
        "listen: 127.0.0.1:0",
        "listen: 127.0.0.1:0\n  max_body_size: 1KiB",
    );
    let gateway = Gateway::start(&config, &[]).await;
    let big = json!({"name": "x".repeat(2000)});
    let response = gateway.client.json("POST", "/v1/echo", big).await;
    assert_eq!(response.status, 413);
    assert_eq!(
        response.json(),
        json!({"code": 8, "message": "the request body exceeds the limit of 1024 bytes", "details": []})
    );
    assert!(backend.calls().is_empty());
    assert_eq!(
        gateway
            .client
            .json("POST", "/v1/echo", json!({"name": "small"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send(
            "POST",
            "/v1/echo",
            &[("content-type", "text/plain")],
            "name=x",
        )
        .await;
    assert_eq!(response.status, 415);
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "POST /v1/echo takes a JSON body (Content-Type: application/json)", "details": []})
    );
}

#[tokio::test]
async fn a_dead_backend_is_503_and_serving_resumes_when_it_returns() {
    let backend = test_backend().start().await;
    let addr = backend.addr;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    assert_eq!(gateway.client.get("/v1/echo/before").await.status, 200);
    backend.stop().await;
    let response = gateway.client.get("/v1/echo/during").await;
    assert_eq!(response.status, 503);
    let json = response.json();
    assert_eq!(json["code"], 14);
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .starts_with("backend 'test' is unreachable: "),
        "{json}"
    );
    let backend = test_backend()
        .start_on(&addr.to_string())
        .await
        .expect("the port is free again");
    let response = gateway.client.get("/v1/echo/after").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"name": "after"}));
    assert_eq!(backend.calls().len(), 1);
}

#[tokio::test]
async fn a_slow_backend_is_504_after_the_client_deadline_or_the_route_timeout() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Slow", |_| async move {
            std::future::pending::<()>().await;
            unreachable!()
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "routes:\n  timeout: 300ms\n").await;
    let response = gateway
        .client
        .send("GET", "/v1/slow", &[("grpc-timeout", "50m")], "")
        .await;
    assert_eq!(response.status, 504);
    assert_eq!(
        response.json(),
        json!({"code": 4, "message": "the backend did not answer within 50ms", "details": []})
    );
    let response = gateway.client.get("/v1/slow").await;
    assert_eq!(response.status, 504);
    assert_eq!(
        response.json()["message"],
        "the backend did not answer within 300ms"
    );
    assert_eq!(
        gateway.client.get("/v1/echo/still-serving").await.status,
        200
    );
}

#[tokio::test]
async fn an_invalid_grpc_timeout_is_400() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send("GET", "/v1/echo/x", &[("grpc-timeout", "INVALID")], "")
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "invalid Grpc-Timeout header; use gRPC's syntax, e.g. 500m or 2S", "details": []})
    );
}

#[tokio::test]
async fn an_answer_over_the_backend_message_limit_is_500() {
    let backend = test_backend().start().await;
    let config = crate::support::test_config(&backend.url(), "")
        .replace("      schema:", "      max_message_size: 64\n      schema:");
    let gateway = Gateway::start(&config, &[]).await;
    assert_eq!(gateway.client.get("/v1/echo/short").await.status, 200);
    let response = gateway
        .client
        .get(&format!("/v1/echo/{}", "x".repeat(100)))
        .await;
    assert_eq!(response.status, 500);
    assert_eq!(
        response.json(),
        json!({"code": 13, "message": "the backend's answer of 102 bytes exceeds the limit of 64 bytes", "details": []})
    );
}
