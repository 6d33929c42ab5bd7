//! Issue 10, item 1: no client can break or starve the calls of others to a gRPC backend —
//! oversized metadata is refused for its own request, stalled readers neither hold the shared
//! connection's window nor keep their calls forever, and a backend that accepts TCP but never
//! speaks HTTP/2 is unreachable after `connect_timeout`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use prost_reflect::{DynamicMessage, Value};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::support::{bounded, test_backend, test_pool, Gateway, GrpcServer, Reply};

/// 64 KiB chunks of a `google.api.HttpBody` stream.
const CHUNK: usize = 64 << 10;

/// A backend whose `DownloadChunks` streams `chunks` chunks; chunk `i` is filled with byte `i`
/// when `distinct`, all chunks share one buffer otherwise.
async fn chunk_backend(chunks: usize, distinct: bool) -> GrpcServer {
    test_backend()
        .handle(
            "polygate.test.v1.Testing/DownloadChunks",
            move |_| async move {
                let body = test_pool()
                    .get_message_by_name("google.api.HttpBody")
                    .expect("HttpBody is known");
                let shared = Bytes::from(vec![b'x'; CHUNK]);
                let messages = (0..chunks)
                    .map(|i| {
                        let data = if distinct {
                            Bytes::from(vec![(i % 256) as u8; CHUNK])
                        } else {
                            shared.clone()
                        };
                        let mut message = DynamicMessage::new(body.clone());
                        message.set_field_by_name(
                            "content_type",
                            Value::String("application/octet-stream".into()),
                        );
                        message.set_field_by_name("data", Value::Bytes(data));
                        message
                    })
                    .collect();
                Ok(Reply::stream(messages, None))
            },
        )
        .start()
        .await
}

/// A client that asks for `path` and then never reads: its receive buffer is as small as the
/// kernel allows, so the gateway sees the stall at once.
async fn stalled_reader(gateway: &Gateway, path: &str) -> TcpStream {
    let addr = gateway
        .client
        .base()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: gateway\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn oversized_metadata_is_431_for_its_request_while_another_stream_completes() {
    let chunks = 240; // 15 MiB
    let backend = chunk_backend(chunks, true).await;
    let gateway = Gateway::for_test_backend(&backend, "").await;

    let streaming = gateway.client.open("GET", "/v1/chunks/big", &[]).await;
    assert_eq!(streaming.status(), 200);
    let mut body = streaming.into_body();
    let mut received = Vec::with_capacity(chunks * CHUNK);
    while received.len() < CHUNK {
        let frame = body.frame().await.expect("more data").expect("a frame");
        received.extend_from_slice(&frame.into_data().expect("data"));
    }

    let values: Vec<String> = (0..40)
        .map(|i| format!("{i:04}{}", "v".repeat(1020)))
        .collect();
    let headers: Vec<(String, &str)> = values
        .iter()
        .enumerate()
        .map(|(i, value)| (format!("grpc-metadata-x-big-{i}"), value.as_str()))
        .collect();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let refused = gateway
        .client
        .send("GET", "/v1/echo/large", &headers, Bytes::new())
        .await;
    assert_eq!(refused.status, 431);
    let error = refused.json();
    assert_eq!(error["code"], 8);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("the request's metadata (")
            && message.ends_with(
                "bytes as HTTP/2 counts it) exceeds the 16384 bytes backend 'test' accepts"
            ),
        "{message}"
    );

    while let Some(frame) = body.frame().await {
        received.extend_from_slice(&frame.expect("a frame").into_data().expect("data"));
    }
    assert_eq!(received.len(), chunks * CHUNK);
    for (i, chunk) in received.chunks(CHUNK).enumerate() {
        assert!(
            chunk.iter().all(|b| *b == (i % 256) as u8),
            "chunk {i} is intact"
        );
    }
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
    assert_eq!(
        backend.connections_accepted(),
        1,
        "the shared connection survived"
    );
}

