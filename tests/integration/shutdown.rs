//! Issue 10, item 5, through the real binary: on SIGTERM polygate stops accepting, lets
//! requests under way finish until `drain_timeout`, then answers those still waiting 503 with
//! `Connection: close`; a second SIGTERM exits at once.

use serde_json::json;
use tokio::sync::oneshot;

use crate::support::binary::Serving;
use crate::support::{bounded, scratch_dir, test_backend, test_config, GrpcServer};

/// polygate serving `config` from a scratch directory.
async fn serving(config: &str) -> Serving {
    let dir = scratch_dir();
    std::fs::write(dir.join("polygate.yaml"), config).unwrap();
    Serving::config(&dir.join("polygate.yaml")).await
}

/// A backend whose `Slow` never answers; the receiver says when a call reached it.
async fn stuck_backend() -> (GrpcServer, oneshot::Receiver<()>) {
    let (reached, reached_rx) = oneshot::channel();
    let reached = std::sync::Mutex::new(Some(reached));
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Slow", move |_| {
            if let Some(reached) = reached.lock().unwrap().take() {
                let _ = reached.send(());
            }
            async move {
                std::future::pending::<()>().await;
                unreachable!()
            }
        })
        .start()
        .await;
    (backend, reached_rx)
}

#[tokio::test]
async fn a_request_still_under_way_at_the_drain_deadline_gets_503_and_connection_close() {
    let (backend, reached) = stuck_backend().await;
    let config = test_config(&backend.url(), "").replace(
        "http:\n  listen: 127.0.0.1:0\n",
        "http:\n  listen: 127.0.0.1:0\n  drain_timeout: 500ms\n",
    );
    let serving = serving(&config).await;
    let client = serving.client.clone();
    let waiting = tokio::spawn(async move {
        client
            .send("GET", "/v1/slow", &[("x-request-id", "cut-7")], "")
            .await
    });
    bounded("the call reaching the backend", reached)
        .await
        .unwrap();
    serving.terminate();
    let response = bounded("the cut answer", waiting).await.unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.header("x-request-id"), Some("cut-7"));
    assert_eq!(
        response.json(),
        json!({"code": 14, "message": "polygate is shutting down", "details": []})
    );
    assert_eq!(bounded("the exit", serving.exited()).await, Some(0));
}

/// Reads until the peer closes the connection.
async fn closed(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            return;
        }
    }
}

#[tokio::test]
async fn draining_closes_idle_and_half_sent_connections_at_once_and_a_second_sigterm_exits() {
    let (backend, reached) = stuck_backend().await;
    let config = test_config(&backend.url(), "").replace(
        "http:\n  listen: 127.0.0.1:0\n",
        "http:\n  listen: 127.0.0.1:0\n  drain_timeout: 1h\n",
    );
    let serving = serving(&config).await;
    let client = serving.client.clone();
    let _waiting = tokio::spawn(async move { client.get("/v1/slow").await });
    bounded("the call reaching the backend", reached)
        .await
        .unwrap();
    let address = serving
        .client
        .base()
        .trim_start_matches("http://")
        .to_owned();
    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut half_sent = tokio::net::TcpStream::connect(&address).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut half_sent, b"GET /v1/echo/x HTTP/1.1\r\nHost:")
        .await
        .unwrap();
    // The first signal starts an hour-long drain: the connections with nothing under way close
    // now, the one waiting for the backend stays...
    serving.terminate();
    bounded("the idle connection closing", closed(&mut idle)).await;
    bounded("the half-sent connection closing", closed(&mut half_sent)).await;
    // ...until the second signal ends everything.
    serving.terminate();
    assert_eq!(bounded("the exit", serving.exited()).await, Some(130));
}
