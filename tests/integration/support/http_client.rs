//! A real HTTP/1.1 client (hyper) with helpers that read whole answers, trailers included.

#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An answer, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl TestResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("UTF-8 body")
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    /// Each NDJSON line as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
            .collect()
    }
}

/// A client for one base URL.
#[derive(Clone)]
pub struct Client {
    base: String,
    inner: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    /// Headers sent with every request (e.g. the demo's API key).
    always: Vec<(String, String)>,
}

impl Client {
    /// A client sending to `base` (`http://host:port`).
    pub fn new(base: String) -> Self {
        Self {
            base,
            inner: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http(),
            always: Vec::new(),
        }
    }

    /// This client, sending `name: value` with every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.always.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(format!("{}{path}", self.base))
            .body(Full::new(body.into()))
            .unwrap();
        let always = self.always.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in headers.iter().copied().chain(always) {
            request.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let response = self
            .inner
            .request(request)
            .await
            .expect("the gateway answers");
        let (parts, body) = response.into_parts();
        #[allow(
            clippy::disallowed_methods,
            reason = "a test client reads whole what the gateway under test answers"
        )]
        let collected = body.collect().await.expect("the body arrives");
        let trailers = collected.trailers().cloned();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: collected.to_bytes(),
            trailers,
        }
    }

    /// Sends a request and returns the answer's head with its body still to read.
    pub async fn open(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> http::Response<hyper::body::Incoming> {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let always = self.always.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in headers.iter().copied().chain(always) {
            request.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        self.inner
            .request(request)
            .await
            .expect("the gateway answers")
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// `method path` with a JSON body.
    pub async fn json(&self, method: &str, path: &str, body: serde_json::Value) -> TestResponse {
        self.send(
            method,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }
}
