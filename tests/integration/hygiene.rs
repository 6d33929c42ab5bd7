//! Issue 13, item 3: HTTP hygiene with edge defaults, as black-box attacks on the real HTTP
//! frontend in front of a real gRPC backend (and REST and SOAP services for the request id):
//! path normalization bypass attempts, header injection, request smuggling, oversized heads,
//! slowloris, HTTP/2 rapid reset, CORS, compression and the request id. Every case checks that
//! the gateway serves the next request.

use std::io::Read as _;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::http_server::Answer;
use crate::support::legacy::{answering, envelope11, gateway};
use crate::support::{bounded, test_backend, test_config, to_json, Gateway, GrpcServer};

/// Two routes to the same backend with different per-route options: `/v1/private/{name}`
/// (its own CORS policy with credentials, metadata `x-policy: private`) and
/// `/public/{path=**}` (metadata `x-policy: public`). A per-route option stands in for any
/// per-route policy: the one a request gets is the one of the route it reached.
const ROUTES: &str = r#"
http:
  rules:
    - selector: polygate.test.v1.Unannotated.Lookup
      get: /v1/private/{name}
      metadata: {x-policy: private}
      cors:
        allow_origins: ["https://app.example"]
        allow_methods: [GET]
        allow_credentials: true
    - selector: polygate.test.v1.Unannotated.Hidden
      get: /public/{name=**}
      metadata: {x-policy: public}
"#;

/// The default CORS policy of every other route.
const DEFAULTS: &str = "routes:\n  cors:\n    allow_origins: [\"*\"]\n";

async fn gateway_with(http: &str) -> (GrpcServer, Gateway) {
    let backend = test_backend().start().await;
    let config = test_config(
        &backend.url(),
        &format!("mappings: [routes.yaml]\n{DEFAULTS}"),
    )
    .replace(
        "http:\n  listen: 127.0.0.1:0\n",
        &format!("http:\n  listen: 127.0.0.1:0\n{http}"),
    );
    let gateway = Gateway::start(&config, &[("routes.yaml", ROUTES)]).await;
    (backend, gateway)
}

fn address(gateway: &Gateway) -> String {
    gateway
        .client
        .base()
        .trim_start_matches("http://")
        .to_owned()
}

/// Asserts that the gateway still serves an ordinary request.
async fn still_serving(gateway: &Gateway) {
    let response = gateway.client.get("/v1/echo/next").await;
    assert_eq!(response.status, 200, "{}", response.text());
}

/// Writes `request` on a new connection and reads until the gateway closes it.
async fn raw(gateway: &Gateway, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(gateway)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    bounded("the gateway closing the connection", async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&received).into_owned()
}

/// The status of the first answer in `answer`, and how many answers it holds.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| answer.get(at + 9..at + 12)?.parse().ok())
        .collect()
}

