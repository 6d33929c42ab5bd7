//! Issue 12: the WebSocket frontend's multiplexed endpoint (`/ws`, `polygate.v1`) in front of
//! a real gRPC backend: every call shape, many calls at once, credit, cancellation, bad input
//! that ends nothing else, a backend that dies, and REST routes over the socket.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tonic::{Code, Status};

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::live::{endless, shouting};
use crate::support::ws_client::WsClient;
use crate::support::{
    message, numbered, request_names, test_backend, to_json, Gateway, GrpcServer, Reply,
};

/// The test backend's config plus the WebSocket frontend with `settings` (YAML lines under
/// `websocket:`, indented by two; empty for the defaults).
fn with_websocket(settings: &str) -> String {
    if settings.is_empty() {
        "websocket: {}\n".to_owned()
    } else {
        format!("websocket:\n{settings}")
    }
}

/// A backend whose `List` never ends (telling `dropped` when the gateway lets a call go), and
/// polygate in front of it with the WebSocket frontend's `settings`.
async fn endless_gateway(settings: &str) -> (GrpcServer, Gateway, Arc<Notify>) {
    let dropped = Arc::new(Notify::new());
    let seen = dropped.clone();
    let backend = test_backend()
        .handle_live("polygate.test.v1.Testing/List", move |call| {
            endless(call, seen.clone())
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, &with_websocket(settings)).await;
    (backend, gateway, dropped)
}

/// Reads the `next` messages of call `id` holding the numbered messages `range`.
async fn expect_numbered(ws: &mut WsClient, id: &str, range: std::ops::RangeInclusive<usize>) {
    for i in range {
        assert_eq!(
            ws.next_for(id).await,
            next(id, json!({"name": format!("m{i}"), "int32Value": i}))
        );
    }
}

fn next(id: &str, message: Value) -> Value {
    json!({"type": "next", "id": id, "message": message})
}

fn complete(id: &str) -> Value {
    json!({"type": "complete", "id": id})
}

#[tokio::test]
async fn every_call_shape_reaches_the_grpc_backend_over_one_socket() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Ok(Reply::stream(numbered(3), None))
        })
        .handle("polygate.test.v1.Testing/Collect", |call| async move {
            let names = request_names(&call);
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"name": names.join("+"), "parent": to_json(call.message())["parent"]}),
            )))
        })
        .handle_live("polygate.test.v1.Testing/Chat", shouting)
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, &with_websocket("")).await;
    let mut ws = WsClient::envelope_with(
        gateway.addr("http"),
        json!({"type": "init", "metadata": {"authorization": "Bearer t0k3n"}}),
    )
    .await;

    // Unary, named as REST clients name the route.
    ws.send(json!({"type": "call", "id": "u", "method": "GET", "path": "/v1/echo/hello?int32Value=4", "metadata": {"x-trace": "t-1"}}))
        .await;
    assert_eq!(
        ws.until_end("u").await,
        vec![
            next("u", json!({"name": "hello", "int32Value": 4})),
            complete("u")
        ]
    );
    let reached = backend.last_call();
    assert_eq!(
        reached.metadata.get("authorization").unwrap(),
        "Bearer t0k3n"
    );
    assert_eq!(reached.metadata.get("x-trace").unwrap(), "t-1");

    // Unary, named by its gRPC method: the message is the whole request.
    ws.send(json!({"type": "call", "id": "r", "rpc": "polygate.test.v1.Testing/Echo", "message": {"name": "by-name", "tags": ["a"]}}))
        .await;
    assert_eq!(
        ws.until_end("r").await,
        vec![
            next("r", json!({"name": "by-name", "tags": ["a"]})),
            complete("r")
        ]
    );

    // Server streaming.
    ws.send(json!({"type": "call", "id": "s", "method": "GET", "path": "/v1/list/all"}))
        .await;
    assert_eq!(
        ws.until_end("s").await,
        vec![
            next("s", json!({"name": "m1", "int32Value": 1})),
            next("s", json!({"name": "m2", "int32Value": 2})),
            next("s", json!({"name": "m3", "int32Value": 3})),
            complete("s")
        ]
    );

    // Client streaming: the first message with the call, more with send, then half_close.
    ws.send(json!({"type": "call", "id": "c", "method": "POST", "path": "/v1/collect/p1", "message": {"name": "a"}}))
        .await;
    ws.send(json!({"type": "send", "id": "c", "message": {"name": "b"}}))
        .await;
    ws.send(json!({"type": "send", "id": "c", "message": {"name": "c"}}))
        .await;
    ws.send(json!({"type": "half_close", "id": "c"})).await;
    let ended = ws.until_end("c").await;
    let answers: Vec<&Value> = ended.iter().filter(|m| m["type"] != "request").collect();
    assert_eq!(
        answers,
        vec![
            &next("c", json!({"name": "a+b+c", "parent": "p1"})),
            &complete("c")
        ]
    );
    assert_eq!(backend.last_call().messages.len(), 3);

    // Bidirectional, full duplex: each answer arrives before the next message is sent.
    ws.send(json!({"type": "call", "id": "b", "method": "POST", "path": "/v1/chat"}))
        .await;
    for word in ["hello", "there"] {
        ws.send(json!({"type": "send", "id": "b", "message": {"name": word}}))
            .await;
        let mut answer = ws.next_for("b").await;
        while answer["type"] == "request" {
            answer = ws.next_for("b").await;
        }
        assert_eq!(answer, next("b", json!({"name": word.to_uppercase()})));
    }
    ws.send(json!({"type": "half_close", "id": "b"})).await;
    let rest: Vec<Value> = ws
        .until_end("b")
        .await
        .into_iter()
        .filter(|m| m["type"] != "request")
        .collect();
    assert_eq!(rest, vec![complete("b")]);
    gateway.stop().await;
}

