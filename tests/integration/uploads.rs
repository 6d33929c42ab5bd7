//! Issue 10, item 3: large client-streamed (NDJSON) uploads go through on a warmed backend
//! connection every time, and a client stream's total size, message count and pace are bounded.

use serde_json::json;

use crate::support::{message, test_backend, Gateway, GrpcServer, Reply};

/// A backend whose `Collect` answers how many messages arrived and the sum of their numbers.
async fn counting_backend() -> GrpcServer {
    test_backend()
        .handle("polygate.test.v1.Testing/Collect", |call| async move {
            let sum: i64 = call
                .messages
                .iter()
                .map(|m| {
                    m.get_field_by_name("int64_value")
                        .and_then(|v| v.as_i64())
                        .unwrap_or(0)
                })
                .sum();
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"int32Value": call.messages.len(), "int64Value": sum.to_string()}),
            )))
        })
        .start()
        .await
}

fn ndjson(lines: usize) -> String {
    let mut body = String::with_capacity(lines * 40);
    for i in 0..lines {
        body.push_str(&format!(
            "{{\"name\":\"item-{i}\",\"int64Value\":\"{i}\"}}\n"
        ));
    }
    body
}

async fn import(gateway: &Gateway, lines: usize) {
    let response = gateway
        .client
        .send(
            "POST",
            "/v1/collect/import",
            &[("content-type", "application/x-ndjson")],
            ndjson(lines),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let sum = (lines as i64 - 1) * lines as i64 / 2;
    assert_eq!(
        response.json(),
        json!({"int32Value": lines, "int64Value": sum.to_string()})
    );
}

#[tokio::test]
async fn large_ndjson_imports_succeed_repeatedly_on_one_warmed_connection() {
    let backend = counting_backend().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    assert_eq!(gateway.client.get("/v1/echo/warm").await.status, 200);
    for _ in 0..3 {
        import(&gateway, 20_000).await;
    }
    for _ in 0..2 {
        import(&gateway, 200_000).await;
    }
    assert_eq!(backend.connections_accepted(), 1);
}

#[tokio::test]
async fn a_client_stream_over_its_message_or_byte_cap_is_413() {
    let backend = counting_backend().await;
    let config = crate::support::test_config(&backend.url(), "").replace(
        "http:\n  listen: 127.0.0.1:0\n",
        "http:\n  listen: 127.0.0.1:0\n  max_stream_messages: 100\n  max_stream_size: 64KiB\n",
    );
    let gateway = Gateway::start(&config, &[]).await;
    let over = |lines| {
        gateway.client.send(
            "POST",
            "/v1/collect/import",
            &[("content-type", "application/x-ndjson")],
            ndjson(lines),
        )
    };
    let response = over(101).await;
    assert_eq!(response.status, 413);
    assert_eq!(
        response.json(),
        json!({"code": 8, "message": "the request stream exceeds the limit of 100 messages", "details": []})
    );
    let large = "x".repeat(1000);
    let body: String = (0..70)
        .map(|i| format!("{{\"name\":\"{large}\",\"int64Value\":\"{i}\"}}\n"))
        .collect();
    let response = gateway
        .client
        .send(
            "POST",
            "/v1/collect/import",
            &[("content-type", "application/x-ndjson")],
            body,
        )
        .await;
    assert_eq!(response.status, 413);
    assert_eq!(
        response.json(),
        json!({"code": 8, "message": "the request stream exceeds the limit of 65536 bytes", "details": []})
    );
    import(&gateway, 100).await;
}