/// The JSON body of the last answer in `answer`.
fn body_json(answer: &str) -> serde_json::Value {
    let body = answer.rsplit("\r\n\r\n").next().unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn path_spellings_reach_the_route_of_their_normal_form_or_are_refused() {
    let (backend, gateway) = gateway_with("").await;
    // (path sent, the policy and name the backend sees) — normalized to the private route.
    let normalized = [
        ("/v1/private/x", "x"),
        ("/public/../v1/private/x", "x"),
        ("/public/%2e%2e/v1/private/x", "x"),
        ("/public/%2E%2e/v1/private/x", "x"),
        ("/public/.%2e/v1/private/x", "x"),
        ("/public/a/../../v1/private/x", "x"),
        ("/../../v1/private/x", "x"),
        ("/v1//private/x", "x"),
        ("//v1/private/x", "x"),
        ("/v1/./private/x", "x"),
        ("/v1/%70rivate/%78", "x"),
    ];
    for (path, name) in normalized {
        let answer = raw(&gateway, &get(path)).await;
        assert_eq!(statuses(&answer), [200], "{path}: {answer}");
        let call = backend.last_call();
        assert_eq!(call.metadata.get("x-policy").unwrap(), "private", "{path}");
        assert_eq!(to_json(call.message()), json!({"name": name}), "{path}");
    }
    // An encoded slash is data of the variable it falls in: it never reaches another route.
    let answer = raw(&gateway, &get("/public/..%2Fv1%2Fprivate%2Fx")).await;
    assert_eq!(statuses(&answer), [200], "{answer}");
    let call = backend.last_call();
    assert_eq!(call.metadata.get("x-policy").unwrap(), "public");
    assert_eq!(
        to_json(call.message()),
        json!({"name": "..%2Fv1%2Fprivate%2Fx"})
    );
    let calls = backend.calls().len();
    // Refused with 400 in the canonical error shape, the backend never called.
    let refused = [
        (
            "/v1/private/x%00",
            "the request path holds an encoded control character (%00-%1F or %7F)",
        ),
        (
            "/v1/private/x%0d%0ax-admin:%201",
            "the request path holds an encoded control character (%00-%1F or %7F)",
        ),
        (
            "/public%5c..%5cv1/private/x",
            "the request path holds a backslash (raw or %5C), which polygate refuses",
        ),
        (
            "/public\\..\\v1/private/x",
            "the request path holds a backslash (raw or %5C), which polygate refuses",
        ),
    ];
    for (path, message) in refused {
        let answer = raw(&gateway, &get(path)).await;
        assert_eq!(statuses(&answer), [400], "{path}: {answer}");
        assert_eq!(
            body_json(&answer),
            json!({"code": 3, "message": message, "details": []}),
            "{path}"
        );
    }
    // Routing is case-sensitive: another case is another (missing) route.
    let answer = raw(&gateway, &get("/V1/private/x")).await;
    assert_eq!(statuses(&answer), [404], "{answer}");
    assert_eq!(backend.calls().len(), calls);
    still_serving(&gateway).await;
}

#[tokio::test]
async fn encoded_slashes_are_refused_when_the_listener_says_so() {
    let (backend, gateway) = gateway_with("  escaped_slashes: reject\n").await;
    let answer = raw(&gateway, &get("/public/..%2Fv1%2Fprivate%2Fx")).await;
    assert_eq!(statuses(&answer), [400], "{answer}");
    assert_eq!(
        body_json(&answer),
        json!({"code": 3, "message": "the request path holds an encoded slash (%2F), which this listener refuses", "details": []})
    );
    assert!(backend.calls().is_empty());
    still_serving(&gateway).await;
}

#[tokio::test]
async fn cr_and_lf_cannot_be_smuggled_into_forwarded_values() {
    let (backend, gateway) = gateway_with("").await;
    let injections: [&[u8]; 3] = [
        // A bare CR inside a forwarded value.
        b"GET /v1/echo/a HTTP/1.1\r\nHost: gw\r\nGrpc-Metadata-Note: a\rx-admin: 1\r\n\r\n",
        // A value folded onto a second line (obs-fold).
        b"GET /v1/echo/a HTTP/1.1\r\nHost: gw\r\nx-request-id: abc\r\n x-admin: 1\r\n\r\n",
        // A NUL inside a value.
        b"GET /v1/echo/a HTTP/1.1\r\nHost: gw\r\nGrpc-Metadata-Note: a\x00b\r\n\r\n",
    ];
    for request in injections {
        let answer = raw(&gateway, request).await;
        assert_eq!(
            statuses(&answer),
            [400],
            "{}: {answer}",
            String::from_utf8_lossy(request)
        );
    }
    assert!(backend.calls().is_empty());
    // Encoded CR LF in the query is data of the field it binds, never a header.
    let response = gateway
        .client
        .get("/v1/echo/a?note=x%0D%0Ax-admin:%201")
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let call = backend.last_call();
    assert_eq!(call.metadata.get("x-admin"), None);
    assert_eq!(
        to_json(call.message()),
        json!({"name": "a", "note": "x\r\nx-admin: 1"})
    );
    still_serving(&gateway).await;
}

#[tokio::test]
async fn smuggling_shapes_are_400_and_close_their_connection_unserved() {
    let (backend, gateway) = gateway_with("").await;
    let smuggled = "GET /v1/echo/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n";
    let shapes = [
        // CL + TE, a smuggled request behind the chunked body.
        format!("POST /v1/echo HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
        // TE + CL, in the other order.
        format!("POST /v1/echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n{smuggled}"),
        // Content-Length twice, same value.
        format!("POST /v1/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{{}}{smuggled}"),
        // Content-Length twice, different values.
        format!("POST /v1/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nContent-Length: 50\r\n\r\n{{}}{smuggled}"),
        // A coding after chunked, and an unknown coding.
        format!("POST /v1/echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"),
        format!("POST /v1/echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"),
        // HTTP/1.0 with a coding.
        format!("POST /v1/echo HTTP/1.0\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
    ];
    for shape in &shapes {
        let answer = raw(&gateway, shape.as_bytes()).await;
        assert_eq!(statuses(&answer), [400], "{shape}\n---\n{answer}");
    }
    assert!(
        backend.calls().is_empty(),
        "the backend was called: {:?}",
        backend
            .calls()
            .iter()
            .map(|c| to_json(c.message()))
            .collect::<Vec<_>>()
    );
    // An honest chunked request followed by a pipelined one: both served.
    let honest = b"POST /v1/echo HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"name\":\"first\"}\r\n0\r\n\r\nGET /v1/echo/second HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n";
    let answer = raw(&gateway, honest).await;
    assert_eq!(statuses(&answer), [200, 200], "{answer}");
    assert_eq!(backend.calls().len(), 2);
    still_serving(&gateway).await;
}

#[tokio::test]
async fn heads_over_the_size_or_count_limit_are_431() {
    let (backend, gateway) = gateway_with("").await;
    // Default max_header_size is 64KiB: a 70KiB header is over it.
    let big = "b".repeat(70 << 10);
    let response = gateway
        .client
        .send("GET", "/v1/echo/big", &[("x-big", &big)], Bytes::new())
        .await;
    assert_eq!(response.status, 431);
    // Default max_headers is 100: 101 headers are over it.
    let mut many = String::from("GET /v1/echo/many HTTP/1.1\r\nHost: gw\r\n");
    for i in 0..100 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw(&gateway, many.as_bytes()).await;
    assert_eq!(statuses(&answer), [431], "{answer}");
    assert!(backend.calls().is_empty());
    still_serving(&gateway).await;
}

#[tokio::test]
async fn a_head_trickled_byte_by_byte_is_closed_at_the_header_timeout() {
    let (backend, gateway) = gateway_with("  header_read_timeout: 300ms\n").await;
    let mut slow = TcpStream::connect(address(&gateway)).await.unwrap();
    slow.write_all(b"GET /v1/echo/slowloris HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    bounded("the slow connection closed", async {
        loop {
            pace.tick().await;
            if slow.write_all(b"x").await.is_err() {
                return;
            }
            let mut byte = [0u8; 64];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => panic!(
                    "the gateway answered a head that never ended: {}",
                    String::from_utf8_lossy(&byte[..n])
                ),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(backend.calls().is_empty());
    still_serving(&gateway).await;
}

#[tokio::test]
async fn a_rapid_reset_flood_gets_goaway_while_another_client_is_served() {
    let (backend, gateway) = gateway_with("").await;
    // A second client, connected before the flood.
    let (mut other, other_connection) =
        h2::client::handshake(TcpStream::connect(address(&gateway)).await.unwrap())
            .await
            .unwrap();
    tokio::spawn(other_connection);

    // The flood, as raw HTTP/2 frames on one connection: HEADERS then RST_STREAM, 20,000 times,
    // written by one task while this one reads what the gateway answers.
    let flood = rapid_reset_frames(20_000);
    let stream = TcpStream::connect(address(&gateway)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        // The gateway closes the connection mid-flood: a write error is expected.
        let _ = writer.write_all(&flood).await;
        writer
    });
    let mut received = Vec::new();
    bounded("the flood's connection closing", async {
        let mut buffer = [0u8; 16 << 10];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    drop(writing.await.unwrap());
    let go_away = frames(&received)
        .into_iter()
        .find(|(kind, _)| *kind == 0x7)
        .map(|(_, payload)| u32::from_be_bytes(payload[4..8].try_into().unwrap()));
    assert_eq!(
        go_away,
        Some(u32::from(h2::Reason::ENHANCE_YOUR_CALM)),
        "no GOAWAY ENHANCE_YOUR_CALM in {} bytes",
        received.len()
    );
    // Streams reset before they are served never reach the backend: at most a handful did.
    let reached = backend.calls().len();
    assert!(reached < 100, "{reached} flood streams reached the backend");

    // The other connection is still served.
    other = other.ready().await.unwrap();
    let (response, _) = other
        .send_request(
            http::Request::get(format!("http://{}/v1/echo/other", address(&gateway)))
                .body(())
                .unwrap(),
            true,
        )
        .unwrap();
    let response = bounded("the other client's answer", response)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    still_serving(&gateway).await;
}

/// The client preface, an empty SETTINGS, then `count` streams each opened (HEADERS for
/// `GET /v1/echo/flood`, END_STREAM) and reset at once (RST_STREAM CANCEL).
fn rapid_reset_frames(count: u32) -> Vec<u8> {
    let frame = |out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
    };
    let path = b"/v1/echo/flood";
    // HPACK: :method GET (2), :scheme http (6), :authority "gw" and :path literal, not indexed.
    let mut headers = vec![0x82, 0x86, 0x01, 2, b'g', b'w', 0x04, path.len() as u8];
    headers.extend_from_slice(path);
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 0x4, 0, 0, &[]);
    for i in 0..count {
        let stream = 2 * i + 1;
        frame(&mut out, 0x1, 0x5, stream, &headers);
        frame(
            &mut out,
            0x3,
            0,
            stream,
            &u32::from(h2::Reason::CANCEL).to_be_bytes(),
        );
    }
    out
}

/// The (type, payload) of every whole HTTP/2 frame in `bytes`.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut found = Vec::new();
    while bytes.len() >= 9 {
        let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        if bytes.len() < 9 + length {
            break;
        }
        found.push((bytes[3], bytes[9..9 + length].to_vec()));
        bytes = &bytes[9 + length..];
    }
    found
}

#[tokio::test]
async fn cors_preflights_are_answered_by_the_gateway_per_route() {
    let (backend, gateway) = gateway_with("").await;
    let preflight = |path: &'static str, origin: &'static str, method: &'static str| {
        let client = gateway.client.clone();
        async move {
            client
                .send(
                    "OPTIONS",
                    path,
                    &[
                        ("origin", origin),
                        ("access-control-request-method", method),
                        (
                            "access-control-request-headers",
                            "content-type, x-request-id",
                        ),
                    ],
                    Bytes::new(),
                )
                .await
        }
    };
    // The route's own policy: an explicit origin, with credentials.
    let allowed = preflight("/v1/private/x", "https://app.example", "GET").await;
    assert_eq!(allowed.status, 204, "{}", allowed.text());
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(allowed.header("access-control-allow-methods"), Some("GET"));
    assert_eq!(
        allowed.header("access-control-allow-headers"),
        Some("content-type, authorization, x-api-key, x-request-id, grpc-timeout")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(allowed.header("access-control-max-age"), Some("600"));
    assert_eq!(allowed.header("vary"), Some("origin"));
    // The same route reached through another spelling gets the same policy.
    let spelled = preflight("/public/../v1/private/x", "https://app.example", "GET").await;
    assert_eq!(spelled.status, 204);
    // Another origin, or a method the route's policy does not allow: 403.
    let other = preflight("/v1/private/x", "https://evil.example", "GET").await;
    assert_eq!(other.status, 403);
    assert_eq!(
        other.json(),
        json!({"code": 7, "message": "CORS preflight refused: this origin may not call this route", "details": []})
    );
    assert_eq!(other.header("access-control-allow-origin"), None);
    // The default policy of the other routes: any origin, no credentials.
    let default = preflight("/v1/echo/x", "https://whoever.example", "PUT").await;
    assert_eq!(default.status, 204);
    assert_eq!(default.header("access-control-allow-origin"), Some("*"));
    assert_eq!(default.header("access-control-allow-credentials"), None);
    // A preflight for a path with no route: 404.
    let nowhere = preflight("/v1/nowhere", "https://app.example", "GET").await;
    assert_eq!(nowhere.status, 404);
    // Preflights never reach the backend.
    assert!(backend.calls().is_empty());

    // The actual request: answered with the route's headers.
    let actual = gateway
        .client
        .send(
            "GET",
            "/v1/private/x",
            &[("origin", "https://app.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(actual.status, 200);
    assert_eq!(
        actual.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        actual.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        actual.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    let foreign = gateway
        .client
        .send(
            "GET",
            "/v1/private/x",
            &[("origin", "https://evil.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(foreign.status, 200);
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    assert_eq!(backend.calls().len(), 2);
    still_serving(&gateway).await;
}

#[tokio::test]
async fn answers_are_compressed_as_the_client_asks_but_streams_are_not() {
    let (_backend, gateway) = gateway_with("").await;
    let long = "polygate ".repeat(500);
    let body = json!({"name": long}).to_string();
    let send = |encoding: &'static str| {
        let (client, body) = (gateway.client.clone(), body.clone());
        async move {
            let mut headers = vec![("content-type", "application/json")];
            if !encoding.is_empty() {
                headers.push(("accept-encoding", encoding));
            }
            client.send("POST", "/v1/echo", &headers, body).await
        }
    };
    let plain = send("").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));

    let gzip = send("gzip").await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(gzip.header("vary"), Some("accept-encoding"));
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&gzip.body[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, plain.body);
    assert!(gzip.body.len() < plain.body.len() / 10);

    let br = send("gzip;q=0.8, br").await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    let mut inflated = Vec::new();
    brotli::BrotliDecompress(&mut &br.body[..], &mut inflated).unwrap();
    assert_eq!(inflated, plain.body);

    let refused = send("br;q=0, gzip;q=0").await;
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.body, plain.body);

    // An NDJSON stream is never compressed: each line goes out as it comes.
    let stream = gateway
        .client
        .send(
            "GET",
            &format!("/v1/list/{}", "s".repeat(2000)),
            &[("accept-encoding", "gzip, br")],
            Bytes::new(),
        )
        .await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    assert_eq!(stream.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(stream.header("content-encoding"), None);
    assert!(!stream.json_lines().is_empty());
    still_serving(&gateway).await;
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[tokio::test]
async fn the_request_id_is_generated_kept_or_replaced_and_reaches_the_grpc_backend() {
    let (backend, gateway) = gateway_with("").await;
    // None sent: one is generated, answered and forwarded.
    let made = gateway.client.get("/v1/echo/a").await;
    let id = made.header("x-request-id").unwrap().to_owned();
    assert!(is_uuid(&id), "{id}");
    assert_eq!(
        backend.last_call().metadata.get("x-request-id").unwrap(),
        &id
    );
    let again = gateway.client.get("/v1/echo/a").await;
    assert_ne!(again.header("x-request-id").unwrap(), id);

    // A well-formed one is kept.
    let kept = gateway
        .client
        .send(
            "GET",
            "/v1/echo/a",
            &[("x-request-id", "req-42.a:b")],
            Bytes::new(),
        )
        .await;
    assert_eq!(kept.header("x-request-id"), Some("req-42.a:b"));
    assert_eq!(
        backend.last_call().metadata.get("x-request-id").unwrap(),
        "req-42.a:b"
    );

    // A malformed one is replaced by a generated one, on answers and backend calls alike.
    for malformed in ["has space", "semi;colon", &"x".repeat(129)] {
        let replaced = gateway
            .client
            .send(
                "GET",
                "/v1/echo/a",
                &[("x-request-id", malformed)],
                Bytes::new(),
            )
            .await;
        assert_eq!(replaced.status, 200);
        let id = replaced.header("x-request-id").unwrap();
        assert!(is_uuid(id), "{id}");
        assert_eq!(
            backend.last_call().metadata.get("x-request-id").unwrap(),
            id
        );
    }

    // Errors carry it too, before routing and after.
    let missing = gateway.client.get("/v1/nowhere").await;
    assert_eq!(missing.status, 404);
    assert!(is_uuid(missing.header("x-request-id").unwrap()));
    let refused = raw(&gateway, &get("/v1/echo/a%00")).await;
    assert!(
        refused.to_ascii_lowercase().contains("x-request-id: "),
        "{refused}"
    );
    still_serving(&gateway).await;
}

#[tokio::test]
async fn a_malformed_request_id_is_refused_when_the_listener_says_so() {
    let (backend, gateway) = gateway_with("  malformed_request_id: reject\n").await;
    let refused = gateway
        .client
        .send(
            "GET",
            "/v1/echo/a",
            &[("x-request-id", "has space")],
            Bytes::new(),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json(),
        json!({"code": 3, "message": "X-Request-Id must be 1 to 128 characters of A-Z a-z 0-9 - _ . : + / =", "details": []})
    );
    assert!(is_uuid(refused.header("x-request-id").unwrap()));
    assert!(backend.calls().is_empty());
    still_serving(&gateway).await;
}

#[tokio::test]
async fn rest_and_soap_backends_receive_the_request_id_as_a_header() {
    let rest = answering(Answer::json(json!({"ok": true}))).await;
    let soap = answering(Answer::xml(envelope11(
        r#"<AddResponse xmlns="http://tempuri.org/"><AddResult>5</AddResult></AddResponse>"#,
    )))
    .await;
    let backends = format!(
        "  users:\n    rest:\n      url: {}\n  calc:\n    soap:\n      url: {}/calc.asmx\n",
        rest.url(),
        soap.url()
    );
    let mapping = "xml_mapping:\n  default_namespace: http://tempuri.org/\nroutes:\n  - get: /v1/users/{id}\n    backend: users\n    rest: {path: \"/api/users/{id}\"}\n  - post: /v1/calc/add\n    backend: calc\n    body: \"*\"\n    soap:\n      operation: Add\n      action: http://tempuri.org/Add\n";
    let gateway = gateway(&backends, mapping).await;

    let answer = gateway.client.get("/v1/users/7").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let id = answer.header("x-request-id").unwrap();
    assert!(is_uuid(id), "{id}");
    assert_eq!(rest.last_request().header("x-request-id"), Some(id));

    let answer = gateway
        .client
        .send(
            "POST",
            "/v1/calc/add",
            &[
                ("content-type", "application/json"),
                ("x-request-id", "soap-1"),
            ],
            r#"{"intA": 2, "intB": 3}"#,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-request-id"), Some("soap-1"));
    assert_eq!(soap.last_request().header("x-request-id"), Some("soap-1"));
}

#[tokio::test]
async fn a_websocket_upgrade_answers_with_its_request_id_and_its_calls_forward_it() {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::Message;

    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "websocket: {}\n").await;
    for sent in [Some("ws-7"), None] {
        let mut request = format!("ws://{}/ws", gateway.addr("http"))
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", "polygate.v1".parse().unwrap());
        if let Some(id) = sent {
            headers.insert("x-request-id", id.parse().unwrap());
        }
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        match sent {
            Some(sent) => assert_eq!(id, sent),
            None => assert!(is_uuid(&id), "{id}"),
        }
        socket
            .send(Message::text(json!({"type": "init"}).to_string()))
            .await
            .unwrap();
        let ack = read_text(&mut socket).await;
        assert_eq!(ack, json!({"type": "init_ack"}));
        socket
            .send(Message::text(
                json!({"type": "call", "id": "c", "method": "GET", "path": "/v1/echo/ws"})
                    .to_string(),
            ))
            .await
            .unwrap();
        let answer = read_text(&mut socket).await;
        assert_eq!(answer["id"], "c", "{answer}");
        assert_eq!(
            backend.last_call().metadata.get("x-request-id").unwrap(),
            id.as_str()
        );
    }
    still_serving(&gateway).await;
}

/// The next text message on `socket`, as JSON.
async fn read_text<S>(socket: &mut S) -> serde_json::Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt as _;
    loop {
        match bounded("a WebSocket message", socket.next()).await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                return serde_json::from_str(&text).unwrap()
            }
            Some(Ok(_)) => continue,
            other => panic!("the socket ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn credentials_with_any_origin_are_refused_when_the_config_loads() {
    let backend = test_backend().start().await;
    let dir = crate::support::scratch_dir();
    let mapping = "http:\n  rules:\n    - selector: polygate.test.v1.Unannotated.Lookup\n      get: /v1/private/{name}\n      cors: {allow_origins: [\"*\"], allow_credentials: true}\n";
    std::fs::write(dir.join("routes.yaml"), mapping).unwrap();
    let config = test_config(&backend.url(), "mappings: [routes.yaml]\n");
    std::fs::write(dir.join("polygate.yaml"), config).unwrap();
    let config = polygate::config::Config::from_file(&dir.join("polygate.yaml")).unwrap();
    let errors = match polygate::app::build(&config).await {
        Ok(_) => panic!("a config with credentials for any origin was accepted"),
        Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    assert!(
        errors
            .iter()
            .any(|e| e
                .contains("cors.allow_credentials needs an explicit allow_origins list, not '*'")),
        "{errors:?}"
    );
}
