//! Issue 10, item 2: the REST listener's limits and timeouts — connections that say nothing or
//! crawl are closed, slow bodies get 408, oversized heads 431, connections beyond the cap wait,
//! a rapid-reset flood ends its own connection — and the gateway keeps serving everyone else.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{bounded, test_backend, test_config, Gateway};

/// The gateway's address.
fn address(gateway: &Gateway) -> String {
    gateway
        .client
        .base()
        .trim_start_matches("http://")
        .to_owned()
}

/// Reads until the gateway closes the connection; returns everything it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

async fn gateway_with(http: &str) -> (crate::support::GrpcServer, Gateway) {
    let backend = test_backend().start().await;
    let config = test_config(&backend.url(), "").replace(
        "http:\n  listen: 127.0.0.1:0\n",
        &format!("http:\n  listen: 127.0.0.1:0\n{http}"),
    );
    let gateway = Gateway::start(&config, &[]).await;
    (backend, gateway)
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed_after_the_header_timeout() {
    let (_backend, gateway) = gateway_with("  header_read_timeout: 200ms\n").await;
    let mut silent = TcpStream::connect(address(&gateway)).await.unwrap();
    let sent = bounded("the close", read_until_closed(&mut silent)).await;
    assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}

#[tokio::test]
async fn a_head_sent_byte_by_byte_is_cut_at_the_header_timeout() {
    let (_backend, gateway) = gateway_with("  header_read_timeout: 300ms\n").await;
    let mut slow = TcpStream::connect(address(&gateway)).await.unwrap();
    slow.write_all(b"GET /v1/echo/slowloris HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    let closed = bounded("the close", async {
        loop {
            pace.tick().await;
            if slow.write_all(b"X").await.is_err() {
                return;
            }
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => panic!("the gateway answered a head that never ended"),
                Err(_) => {}
            }
        }
    });
    closed.await;
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let (_backend, gateway) = gateway_with("  idle_timeout: 300ms\n").await;
    let mut client = TcpStream::connect(address(&gateway)).await.unwrap();
    client
        .write_all(b"GET /v1/echo/kept HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let answer = bounded(
        "the answer and then the close",
        read_until_closed(&mut client),
    )
    .await;
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("{\"name\":\"kept\"}"), "{answer}");
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_408() {
    let (backend, gateway) = gateway_with("  request_body_timeout: 300ms\n").await;
    let mut slow = TcpStream::connect(address(&gateway)).await.unwrap();
    slow.write_all(
        b"POST /v1/echo HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let answer = bounded("the 408", async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            tokio::select! {
                _ = pace.tick() => { let _ = slow.write_all(b" ").await; }
                read = slow.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return received,
                    Ok(n) => {
                        received.extend_from_slice(&buffer[..n]);
                        if received.ends_with(b"}") { return received; }
                    }
                },
            }
        }
    })
    .await;
    let answer = String::from_utf8(answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            r#"{"code":4,"message":"the request body did not arrive within 300ms","details":[]}"#
        ),
        "{answer}"
    );
    assert!(backend.calls().is_empty());
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}

#[tokio::test]
async fn a_head_over_the_size_limit_is_431_and_the_next_request_is_served() {
    let (backend, gateway) = gateway_with("  max_header_size: 16KiB\n").await;
    let huge = "h".repeat(20 << 10);
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/echo/big",
            &[("x-big", huge.as_str())],
            Bytes::new(),
        )
        .await;
    assert_eq!(response.status, 431);
    assert!(backend.calls().is_empty());
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let (_backend, gateway) =
        gateway_with("  max_connections: 2\n  header_read_timeout: 30s\n").await;
    let first = TcpStream::connect(address(&gateway)).await.unwrap();
    let _second = TcpStream::connect(address(&gateway)).await.unwrap();
    let client = gateway.client.clone();
    let mut waiting = tokio::spawn(async move { client.get("/v1/echo/third").await });
    // The third client is not served while both slots are taken...
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut waiting)
            .await
            .is_err(),
        "a third connection was served beyond max_connections: 2"
    );
    // ...and is, once a slot frees.
    drop(first);
    let response = bounded("the third answer", waiting).await.unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn a_rapid_reset_flood_ends_its_own_connection_only() {
    let (_backend, gateway) = gateway_with("").await;
    let tcp = TcpStream::connect(address(&gateway)).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let mut client = client;
    let mut refused = false;
    for _ in 0..2000 {
        let ready = match client.ready().await {
            Ok(ready) => ready,
            Err(_) => {
                refused = true;
                break;
            }
        };
        client = ready;
        let request = http::Request::get(format!("http://{}/v1/slow", address(&gateway)))
            .body(())
            .unwrap();
        match client.send_request(request, true) {
            Ok((response, _)) => drop(response),
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    let ended = bounded("the flood's connection ending", driver)
        .await
        .unwrap();
    assert!(
        refused || ended.is_err(),
        "the gateway kept a rapid-reset flood's connection"
    );
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}
