//! A real gRPC server (tonic's server over hyper's HTTP/2) for any services in a descriptor
//! pool, with handlers written against `DynamicMessage`: the demo backend and the test backends.
//!
//! Every call is recorded (method, metadata, decoded request messages) so tests can assert
//! exactly what reached the backend.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut};
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};

/// One call as the backend received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method called.
    pub method: MethodDescriptor,
    /// The request metadata.
    pub metadata: MetadataMap,
    /// The request messages, decoded.
    pub messages: Vec<DynamicMessage>,
}

impl Call {
    /// The only request message (unary and server-streaming calls).
    pub fn message(&self) -> &DynamicMessage {
        &self.messages[0]
    }
}

/// A handler's answer: response metadata, the messages (an `Err` ends the stream), and
/// trailing metadata sent with a successful end.
pub struct Reply {
    pub metadata: MetadataMap,
    pub messages: Vec<Result<DynamicMessage, Status>>,
    pub trailers: MetadataMap,
}

impl Reply {
    /// One message.
    pub fn one(message: DynamicMessage) -> Self {
        Self {
            metadata: MetadataMap::new(),
            messages: vec![Ok(message)],
            trailers: MetadataMap::new(),
        }
    }

    /// A stream of messages, ended by `error` when given.
    pub fn stream(messages: Vec<DynamicMessage>, error: Option<Status>) -> Self {
        let mut items: Vec<Result<DynamicMessage, Status>> = messages.into_iter().map(Ok).collect();
        items.extend(error.map(Err));
        Self {
            metadata: MetadataMap::new(),
            messages: items,
            trailers: MetadataMap::new(),
        }
    }
}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, Status>> + Send>>;
/// A method implementation.
pub type Handler = Arc<dyn Fn(Call) -> HandlerFuture + Send + Sync>;

/// A stream of messages, in or out of a live call.
pub type MessageStream = futures_util::stream::BoxStream<'static, Result<DynamicMessage, Status>>;

/// A call served live: the request messages as they arrive, so that answers can interleave
/// with them (a chat) and the call can run until the client cancels it.
pub struct LiveCall {
    /// The method called.
    pub method: MethodDescriptor,
    /// The request metadata.
    pub metadata: MetadataMap,
    /// The request messages, as they arrive.
    pub messages: MessageStream,
}

/// A live method implementation: answers with a stream; dropping it is how a cancelled call
/// is seen.
pub type LiveHandler = Arc<dyn Fn(LiveCall) -> MessageStream + Send + Sync>;

