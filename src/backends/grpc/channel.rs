//! One shared HTTP/2 connection per gRPC backend: connected lazily, reused by every call, and
//! replaced when it breaks, so a backend that comes back is used again without a restart.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::body::GrpcRequestBody;
use super::config::{GrpcEndpoint, TlsSettings};
use crate::model::Status;

type Sender = SendRequest<GrpcRequestBody>;

/// A lazily connected, self-healing HTTP/2 connection to one backend.
pub(crate) struct Channel {
    backend: Arc<str>,
    endpoint: GrpcEndpoint,
    current: ArcSwapOption<Sender>,
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

    /// A sender on a live connection, connecting first when there is none.
    pub(crate) async fn sender(&self) -> Result<Sender, Status> {
        if let Some(sender) = self.current.load().as_deref() {
            if !sender.is_closed() {
                return Ok(sender.clone());
            }
        }
        let _single_flight = self.connecting.lock().await;
        if let Some(sender) = self.current.load().as_deref() {
            if !sender.is_closed() {
                return Ok(sender.clone());
            }
        }
        let sender = self.connect().await?;
        self.current.store(Some(Arc::new(sender.clone())));
        Ok(sender)
    }

    /// Forgets `broken` so that the next call connects again.
    pub(crate) fn discard_if_closed(&self) {
        if let Some(sender) = self.current.load().as_deref() {
            if sender.is_closed() {
                self.current.store(None);
            }
        }
    }

    async fn connect(&self) -> Result<Sender, Status> {
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
                None => self.handshake(TokioIo::new(tcp)).await,
                Some(tls) => {
                    let stream = self.tls_connect(tls, tcp).await?;
                    self.handshake(TokioIo::new(stream)).await
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

    async fn handshake<I>(&self, io: I) -> Result<Sender, Status>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .handshake(io)
            .await
            .map_err(|e| self.unreachable(format!("HTTP/2 handshake failed: {e}")))?;
        let backend = self.backend.clone();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%backend, %error, "gRPC backend connection closed");
            }
        });
        Ok(sender)
    }

    pub(crate) fn unreachable(&self, detail: String) -> Status {
        Status::unavailable(format!(
            "backend '{}' is unreachable: {detail}",
            self.backend
        ))
    }
}
