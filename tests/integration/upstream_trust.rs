//! Issue 15 item 4: nothing from upstream is trusted — JSON parsed before it is passed on (BOM
//! dropped; invalid or cut JSON a 502), an empty body where one was declared a 502, an answer
//! cut short mid-body a 502 (503 stays for "could not connect"), XML limits on the SOAP
//! Envelope and Header too, error pages never copied, hop-by-hop and `Connection`-named headers
//! never forwarded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::{answering, envelope11, envelope12, gateway, reason, SOAP11, SOAP12};

/// A raw HTTP/1.1 server that answers every request with `head` and `body` exactly as given
/// (so a declared length may go unmet) and then closes the connection. Counts the requests.
async fn raw_server(answer: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = socket.write_all(answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, served)
}

const USERS: &str = r#"
routes:
  - get: /v1/users/{id}
    backend: users
    rest: {path: "/api/users/{id}"}
"#;

const ORDERS: &str = r#"
routes:
  - get: /v1/orders/{id}
    backend: orders
    xml: {path: "/api/orders/{id}.xml"}
"#;

async fn rest_gateway(url: &str) -> crate::support::Gateway {
    gateway(&format!("  users:\n    rest:\n      url: {url}\n"), USERS).await
}

#[tokio::test]
async fn a_byte_order_mark_is_dropped_and_invalid_or_cut_json_is_a_502() {
    let upstream = HttpServer::start(|request: Recorded| async move {
        match request.target.as_str() {
            "/api/users/bom" => {
                Answer::new(200, "application/json", &b"\xEF\xBB\xBF{\"id\":7}"[..])
            }
            "/api/users/cut" => {
                Answer::new(200, "application/json", r#"{"id":7,"name":"Secret Ad"#)
            }
            "/api/users/empty" => Answer::new(200, "application/json", ""),
            _ => Answer::new(
                200,
                "application/json",
                "<html>oops: DB password hunter2</html>",
            ),
        }
    })
    .await;
    let gateway = rest_gateway(&upstream.url()).await;
    let bom = gateway.client.get("/v1/users/bom").await;
    assert_eq!(bom.status, 200);
    assert_eq!(bom.text(), r#"{"id":7}"#);
    let cut = gateway.client.get("/v1/users/cut").await;
    assert_eq!(cut.status, 502);
    assert_eq!(reason(&cut.json()), "UPSTREAM_INVALID_JSON");
    assert!(!cut.text().contains("Secret"), "{}", cut.text());
    let invalid = gateway.client.get("/v1/users/html").await;
    assert_eq!(invalid.status, 502);
    assert!(!invalid.text().contains("hunter2"), "{}", invalid.text());
    let empty = gateway.client.get("/v1/users/empty").await;
    assert_eq!(empty.status, 502);
    assert_eq!(reason(&empty.json()), "UPSTREAM_EMPTY_BODY");
}

#[tokio::test]
async fn an_answer_cut_short_mid_body_is_a_502_not_a_503() {
    let (url, served) = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":7,\"na",
    )
    .await;
    let gateway = rest_gateway(&url).await;
    let cut = gateway.client.get("/v1/users/7").await;
    assert_eq!(cut.status, 502, "{}", cut.text());
    assert_eq!(reason(&cut.json()), "UPSTREAM_TRUNCATED");
    assert!(!cut.text().contains("\"na"), "{}", cut.text());
    assert_eq!(served.load(Ordering::SeqCst), 1);

    let (url, _) = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 200\r\n\r\n<order><id>7</id><cust",
    )
    .await;
    let xml = gateway_xml(&url).await;
    let cut = xml.client.get("/v1/orders/7").await;
    assert_eq!(cut.status, 502);
    assert_eq!(reason(&cut.json()), "UPSTREAM_TRUNCATED");
    // Nobody listening is still a 503.
    let gone = rest_gateway("http://127.0.0.1:9").await;
    assert_eq!(gone.client.get("/v1/users/7").await.status, 503);
}

async fn gateway_xml(url: &str) -> crate::support::Gateway {
    gateway(&format!("  orders:\n    xml:\n      url: {url}\n"), ORDERS).await
}