/// A running server.
pub struct GrpcServer {
    pub addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    cancelled: Arc<CancelledStreams>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl GrpcServer {
    /// Every call received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The most recent call.
    pub fn last_call(&self) -> Call {
        self.calls
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the backend received no call")
    }

    /// Waits until `count` answer streams were dropped before they ended (the client cancelled
    /// them), and returns how many were.
    pub async fn streams_cancelled(&self, count: usize) -> usize {
        loop {
            let notified = self.cancelled.changed.notified();
            let now = self
                .cancelled
                .count
                .load(std::sync::atomic::Ordering::SeqCst);
            if now >= count {
                return now;
            }
            notified.await;
        }
    }

    /// Waits until the server's answers have handed no message to the transport for `quiet`
    /// (flow control holds every stream), and returns how many they handed over in all.
    pub async fn messages_sent_settled(&self, quiet: std::time::Duration) -> usize {
        loop {
            let notified = self.cancelled.changed.notified();
            if tokio::time::timeout(quiet, notified).await.is_err() {
                return self
                    .cancelled
                    .sent
                    .load(std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    /// Waits until the server's answers handed at least `count` messages to the transport (which
    /// takes them only as HTTP/2 flow control allows).
    pub async fn messages_sent(&self, count: usize) -> usize {
        loop {
            let notified = self.cancelled.changed.notified();
            let now = self
                .cancelled
                .sent
                .load(std::sync::atomic::Ordering::SeqCst);
            if now >= count {
                return now;
            }
            notified.await;
        }
    }

    /// How many connections the server has accepted.
    pub fn connections_accepted(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `http://addr`, or `https://localhost:port` when serving TLS.
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// Stops accepting and closes the listener and every connection.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Builds a server for the services in `pool`.
pub struct GrpcServerBuilder {
    pool: DescriptorPool,
    handlers: HashMap<String, Handler>,
    live: HashMap<String, LiveHandler>,
    reflection: Option<Vec<u8>>,
    reflection_v1: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    health: Option<ReflectionService>,
}

impl GrpcServerBuilder {
    /// Serves every service in `pool`; methods without a handler echo their request when the
    /// types match and answer an empty message otherwise.
    pub fn new(pool: DescriptorPool) -> Self {
        Self {
            pool,
            handlers: HashMap::new(),
            live: HashMap::new(),
            reflection: None,
            reflection_v1: true,
            tls: None,
            health: None,
        }
    }

    /// Also serves the gRPC health protocol (`grpc.health.v1.Health`, tonic-health's
    /// implementation) with the statuses `reporter` sets.
    pub fn with_health(mut self, reporter: &tonic_health::server::HealthReporter) -> Self {
        let service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
        );
        self.health = Some(ReflectionService::new(service));
        self
    }

    /// Implements `method` (`pkg.Service/Method` or `pkg.Service.Method`).
    pub fn handle<F, Fut>(mut self, method: &str, handler: F) -> Self
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, Status>> + Send + 'static,
    {
        let key = method.replace('/', ".");
        self.handlers
            .insert(key, Arc::new(move |call| Box::pin(handler(call))));
        self
    }

    /// Implements `method` live: the handler gets the request messages as they arrive and
    /// answers with a stream (the call is recorded with its metadata, and no messages).
    pub fn handle_live<F>(mut self, method: &str, handler: F) -> Self
    where
        F: Fn(LiveCall) -> MessageStream + Send + Sync + 'static,
    {
        self.live
            .insert(method.replace('/', "."), Arc::new(handler));
        self
    }

    /// Also answers gRPC server reflection (v1 and v1alpha) with the pool's files.
    pub fn with_reflection(mut self) -> Self {
        self.reflection = Some(self.pool.encode_to_vec());
        self
    }

    /// Answers reflection only in its older v1alpha form, as many deployed servers do.
    pub fn with_reflection_v1alpha_only(mut self) -> Self {
        self.reflection_v1 = false;
        self.with_reflection()
    }

    /// Serves TLS (ALPN h2) with this certificate chain and key, both PEM.
    pub fn with_tls(mut self, cert_chain_pem: &str, key_pem: &str) -> Self {
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
        config.alpn_protocols = vec![b"h2".to_vec()];
        self.tls = Some(Arc::new(config));
        self
    }

    /// Starts serving on an ephemeral loopback port; ready when this returns.
    pub async fn start(self) -> GrpcServer {
        self.start_on("127.0.0.1:0").await.expect("a loopback port")
    }

    /// Starts serving on `addr`.
    pub async fn start_on(self, addr: &str) -> std::io::Result<GrpcServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let cancelled = Arc::new(CancelledStreams::default());
        let mut methods = HashMap::new();
        for service in self.pool.services() {
            for method in service.methods() {
                methods.insert(
                    format!("/{}/{}", service.full_name(), method.name()),
                    method,
                );
            }
        }
        let reflection = self.reflection.map(|encoded| {
            let v1 = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(&encoded)
                .build_v1()
                .expect("reflection v1 service");
            let v1alpha = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(&encoded)
                .build_v1alpha()
                .expect("reflection v1alpha service");
            (ReflectionService::new(v1), ReflectionService::new(v1alpha))
        });
        let state = Arc::new(State {
            methods,
            handlers: self.handlers,
            live: self.live,
            calls: calls.clone(),
            cancelled: cancelled.clone(),
            reflection,
            reflection_v1: self.reflection_v1,
            health: self.health,
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = connections.clone();
        let tls = self.tls.map(tokio_rustls::TlsAcceptor::from);
        let serves_tls = tls.is_some();
        let task = tokio::spawn(async move {
            let builder =
                hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http2_only();
            // Stopping closes every connection too, as a crashed server would.
            let mut connections: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    _ = &mut stopped => break,
                };
                let state = state.clone();
                let service =
                    hyper::service::service_fn(move |request: http::Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.dispatch(request).await) }
                    });
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let builder = builder.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
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
                while connections.try_join_next().is_some() {}
            }
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        });
        Ok(GrpcServer {
            addr,
            calls,
            cancelled,
            connections,
            tls: serves_tls,
            stop: Some(stop),
            task,
        })
    }
}

type ReflectionService = tower::util::BoxCloneSyncService<
    http::Request<Incoming>,
    http::Response<tonic::body::Body>,
    Infallible,
>;

/// Answer streams dropped before their end, answer messages handed to the transport, and a
/// signal when either changes.
#[derive(Default)]
struct CancelledStreams {
    count: std::sync::atomic::AtomicUsize,
    sent: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

/// An answer stream that counts itself cancelled when dropped before its end.
struct Answer {
    messages: std::vec::IntoIter<Result<DynamicMessage, Status>>,
    cancelled: Arc<CancelledStreams>,
}

impl futures_util::Stream for Answer {
    type Item = Result<DynamicMessage, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = self.messages.next();
        if next.is_some() {
            self.cancelled
                .sent
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.cancelled.changed.notify_waiters();
        }
        std::task::Poll::Ready(next)
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if self.messages.len() > 0 {
            self.cancelled
                .count
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.cancelled.changed.notify_waiters();
        }
    }
}

struct State {
    methods: HashMap<String, MethodDescriptor>,
    handlers: HashMap<String, Handler>,
    live: HashMap<String, LiveHandler>,
    calls: Arc<Mutex<Vec<Call>>>,
    cancelled: Arc<CancelledStreams>,
    reflection: Option<(ReflectionService, ReflectionService)>,
    reflection_v1: bool,
    health: Option<ReflectionService>,
}

impl State {
    async fn dispatch(
        self: Arc<Self>,
        request: http::Request<Incoming>,
    ) -> http::Response<tonic::body::Body> {
        use tower::Service as _;
        let path = request.uri().path().to_owned();
        if let Some(health) = self
            .health
            .as_ref()
            .filter(|_| path.starts_with("/grpc.health.v1."))
        {
            return health
                .clone()
                .call(request)
                .await
                .unwrap_or_else(|e| match e {});
        }
        if let Some((v1, v1alpha)) = &self.reflection {
            if path.starts_with("/grpc.reflection.v1.") && self.reflection_v1 {
                return v1
                    .clone()
                    .call(request)
                    .await
                    .unwrap_or_else(|e| match e {});
            }
            if path.starts_with("/grpc.reflection.v1alpha.") {
                return v1alpha
                    .clone()
                    .call(request)
                    .await
                    .unwrap_or_else(|e| match e {});
            }
        }
        let Some(method) = self.methods.get(&path).cloned() else {
            return Status::unimplemented(format!("no method {path}")).into_http();
        };
        let codec = DynamicCodec {
            input: method.input(),
        };
        let mut grpc = tonic::server::Grpc::new(codec);
        let state = self.clone();
        let service = tower::service_fn(move |request: Request<Streaming<DynamicMessage>>| {
            let state = state.clone();
            let method = method.clone();
            async move { state.run(method, request).await }
        });
        grpc.streaming(service, request).await
    }

    async fn run(
        &self,
        method: MethodDescriptor,
        request: Request<Streaming<DynamicMessage>>,
    ) -> Result<
        Response<futures_util::stream::BoxStream<'static, Result<DynamicMessage, Status>>>,
        Status,
    > {
        let metadata = request.metadata().clone();
        if let Some(live) = self.live.get(method.full_name()) {
            self.calls.lock().unwrap().push(Call {
                method: method.clone(),
                metadata: metadata.clone(),
                messages: Vec::new(),
            });
            let messages = request.into_inner().boxed();
            return Ok(Response::new(live(LiveCall {
                method,
                metadata,
                messages,
            })));
        }
        let mut incoming = request.into_inner();
        let mut messages = Vec::new();
        while let Some(message) = incoming.next().await {
            messages.push(message?);
        }
        let call = Call {
            method: method.clone(),
            metadata,
            messages,
        };
        self.calls.lock().unwrap().push(call.clone());
        let reply = match self.handlers.get(method.full_name()) {
            Some(handler) => handler(call).await?,
            None if method.input() == method.output() => Reply {
                metadata: MetadataMap::new(),
                messages: call.messages.into_iter().map(Ok).collect(),
                trailers: MetadataMap::new(),
            },
            None => Reply::one(DynamicMessage::new(method.output())),
        };
        let mut messages = reply.messages;
        if !reply.trailers.is_empty() {
            // tonic sends the metadata of the status that ends a stream as trailers, OK included.
            messages.push(Err(Status::with_metadata(Code::Ok, "", reply.trailers)));
        }
        let answer = Answer {
            messages: messages.into_iter(),
            cancelled: self.cancelled.clone(),
        };
        let mut response = Response::new(answer.boxed());
        *response.metadata_mut() = reply.metadata;
        Ok(response)
    }
}

/// tonic codec over `DynamicMessage`.
struct DynamicCodec {
    input: MessageDescriptor,
}

struct DynamicEncoder;
struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.input.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let mut bytes = Vec::with_capacity(item.encoded_len());
        item.encode(&mut bytes)
            .map_err(|e| Status::internal(e.to_string()))?;
        dst.put_slice(&bytes);
        Ok(())
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        DynamicMessage::decode(self.0.clone(), bytes)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("undecodable request: {e}")))
    }
}

/// A status carrying `google.rpc.Status` details, each given as (type name, encoded message).
pub fn status_with_details(code: Code, message: String, details: &[(&str, Vec<u8>)]) -> Status {
    let status = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: details
            .iter()
            .map(|(type_name, value)| Any {
                type_url: format!("type.googleapis.com/{type_name}"),
                value: value.clone(),
            })
            .collect(),
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}
