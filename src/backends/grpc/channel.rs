//! One shared HTTP/2 connection per gRPC backend: connected lazily, reused by every call, and
//! replaced when it breaks, so a backend that comes back is used again without a restart.
//!
//! Calls use the h2 crate directly: a call's future sends its request and reads its answer on
//! the connection's shared stream state itself, with no task spawned per call (hyper's client
//! spawns one or two per request, and hands each through a channel).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use h2::client::SendRequest;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::config::{GrpcEndpoint, TlsSettings};
use crate::model::Status;

/// How often an idle connection is checked with a PING, and how long the PONG may take.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A live connection: the handle calls open streams on, and whether it has ended.
struct Connection {
    sender: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

/// A lazily connected, self-healing HTTP/2 connection to one backend.
pub(crate) struct Channel {
    backend: Arc<str>,
    endpoint: GrpcEndpoint,
    current: ArcSwapOption<Connection>,
    connecting: tokio::sync::Mutex<()>,
}

impl Channel {
    pub(crate) fn new(backend: Arc<str>, endpoint: GrpcEndpoint) -> Self {
        Self {
            backend,
            endpoint,
            current: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The authority to put in requests.
    pub(crate) fn authority(&self) -> &http::uri::Authority {
        &self.endpoint.authority
    }

    /// The scheme to put in requests.
    pub(crate) fn scheme(&self) -> &http::uri::Scheme {
        &self.endpoint.scheme
    }

    /// A handle on a live connection, connecting first when there is none.
    pub(crate) async fn sender(&self) -> Result<SendRequest<Bytes>, Status> {
        if let Some(sender) = self.live() {
            return Ok(sender);
        }
        let _single_flight = self.connecting.lock().await;
        if let Some(sender) = self.live() {
            return Ok(sender);
        }
        // Boxed: connecting (TCP, TLS, HTTP/2 handshakes) is rare but its future is large, and
        // every call's future would otherwise carry its size.
        let connection = Box::pin(self.connect()).await?;
        let sender = connection.sender.clone();
        self.current.store(Some(Arc::new(connection)));
        Ok(sender)
    }

    fn live(&self) -> Option<SendRequest<Bytes>> {
        let current = self.current.load();
        let connection = current.as_deref()?;
        (!connection.closed.load(Ordering::Acquire)).then(|| connection.sender.clone())
    }

    /// Forgets the connection, so that the next call connects again.
    pub(crate) fn discard(&self) {
        if let Some(connection) = self.current.swap(None) {
            connection.closed.store(true, Ordering::Release);
        }
    }

    async fn connect(&self) -> Result<Connection, Status> {
        let endpoint = &self.endpoint;
        let connect = async {
            let tcp = TcpStream::connect(endpoint.socket_address.as_str())
                .await
                .map_err(|e| {
                    self.unreachable(format!(
                        "cannot connect to {}: {e}",
                        endpoint.socket_address
                    ))
                })?;
            let _ = tcp.set_nodelay(true);
            match &endpoint.tls {
                None => self.handshake(tcp).await,
                Some(tls) => {
                    let stream = self.tls_connect(tls, tcp).await?;
                    self.handshake(stream).await
                }
            }
        };
        match tokio::time::timeout(endpoint.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(self.unreachable(format!(
                "connecting to {} took longer than {:?}",
                endpoint.socket_address, endpoint.connect_timeout
            ))),
        }
    }

    async fn tls_connect(
        &self,
        tls: &TlsSettings,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Status> {
        let server_name = ServerName::try_from(tls.server_name.clone())
            .map_err(|e| self.unreachable(format!("invalid TLS server name: {e}")))?;
        tokio_rustls::TlsConnector::from(tls.client_config.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|e| self.unreachable(format!("TLS handshake failed: {e}")))
    }

    async fn handshake<I>(&self, io: I) -> Result<Connection, Status>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, mut connection) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .max_concurrent_reset_streams(1024)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| self.unreachable(format!("HTTP/2 handshake failed: {e}")))?;
        let closed = Arc::new(AtomicBool::new(false));
        let ended = closed.clone();
        let backend = self.backend.clone();
        let ping_pong = connection.ping_pong();
        tokio::spawn(async move {
            let keepalive = async move {
                match ping_pong {
                    Some(ping_pong) => keepalive(ping_pong).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = &mut connection => {
                    if let Err(error) = result {
                        tracing::debug!(%backend, %error, "gRPC backend connection closed");
                    }
                }
                () = keepalive => tracing::debug!(%backend, "gRPC backend stopped answering PINGs"),
            }
            ended.store(true, Ordering::Release);
        });
        Ok(Connection { sender, closed })
    }

    pub(crate) fn unreachable(&self, detail: String) -> Status {
        Status::unavailable(format!(
            "backend '{}' is unreachable: {detail}",
            self.backend
        ))
    }
}

/// Returns when the peer stops answering PINGs (or the connection ends).
async fn keepalive(mut ping_pong: h2::PingPong) {
    loop {
        tokio::time::sleep(KEEPALIVE_INTERVAL).await;
        if ping_pong.send_ping(h2::Ping::opaque()).is_err() {
            return;
        }
        let pong = std::future::poll_fn(|cx| ping_pong.poll_pong(cx));
        match tokio::time::timeout(KEEPALIVE_TIMEOUT, pong).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
}