#[tokio::test]
async fn fifty_calls_run_at_once_on_one_connection() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, &with_websocket("")).await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    for i in 0..50 {
        ws.send(json!({"type": "call", "id": format!("c{i}"), "rpc": "polygate.test.v1.Testing.Echo", "message": {"int32Value": i + 1}}))
            .await;
    }
    for i in (0..50).rev() {
        let id = format!("c{i}");
        assert_eq!(
            ws.until_end(&id).await,
            vec![next(&id, json!({"int32Value": i + 1})), complete(&id)]
        );
    }
    assert_eq!(backend.calls().len(), 50);
    gateway.stop().await;
}

#[tokio::test]
async fn credit_is_respected_and_more_is_sent_when_granted() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Ok(Reply::stream(numbered(8), None))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, &with_websocket("")).await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    ws.send(json!({"type": "call", "id": "l", "method": "GET", "path": "/v1/list/x", "credit": 3}))
        .await;
    expect_numbered(&mut ws, "l", 1..=3).await;
    // Whatever the server had written before the pong has been read: no fourth message.
    ws.round_trip(1).await;
    assert!(ws.unread().is_empty(), "{:?}", ws.unread());
    ws.send(json!({"type": "request", "id": "l", "n": 2})).await;
    expect_numbered(&mut ws, "l", 4..=5).await;
    ws.round_trip(2).await;
    assert!(ws.unread().is_empty(), "{:?}", ws.unread());
    // Exactly the credit the rest needs: the end comes without asking for more.
    ws.send(json!({"type": "request", "id": "l", "n": 3})).await;
    let rest = ws.until_end("l").await;
    assert_eq!(rest.len(), 4);
    assert_eq!(rest[2], next("l", json!({"name": "m8", "int32Value": 8})));
    assert_eq!(rest[3], complete("l"));
    gateway.stop().await;
}

#[tokio::test]
async fn cancel_ends_the_backend_call_mid_stream() {
    let (_backend, gateway, dropped) = endless_gateway("").await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    ws.send(json!({"type": "call", "id": "e", "method": "GET", "path": "/v1/list/x", "credit": 2}))
        .await;
    assert_eq!(ws.next_for("e").await["message"]["name"], "m1");
    assert_eq!(ws.next_for("e").await["message"]["name"], "m2");
    ws.send(json!({"type": "cancel", "id": "e"})).await;
    // The backend sees the cancellation: its answer stream is dropped.
    dropped.notified().await;
    // The id is free again, and nothing more arrives for the cancelled call.
    ws.send(json!({"type": "request", "id": "e", "n": 5})).await;
    let refused = ws.next_without_id().await;
    assert_eq!(refused["error"]["code"], 5);
    ws.round_trip(3).await;
    assert!(ws.unread().is_empty(), "{:?}", ws.unread());
    gateway.stop().await;
}