#[tokio::test]
async fn truncated_or_empty_xml_is_a_502() {
    let upstream = HttpServer::start(|request: Recorded| async move {
        match request.target.as_str() {
            "/api/orders/cut.xml" => Answer::xml("<order><id>7</id><customer>Ada"),
            "/api/orders/none.xml" => Answer::xml(""),
            _ => Answer::new(204, "application/xml", ""),
        }
    })
    .await;
    let gateway = gateway_xml(&upstream.url()).await;
    let cut = gateway.client.get("/v1/orders/cut").await;
    assert_eq!(cut.status, 502);
    assert!(!cut.text().contains("Ada"), "{}", cut.text());
    let none = gateway.client.get("/v1/orders/none").await;
    assert_eq!(none.status, 502);
    assert_eq!(reason(&none.json()), "UPSTREAM_EMPTY_BODY");
    let no_content = gateway.client.get("/v1/orders/gone").await;
    assert_eq!(no_content.status, 204);
}

const CALC: &str = r#"
routes:
  - post: /v1/calc/add
    backend: calc
    body: "*"
    soap: {operation: Add, action: "http://tempuri.org/Add"}
"#;

#[tokio::test]
async fn xml_limits_hold_on_the_envelope_and_the_header_of_both_soap_versions() {
    let attributes: String = (0..100_000).map(|i| format!(" a{i}=\"x\"")).collect();
    for (version, ns, envelope) in [
        ("1.1", SOAP11, envelope11 as fn(&str) -> String),
        ("1.2", SOAP12, envelope12 as fn(&str) -> String),
    ] {
        let on_envelope = format!(
            "<soap:Envelope xmlns:soap=\"{ns}\"{attributes}><soap:Body><AddResponse/></soap:Body></soap:Envelope>"
        );
        let on_header = format!(
            "<soap:Envelope xmlns:soap=\"{ns}\"><soap:Header{attributes}/><soap:Body><AddResponse/></soap:Body></soap:Envelope>"
        );
        for document in [on_envelope, on_header] {
            let service = answering(Answer::xml(document)).await;
            let backends = format!(
                "  calc:\n    soap:\n      url: {}\n      version: \"{version}\"\n      max_response_size: 8MiB\n",
                service.url()
            );
            let gateway = gateway(&backends, CALC).await;
            let response = gateway.client.json("POST", "/v1/calc/add", json!({})).await;
            assert_eq!(response.status, 502, "{version}: {}", response.text());
            assert_eq!(
                reason(&response.json()),
                "XML_TOO_MANY_ATTRIBUTES",
                "{version}"
            );
        }
        // The same answer without the attributes is fine.
        let service = answering(Answer::xml(envelope("<AddResponse/>"))).await;
        let backends = format!(
            "  calc:\n    soap:\n      url: {}\n      version: \"{version}\"\n",
            service.url()
        );
        let gateway = gateway(&backends, CALC).await;
        let response = gateway.client.json("POST", "/v1/calc/add", json!({})).await;
        assert_eq!(response.status, 200, "{version}: {}", response.text());
    }
}

#[tokio::test]
async fn a_soap_html_500_with_a_stack_trace_is_a_502_without_it() {
    let service = answering(Answer::new(
        500,
        "text/html",
        "<html><h1>Server Error</h1><pre>System.NullReferenceException at Calc.Add() in C:\\src\\Calc.cs:line 42</pre></html>",
    ))
    .await;
    let gateway = gateway(
        &format!("  calc:\n    soap:\n      url: {}\n", service.url()),
        CALC,
    )
    .await;
    let response = gateway.client.json("POST", "/v1/calc/add", json!({})).await;
    assert_eq!(response.status, 502);
    let text = response.text();
    assert!(
        !text.contains("NullReference") && !text.contains("Calc.cs"),
        "{text}"
    );
}

#[tokio::test]
async fn hop_by_hop_and_connection_named_headers_never_reach_the_backend() {
    let upstream = answering(Answer::json(json!({"id": 7}))).await;
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\n  forward_headers: [x-secret, x-kept, te, keep-alive, upgrade]\nbackends:\n  users:\n    rest:\n      url: {}\nmappings: [legacy.yaml]\n",
        upstream.url()
    );
    let gateway = crate::support::Gateway::start(&config, &[("legacy.yaml", USERS)]).await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/users/7",
            &[
                ("connection", "keep-alive, X-Secret"),
                ("x-secret", "for this hop only"),
                ("x-kept", "forwarded"),
                ("keep-alive", "timeout=5"),
            ],
            "",
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let received = upstream.last_request();
    assert_eq!(received.header("x-secret"), None);
    assert_eq!(received.header("keep-alive"), None);
    assert_eq!(received.header("x-kept"), Some("forwarded"));
    assert_eq!(upstream.requests().len(), 1);
}
