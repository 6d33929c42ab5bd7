//! Issue 12, item 3: the WebSocket frontend's limits and lifecycle — size limit (1009),
//! Origin allow-list (403 before the upgrade), subprotocol (4406), the graphql-ws lifecycle
//! codes, the idle timeout, shutdown (1001 after the grace period) and its own listener.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::support::live::endless;
use crate::support::ws_client::{Closed, WsClient};
use crate::support::{test_backend, Gateway};

#[tokio::test]
async fn an_oversized_message_closes_the_socket_with_1009() {
    let backend = test_backend().start().await;
    let gateway =
        Gateway::for_test_backend(&backend, "websocket:\n  max_message_size: 1KiB\n").await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    ws.send(json!({"type": "ping", "payload": "x".repeat(900)}))
        .await;
    assert_eq!(ws.next().await["type"], "pong");
    ws.send(json!({"type": "ping", "payload": "x".repeat(2000)}))
        .await;
    assert_eq!(
        ws.closed().await,
        Closed {
            code: 1009,
            reason: "message larger than 1024 bytes".into()
        }
    );
    gateway.stop().await;
}

#[tokio::test]
async fn origins_not_allowed_are_refused_with_403_before_the_upgrade() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(
        &backend,
        "websocket:\n  allowed_origins: [\"https://app.example\"]\n",
    )
    .await;
    let addr = gateway.addr("http");
    let refused = WsClient::open(
        addr,
        "/ws",
        &[
            ("sec-websocket-protocol", "polygate.v1"),
            ("origin", "https://evil.example"),
        ],
    )
    .await
    .err()
    .expect("refused");
    let WsError::Http(response) = refused else {
        panic!("an HTTP answer, not {refused:?}")
    };
    assert_eq!(response.status(), 403);
    let body: serde_json::Value =
        serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
    assert_eq!(
        body,
        json!({"code": 7, "message": "origin 'https://evil.example' may not open WebSockets here (websocket.allowed_origins)", "details": []})
    );
    for origin in ["https://app.example", &format!("http://{addr}")] {
        let mut ws = WsClient::open(
            addr,
            "/ws",
            &[
                ("sec-websocket-protocol", "polygate.v1"),
                ("origin", origin),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{origin} is allowed: {e}"));
        ws.send(json!({"type": "init"})).await;
        assert_eq!(ws.next().await, json!({"type": "init_ack"}));
    }
    gateway.stop().await;
}

#[tokio::test]
async fn the_lifecycle_is_enforced_with_graphql_ws_close_codes() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "websocket:\n  init_timeout: 200ms\n").await;
    let addr = gateway.addr("http");
    let envelope = [("sec-websocket-protocol", "polygate.v1")];

    let mut ws = WsClient::open(addr, "/ws", &[]).await.unwrap();
    assert_eq!(ws.closed().await.code, 4406);

    let mut ws = WsClient::open(addr, "/ws", &envelope).await.unwrap();
    ws.send(json!({"type": "call", "id": "1", "rpc": "polygate.test.v1.Testing/Echo"}))
        .await;
    assert_eq!(
        ws.closed().await,
        Closed {
            code: 4401,
            reason: "Unauthorized: send init first".into()
        }
    );

    let mut ws = WsClient::envelope(addr).await;
    ws.send(json!({"type": "init"})).await;
    assert_eq!(ws.closed().await.code, 4429);

    let mut ws = WsClient::open(addr, "/ws", &envelope).await.unwrap();
    assert_eq!(
        ws.closed().await,
        Closed {
            code: 4408,
            reason: "Connection initialisation timeout".into()
        }
    );

    let mut ws = WsClient::envelope(addr).await;
    ws.send_binary(b"\x00\x01").await;
    assert_eq!(ws.closed().await.code, 1003);
    gateway.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_1001() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "websocket:\n  idle_timeout: 300ms\n").await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    assert_eq!(
        ws.closed().await,
        Closed {
            code: 1001,
            reason: "idle".into()
        }
    );
    gateway.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_sockets_and_ends_calls_after_the_grace_period() {
    let backend = test_backend()
        .handle_live("polygate.test.v1.Testing/List", |call| {
            endless(call, Arc::new(Notify::new()))
        })
        .start()
        .await;
    let gateway =
        Gateway::for_test_backend(&backend, "websocket:\n  shutdown_grace: 200ms\n").await;
    let addr = gateway.addr("http");
    let mut idle = WsClient::envelope(addr).await;
    let mut busy = WsClient::envelope(addr).await;
    busy.send(
        json!({"type": "call", "id": "s", "method": "GET", "path": "/v1/list/x", "credit": 1}),
    )
    .await;
    assert_eq!(busy.next_for("s").await["message"]["name"], "m1");
    let stopping = tokio::spawn(gateway.stop());
    assert_eq!(
        idle.closed().await,
        Closed {
            code: 1001,
            reason: "the gateway is shutting down".into()
        }
    );
    let (messages, closed) = busy.rest().await;
    assert_eq!(
        messages,
        vec![
            json!({"type": "error", "id": "s", "error": {"code": 14, "message": "the gateway is shutting down", "details": []}})
        ]
    );
    assert_eq!(closed.code, 1001);
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_listener_of_its_own_serves_websockets_only() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "websocket:\n  listen: 127.0.0.1:0\n").await;
    let own = gateway.addr("websocket");
    assert_ne!(own, gateway.addr("http"));
    let mut ws = WsClient::envelope(own).await;
    ws.send(json!({"type": "call", "id": "1", "rpc": "polygate.test.v1.Testing/Echo", "message": {"name": "x"}}))
        .await;
    assert_eq!(
        ws.until_end("1").await,
        vec![
            json!({"type": "next", "id": "1", "message": {"name": "x"}}),
            json!({"type": "complete", "id": "1"})
        ]
    );
    // The REST listener no longer upgrades.
    let refused = WsClient::open(
        gateway.addr("http"),
        "/ws",
        &[("sec-websocket-protocol", "polygate.v1")],
    )
    .await
    .err()
    .expect("no upgrade on the REST port");
    assert!(matches!(refused, WsError::Http(_)), "{refused:?}");
    gateway.stop().await;
}