#[tokio::test]
async fn bad_input_gets_an_error_and_leaves_the_other_calls_running() {
    let (_backend, gateway, _dropped) = endless_gateway("").await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    ws.send(
        json!({"type": "call", "id": "live", "method": "GET", "path": "/v1/list/x", "credit": 1}),
    )
    .await;
    assert_eq!(ws.next_for("live").await["message"]["name"], "m1");
    ws.send(json!({"type": "call", "id": "done", "rpc": "polygate.test.v1.Testing/Echo"}))
        .await;
    assert_eq!(ws.until_end("done").await.len(), 2);

    // A frame that is not JSON.
    ws.send_text("{not json").await;
    let error = ws.next_without_id().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], 3);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("a message must be a JSON object with a \"type\""));
    // An unknown message type.
    ws.send(json!({"type": "subscribe", "id": "live"})).await;
    assert_eq!(
        ws.next_without_id().await["error"]["message"],
        "unknown message type 'subscribe' (polygate.v1 has init, call, send, half_close, cancel, request, ping and pong)"
    );
    // An unknown route: the call it would have started ends.
    ws.send(json!({"type": "call", "id": "nowhere", "method": "GET", "path": "/v9/none"}))
        .await;
    assert_eq!(
        ws.next_for("nowhere").await,
        json!({"type": "error", "id": "nowhere", "error": {"code": 5, "message": "no route for GET /v9/none", "details": []}})
    );
    // An unknown gRPC method.
    ws.send(json!({"type": "call", "id": "rpc", "rpc": "polygate.test.v1.Testing/Nope"}))
        .await;
    assert_eq!(
        ws.next_for("rpc").await["error"]["message"],
        "no exposed gRPC method polygate.test.v1.Testing/Nope"
    );
    // The id of a call under way.
    ws.send(json!({"type": "call", "id": "live", "rpc": "polygate.test.v1.Testing/Echo"}))
        .await;
    let duplicate = ws.next_without_id().await;
    assert_eq!(duplicate["error"]["code"], 6);
    assert_eq!(
        duplicate["error"]["message"],
        "call 'live' is already under way; an id can be reused once its call has ended"
    );
    // A message for a call that has ended.
    ws.send(json!({"type": "send", "id": "done", "message": {}}))
        .await;
    assert_eq!(
        ws.next_without_id().await["error"]["message"],
        "no call 'done' is under way (it has ended, was cancelled or never started)"
    );
    // half_close for a call that takes one message.
    ws.send(json!({"type": "half_close", "id": "live"})).await;
    assert_eq!(ws.next_without_id().await["error"]["code"], 9);

    // The live call goes on.
    ws.send(json!({"type": "request", "id": "live", "n": 2}))
        .await;
    assert_eq!(ws.next_for("live").await["message"]["name"], "m2");
    assert_eq!(ws.next_for("live").await["message"]["name"], "m3");
    gateway.stop().await;
}

#[tokio::test]
async fn the_call_limit_refuses_a_call_not_the_connection() {
    let (_backend, gateway, _dropped) = endless_gateway("  max_calls: 2\n").await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    for id in ["a", "b"] {
        ws.send(
            json!({"type": "call", "id": id, "method": "GET", "path": "/v1/list/x", "credit": 1}),
        )
        .await;
        assert_eq!(ws.next_for(id).await["message"]["name"], "m1");
    }
    ws.send(json!({"type": "call", "id": "c", "method": "GET", "path": "/v1/list/x"}))
        .await;
    assert_eq!(
        ws.next_for("c").await,
        json!({"type": "error", "id": "c", "error": {"code": 8, "message": "this connection already has 2 calls under way, its limit", "details": []}})
    );
    ws.send(json!({"type": "cancel", "id": "a"})).await;
    ws.send(json!({"type": "call", "id": "c", "method": "GET", "path": "/v1/list/x", "credit": 1}))
        .await;
    assert_eq!(ws.next_for("c").await["message"]["name"], "m1");
    ws.send(json!({"type": "request", "id": "b", "n": 1})).await;
    assert_eq!(ws.next_for("b").await["message"]["name"], "m2");
    gateway.stop().await;
}