async fn stalled_readers_do_not_starve_unary_calls(stalled: usize) {
    // 64 MiB per stream: more than the socket buffers between polygate and a stalled client
    // absorb, so each stalled call keeps its stream window full at the backend connection.
    let backend = chunk_backend(1024, false).await;
    let gateway = Gateway::for_test_backend(&backend, "routes:\n  timeout: 10s\n").await;
    let mut readers = Vec::new();
    for _ in 0..stalled {
        readers.push(stalled_reader(&gateway, "/v1/chunks/stall").await);
    }
    // Every stalled call has pushed a full stream window (256 KiB = 4 chunks) into the gateway,
    // and then as much as the socket buffers towards its client absorb: the backend sends
    // nothing more once flow control holds every stream.
    bounded(
        "the stalled calls filling their windows",
        backend.messages_sent(stalled * 4),
    )
    .await;
    bounded(
        "the backend's streams all held by flow control",
        backend.messages_sent_settled(Duration::from_millis(500)),
    )
    .await;
    for i in 0..10 {
        let response = gateway.client.get(&format!("/v1/echo/u{i}")).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json(), json!({"name": format!("u{i}")}));
    }
    assert_eq!(backend.connections_accepted(), 1);
    drop(readers);
}

#[tokio::test]
async fn five_stalled_readers_do_not_starve_unary_calls() {
    stalled_readers_do_not_starve_unary_calls(5).await;
}

#[tokio::test]
async fn fifty_stalled_readers_do_not_starve_unary_calls() {
    stalled_readers_do_not_starve_unary_calls(50).await;
}

/// The scale of the `stalled` load scenario (benches/load): a hundred held stream windows of
/// 256 KiB are more than a connection window of 16 MiB, the default before it became HTTP/2's
/// largest (with 16 MiB this test's unary calls answered 504).
#[tokio::test]
async fn a_hundred_stalled_readers_do_not_starve_unary_calls() {
    stalled_readers_do_not_starve_unary_calls(100).await;
}

#[tokio::test]
async fn a_stalled_reader_has_its_call_cancelled_after_the_timeout() {
    let backend = chunk_backend(64, false).await;
    let gateway = Gateway::start(
        &crate::support::test_config(&backend.url(), "").replace(
            "    grpc:\n",
            "    grpc:\n      stalled_reader_timeout: 200ms\n",
        ),
        &[],
    )
    .await;
    let _reader = stalled_reader(&gateway, "/v1/chunks/stall").await;
    assert_eq!(
        bounded("the cancellation", backend.streams_cancelled(1)).await,
        1
    );
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}

#[tokio::test]
async fn a_backend_that_never_speaks_http2_is_unreachable_after_connect_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let config = crate::support::test_config(&url, "routes:\n  timeout: 20s\n")
        .replace("    grpc:\n", "    grpc:\n      connect_timeout: 300ms\n");
    let gateway = Gateway::start(&config, &[]).await;
    let response = gateway.client.get("/v1/echo/x").await;
    assert_eq!(response.status, 503);
    assert_eq!(
        response.json()["message"],
        format!(
            "backend 'test' is unreachable: connecting to {} took longer than 300ms",
            url.trim_start_matches("http://")
        )
    );
    held.abort();
}

#[tokio::test]
async fn a_backend_that_answers_http1_is_unreachable_at_once() {
    let talker = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", talker.local_addr().unwrap());
    let answering = tokio::spawn(async move {
        // Connections stay open: closing one with the client's preface unread would reset it.
        let mut open = Vec::new();
        while let Ok((mut stream, _)) = talker.accept().await {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
            open.push(stream);
        }
    });
    let gateway = Gateway::for_test_backend_url(&url, "").await;
    let response = gateway.client.get("/v1/echo/x").await;
    assert_eq!(response.status, 503);
    assert_eq!(
        response.json()["message"],
        "backend 'test' is unreachable: it does not speak HTTP/2 (its first bytes are not a SETTINGS frame)"
    );
    answering.abort();
}
