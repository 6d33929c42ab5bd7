//! Issue 10, item 7: faults injected around a running gateway — a backend killed in the middle
//! of a unary call and of a stream, a backend that answers garbage after its HTTP/2 SETTINGS, a
//! client that half-closes its socket — each with the behaviour docs/robustness.md promises,
//! and the gateway serving the next request.

use http_body_util::BodyExt;
use prost_reflect::{DynamicMessage, Value};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::{bounded, test_backend, test_pool, Gateway, Reply};

/// A oneshot sender usable from a `Fn` handler: the first call takes it.
fn once(sender: oneshot::Sender<()>) -> impl Fn() + Send + Sync {
    let sender = std::sync::Mutex::new(Some(sender));
    move || {
        if let Some(sender) = sender.lock().unwrap().take() {
            let _ = sender.send(());
        }
    }
}

#[tokio::test]
async fn a_backend_killed_during_a_unary_call_is_503_and_its_restart_is_used() {
    let (reached, reached_rx) = oneshot::channel();
    let reached = once(reached);
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Slow", move |_| {
            reached();
            async move {
                std::future::pending::<()>().await;
                unreachable!()
            }
        })
        .start()
        .await;
    let addr = backend.addr;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let client = gateway.client.clone();
    let call = tokio::spawn(async move { client.get("/v1/slow").await });
    bounded("the call reaching the backend", reached_rx)
        .await
        .unwrap();
    backend.stop().await;
    let response = bounded("the answer", call).await.unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.json()["code"], 14);
    let backend = test_backend().start_on(&addr.to_string()).await.unwrap();
    let response = gateway.client.get("/v1/echo/after").await;
    assert_eq!(response.status, 200);
    assert_eq!(backend.calls().len(), 1);
}

#[tokio::test]
async fn a_backend_killed_during_a_stream_ends_it_with_an_in_band_error() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            let everything = test_pool()
                .get_message_by_name("polygate.test.v1.Everything")
                .unwrap();
            let padding = bytes::Bytes::from(vec![7u8; 32 << 10]);
            let messages = (0..2000)
                .map(|i| {
                    let mut message = DynamicMessage::new(everything.clone());
                    message.set_field_by_name("int32_value", Value::I32(i + 1));
                    message.set_field_by_name("bytes_value", Value::Bytes(padding.clone()));
                    message
                })
                .collect();
            Ok(Reply::stream(messages, None))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.open("GET", "/v1/list/all", &[]).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = Vec::new();
    while !received.contains(&b'\n') {
        let frame = body.frame().await.expect("a first line").unwrap();
        received.extend_from_slice(&frame.into_data().unwrap());
    }
    backend.stop().await;
    while let Some(frame) = bounded("the stream's end", body.frame()).await {
        received.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    let text = String::from_utf8(received).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["error"]["code"], 14, "{last}");
    assert!(lines.len() < 2001, "the stream ended early");
    for (i, line) in lines[..lines.len() - 1].iter().enumerate() {
        assert_eq!(
            line["int32Value"],
            json!(i + 1),
            "message {i} arrived intact"
        );
    }
    assert_eq!(gateway.client.get("/v1/echo/x").await.status, 503);
}

#[tokio::test]
async fn a_backend_answering_garbage_after_its_settings_is_503() {
    let liar = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", liar.local_addr().unwrap());
    let lying = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((mut stream, _)) = liar.accept().await {
            // An empty SETTINGS frame, then bytes that are no HTTP/2 frame at all.
            let _ = stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
            let _ = stream.write_all(&[0xff; 64]).await;
            open.push(stream);
        }
    });
    let gateway = Gateway::for_test_backend_url(&url, "").await;
    let response = gateway.client.get("/v1/echo/x").await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.json()["code"], 14);
    assert_eq!(gateway.client.get("/v2/nothing").await.status, 404);
    lying.abort();
}

#[tokio::test]
async fn a_client_that_half_closes_has_its_call_cancelled() {
    let (reached, reached_rx) = oneshot::channel();
    let reached = once(reached);
    let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
    let dropped = std::sync::Mutex::new(Some(dropped_tx));
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Slow", move |_| {
            reached();
            // Dropped, and so sent, only when the call is cancelled.
            let guard = dropped.lock().unwrap().take();
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                unreachable!()
            }
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let mut client = TcpStream::connect(gateway.client.base().trim_start_matches("http://"))
        .await
        .unwrap();
    client
        .write_all(b"GET /v1/slow HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    bounded("the call reaching the backend", reached_rx)
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    assert!(
        bounded("the cancellation", dropped_rx).await.is_err(),
        "the guard is dropped, not sent"
    );
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}