#[tokio::test]
async fn a_backend_killed_mid_stream_fails_the_calls_and_the_connection_stays() {
    let (backend, gateway, _dropped) = endless_gateway("").await;
    let addr = backend.addr;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    for id in ["a", "b"] {
        ws.send(
            json!({"type": "call", "id": id, "method": "GET", "path": "/v1/list/x", "credit": 1}),
        )
        .await;
        assert_eq!(ws.next_for(id).await["message"]["name"], "m1");
    }
    backend.stop().await;
    // What the backend sent before it died is delivered, then the failure.
    for id in ["a", "b"] {
        ws.send(json!({"type": "request", "id": id, "n": 1000000}))
            .await;
        let mut last = ws.next_for(id).await;
        while last["type"] == "next" {
            last = ws.next_for(id).await;
        }
        assert_eq!(last["type"], "error", "{last}");
        assert_eq!(last["error"]["code"], 14, "{last}");
    }
    let backend = test_backend()
        .start_on(&addr.to_string())
        .await
        .expect("the port is free again");
    ws.send(json!({"type": "call", "id": "a", "rpc": "polygate.test.v1.Testing/Echo", "message": {"name": "again"}}))
        .await;
    assert_eq!(
        ws.until_end("a").await,
        vec![next("a", json!({"name": "again"})), complete("a")]
    );
    assert_eq!(backend.calls().len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn rest_routes_are_called_over_the_socket() {
    let (seen, mut requests) = mpsc::channel::<Recorded>(4);
    let upstream = HttpServer::start(move |request: Recorded| {
        let seen = seen.clone();
        async move {
            let _ = seen.send(request).await;
            Answer::json(json!({"data": {"uid": 7, "name": "Ada"}}))
        }
    })
    .await;
    let mapping = "routes:\n  - get: /v1/users/{id}\n    backend: users\n    rest: {path: \"/api/users/{id}\"}\n";
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nwebsocket: {{}}\nbackends:\n  users:\n    rest:\n      url: {}\nmappings: [legacy.yaml]\n",
        upstream.url()
    );
    let gateway = Gateway::start(&config, &[("legacy.yaml", mapping)]).await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    ws.send(json!({"type": "call", "id": "1", "method": "GET", "path": "/v1/users/7"}))
        .await;
    assert_eq!(
        ws.until_end("1").await,
        vec![
            next("1", json!({"data": {"uid": 7, "name": "Ada"}})),
            complete("1")
        ]
    );
    assert_eq!(requests.recv().await.unwrap().target, "/api/users/7");
    gateway.stop().await;
}

#[tokio::test]
async fn backend_errors_end_the_call_in_the_canonical_shape() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Ok(Reply::stream(
                numbered(1),
                Some(Status::new(Code::Aborted, "lost the lock")),
            ))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, &with_websocket("")).await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    ws.send(json!({"type": "call", "id": "x", "method": "GET", "path": "/v1/list/x"}))
        .await;
    assert_eq!(
        ws.until_end("x").await,
        vec![
            next("x", json!({"name": "m1", "int32Value": 1})),
            json!({"type": "error", "id": "x", "error": {"code": 10, "message": "lost the lock", "details": []}})
        ]
    );
    ws.send(json!({"type": "call", "id": "y", "method": "DELETE", "path": "/v1/echo/x"}))
        .await;
    assert_eq!(ws.next_for("y").await["error"]["code"], 12);
    gateway.stop().await;
}

#[tokio::test]
async fn response_metadata_and_trailers_reach_the_client() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Echo", |call| async move {
            let mut reply = Reply::one(call.message().clone());
            reply.metadata.insert("x-served-by", "b1".parse().unwrap());
            reply.trailers.insert("x-cost", "3".parse().unwrap());
            Ok(reply)
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, &with_websocket("")).await;
    let mut ws = WsClient::envelope(gateway.addr("http")).await;
    ws.send(json!({"type": "call", "id": "m", "method": "GET", "path": "/v1/echo/meta"}))
        .await;
    assert_eq!(
        ws.until_end("m").await,
        vec![
            json!({"type": "headers", "id": "m", "metadata": {"x-served-by": "b1"}}),
            next("m", json!({"name": "meta"})),
            json!({"type": "complete", "id": "m", "trailers": {"x-cost": "3"}}),
        ]
    );
    gateway.stop().await;
}
