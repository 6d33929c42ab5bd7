//! The HTTP/2 connections of a gRPC backend: a small pool (one by default), each connected
//! lazily, shared by every call, and replaced when it breaks, so a backend that comes back is
//! used again without a restart. Calls are spread over the pool round-robin, so no connection's
//! flow-control window is the whole backend's.
//!
//! A connection is established only once the backend's SETTINGS arrived (within
//! `connect_timeout`), which also tells the largest header list it accepts. Repeated connect
//! failures back off: while the backoff runs, calls fail at once with the last failure instead
//! of each waiting for a connect of its own.
//!
//! Calls use the h2 crate directly: a call's future sends its request and reads its answer on
//! the connection's shared stream state itself, with no task spawned per call (hyper's client
//! spawns one or two per request, and hands each through a channel).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use h2::client::SendRequest;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::config::{GrpcEndpoint, TlsSettings};
use super::settings_probe::{probe, FirstFrame};
use crate::model::Status;

/// How often an idle connection is checked with a PING, and how long the PONG may take.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first wait after the second failed connect in a row; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A live connection: the handle calls open streams on, whether it has ended, and the largest
/// header list it takes.
struct Connection {
    sender: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
    max_header_list_size: usize,
}

/// What a call gets to open its stream with.
pub(crate) struct Live {
    /// The handle to open the stream on.
    pub(crate) sender: SendRequest<Bytes>,
    /// The largest header list the connection takes (the backend's and polygate's limit).
    pub(crate) max_header_list_size: usize,
    /// The pool slot, to discard it when the connection turns out dead.
    pub(crate) slot: usize,
}

/// Connect failures in a row, and until when calls fail at once.
#[derive(Default)]
struct Backoff {
    failures: u32,
    until: Option<(Instant, Status)>,
}

/// One slot of the pool: a lazily connected, self-healing HTTP/2 connection.
struct Slot {
    current: ArcSwapOption<Connection>,
    connecting: tokio::sync::Mutex<Backoff>,
}

impl Slot {
    /// The slot's connection, unless it has none or it has ended.
    fn live(&self, index: usize) -> Option<Live> {
        let current = self.current.load();
        let connection = current.as_deref()?;
        (!connection.closed.load(Ordering::Acquire)).then(|| Live {
            sender: connection.sender.clone(),
            max_header_list_size: connection.max_header_list_size,
            slot: index,
        })
    }
}

/// The connections to one backend.
pub(crate) struct Channel {
    backend: Arc<str>,
    endpoint: GrpcEndpoint,
    slots: Box<[Slot]>,
    next: AtomicUsize,
}

impl Channel {
    pub(crate) fn new(backend: Arc<str>, endpoint: GrpcEndpoint) -> Self {
        let slots = (0..endpoint.connections.max(1))
            .map(|_| Slot {
                current: ArcSwapOption::empty(),
                connecting: tokio::sync::Mutex::new(Backoff::default()),
            })
            .collect();
        Self {
            backend,
            endpoint,
            slots,
            next: AtomicUsize::new(0),
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

    /// A handle on a live connection of the next slot, connecting first when it has none.
    pub(crate) async fn live(&self) -> Result<Live, Status> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[index];
        if let Some(live) = slot.live(index) {
            return Ok(live);
        }
        let mut backoff = slot.connecting.lock().await;
        if let Some(live) = slot.live(index) {
            return Ok(live);
        }
        if let Some((until, failure)) = &backoff.until {
            if Instant::now() < *until {
                return Err(failure.clone());
            }
        }
        // Boxed: connecting (TCP, TLS, HTTP/2 handshakes) is rare but its future is large, and
        // every call's future would otherwise carry its size.
        match Box::pin(self.connect()).await {
            Ok(connection) => {
                *backoff = Backoff::default();
                let connection = Arc::new(connection);
                slot.current.store(Some(connection.clone()));
                Ok(Live {
                    sender: connection.sender.clone(),
                    max_header_list_size: connection.max_header_list_size,
                    slot: index,
                })
            }
            Err(failure) => {
                backoff.failures += 1;
                if backoff.failures >= 2 {
                    let wait = FIRST_BACKOFF
                        .saturating_mul(1 << (backoff.failures - 2).min(5))
                        .min(MAX_BACKOFF);
                    backoff.until = Some((Instant::now() + wait, failure.clone()));
                }
                Err(failure)
            }
        }
    }

    /// Forgets the connection of `slot`, so that the next call on it connects again.
    pub(crate) fn discard(&self, slot: usize) {
        if let Some(connection) = self.slots.get(slot).and_then(|s| s.current.swap(None)) {
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
        let (io, first_frame) = probe(io);
        let (sender, mut connection) = h2::client::Builder::new()
            .initial_window_size(self.endpoint.stream_window)
            .initial_connection_window_size(self.endpoint.connection_window)
            .max_concurrent_reset_streams(1024)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| self.unreachable(format!("HTTP/2 handshake failed: {e}")))?;
        let closed = Arc::new(AtomicBool::new(false));
        let ended = closed.clone();
        let backend = self.backend.clone();
        let ping_pong = connection.ping_pong();
        let driver = AbortUnlessKept(Some(tokio::spawn(async move {
            let keepalive = async move {
                match ping_pong {
                    Some(ping_pong) => keepalive(ping_pong).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = &mut connection => match result {
                    Err(error) if !error.is_go_away() || error.reason() != Some(h2::Reason::NO_ERROR) => {
                        tracing::warn!(%backend, %error, "gRPC backend connection lost; the calls on it fail with UNAVAILABLE");
                    }
                    _ => tracing::info!(%backend, "gRPC backend closed its connection"),
                },
                () = keepalive => tracing::warn!(%backend, "gRPC backend stopped answering PINGs; the connection is dropped"),
            }
            ended.store(true, Ordering::Release);
        })));
        // The backend speaks HTTP/2 only once its SETTINGS arrive; until then it is not
        // reachable, however long it keeps the TCP connection open (`connect_timeout` bounds
        // this wait with the rest of connecting).
        let advertised = match first_frame.await {
            Ok(FirstFrame::Settings {
                max_header_list_size,
            }) => max_header_list_size.map_or(usize::MAX, |size| size as usize),
            Ok(FirstFrame::NotSettings) => {
                closed.store(true, Ordering::Release);
                return Err(self.unreachable(
                    "it does not speak HTTP/2 (its first bytes are not a SETTINGS frame)".into(),
                ));
            }
            Err(_) => {
                closed.store(true, Ordering::Release);
                return Err(self.unreachable(
                    "it closed the connection before the HTTP/2 handshake completed".into(),
                ));
            }
        };
        driver.keep();
        Ok(Connection {
            sender,
            closed,
            max_header_list_size: advertised.min(self.endpoint.max_metadata_size),
        })
    }

    pub(crate) fn unreachable(&self, detail: String) -> Status {
        Status::unavailable(format!(
            "backend '{}' is unreachable: {detail}",
            self.backend
        ))
        .with_unsent()
    }
}

/// The task driving a connection, aborted when connecting fails or is given up (a backend
/// that never sends its SETTINGS would otherwise keep it, and its socket, forever).
struct AbortUnlessKept(Option<tokio::task::JoinHandle<()>>);

impl AbortUnlessKept {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortUnlessKept {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
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
