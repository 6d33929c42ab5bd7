//! A small HTTP server for the demo's legacy services and the integration tests: HTTP/1.1 and
//! h2c on one port (optionally TLS), every request recorded, answers from an async handler.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query.
    pub target: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 request body")
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Never answer (for timeout tests): the connection stays open until the client gives up.
    pub hang: bool,
}

impl Answer {
    /// `status` with a `Content-Type` and a body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            hang: false,
        }
    }

    /// 200 `text/xml; charset=utf-8`.
    pub fn xml(body: impl Into<Bytes>) -> Self {
        Self::new(200, "text/xml; charset=utf-8", body)
    }

    /// 200 `application/json`.
    pub fn json(body: serde_json::Value) -> Self {
        Self::new(200, "application/json", body.to_string())
    }

    /// The same answer with another status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same answer with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// An answer that never comes.
    pub fn hang() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Bytes::new(),
            hang: true,
        }
    }
}

type Handler = Arc<dyn Fn(Recorded) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

/// A running server.
pub struct HttpServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Serves `handler` on an ephemeral loopback port; ready when this returns.
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Recorded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        Self::start_on("127.0.0.1:0", None, handler)
            .await
            .expect("a loopback port")
    }

    /// Serves `handler` over TLS (ALPN h2 and http/1.1) with a PEM certificate chain and key.
    pub async fn start_tls<F, Fut>(cert_chain_pem: &str, key_pem: &str, handler: F) -> Self
    where
        F: Fn(Recorded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
                .map(|c| c.expect("PEM certificate"))
                .collect();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("PEM key");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key match");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Self::start_on("127.0.0.1:0", Some(Arc::new(config)), handler)
            .await
            .expect("a loopback port")
    }

    /// Serves `handler` on `addr`.
    pub async fn start_on<F, Fut>(
        addr: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: F,
    ) -> std::io::Result<Self>
    where
        F: Fn(Recorded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |request| Box::pin(handler(request)));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let recorded = requests.clone();
        let accepted = connections.clone();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let serves_tls = acceptor.is_some();
        let task = tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let mut open: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    _ = &mut stopped => break,
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let recorded = recorded.clone();
                let service =
                    hyper::service::service_fn(move |request: http::Request<Incoming>| {
                        let handler = handler.clone();
                        let recorded = recorded.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            #[allow(
                                clippy::disallowed_methods,
                                reason = "a test server reads whole what its test sends"
                            )]
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let request = Recorded {
                                method: parts.method,
                                target: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.as_str().to_owned())
                                    .unwrap_or_default(),
                                version: parts.version,
                                headers: parts.headers,
                                body,
                            };
                            recorded.lock().unwrap().push(request.clone());
                            let answer = handler(request).await;
                            if answer.hang {
                                std::future::pending::<()>().await;
                            }
                            let mut response = http::Response::new(Full::new(answer.body));
                            *response.status_mut() =
                                http::StatusCode::from_u16(answer.status).unwrap();
                            for (name, value) in answer.headers {
                                response.headers_mut().append(
                                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                                    http::HeaderValue::from_str(&value).unwrap(),
                                );
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                let builder = builder.clone();
                let acceptor = acceptor.clone();
                open.spawn(async move {
                    match acceptor {
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
                while open.try_join_next().is_some() {}
            }
            open.abort_all();
            while open.join_next().await.is_some() {}
        });
        Ok(Self {
            addr,
            requests,
            connections,
            tls: serves_tls,
            stop: Some(stop),
            task,
        })
    }

    /// `http://addr` (or `https://localhost:port` over TLS).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Recorded {
        self.requests()
            .last()
            .cloned()
            .expect("the server received no request")
    }

    /// How many connections the server has accepted.
    pub fn connections_accepted(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
