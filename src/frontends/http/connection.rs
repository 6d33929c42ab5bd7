//! One client connection: served by hyper (HTTP/1.1 or h2c), watched for the timeouts hyper
//! does not enforce from the start, and drained on shutdown.
//!
//! - A request head must arrive within `header_read_timeout` of the accept (or, on a kept-alive
//!   connection, of its first byte): a client that connects and says nothing, or sends a head
//!   byte by byte, is dropped.
//! - A connection with no request under way is closed after `idle_timeout`.
//! - When the drain starts, connections with no request under way (idle, or still sending a
//!   head) close at once; the others finish their requests; once the drain deadline passes,
//!   requests still under way are answered 503 (streams end with an in-band error).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::Instant;

use super::body::ResponseBody;
use super::framing::Framing;
use crate::io::Observed;

/// Where the listener is in its life, as its connections see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving.
    Serving,
    /// Shutting down: no new requests; those under way may finish.
    Draining,
    /// The drain deadline passed: requests still under way are cut.
    Cut,
}

/// Resolves once the listener reaches `phase` (or is gone).
pub(crate) async fn reached(mut phases: watch::Receiver<Phase>, phase: Phase) {
    let _ = phases.wait_for(|now| rank(*now) >= rank(phase)).await;
}

fn rank(phase: Phase) -> u8 {
    match phase {
        Phase::Serving => 0,
        Phase::Draining => 1,
        Phase::Cut => 2,
    }
}

/// What a connection's watcher knows of it.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Requests under way: their responses are not yet fully sent.
    requests: AtomicUsize,
    /// Bytes arrived since the connection last became idle (a head is on its way).
    read_since_idle: AtomicBool,
    /// The connection speaks HTTP/2 (its first bytes were the client preface).
    http2: AtomicBool,
    /// A request has begun on the connection.
    served: AtomicBool,
    /// When the connection last became idle; reset by the watcher.
    idle_since: std::sync::Mutex<Instant>,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            requests: AtomicUsize::new(0),
            read_since_idle: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            served: AtomicBool::new(false),
            idle_since: std::sync::Mutex::new(Instant::now()),
        })
    }

    /// A request began; the guard ends it when dropped (with its response body).
    pub(crate) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        RequestGuard(self.clone())
    }

    fn idle(&self) -> bool {
        self.requests.load(Ordering::Acquire) == 0
    }

    /// How long the connection may stay as it is now, with no request under way.
    fn allowed(&self, header_read_timeout: Duration, idle_timeout: Duration) -> Duration {
        let head_on_its_way =
            self.read_since_idle.load(Ordering::Acquire) && !self.http2.load(Ordering::Acquire);
        if head_on_its_way || !self.served.load(Ordering::Acquire) {
            header_read_timeout
        } else {
            idle_timeout
        }
    }

    /// Bytes arrived: on an idle kept-alive connection, a new head starts its clock now.
    fn bytes_arrived(&self) {
        if !self.read_since_idle.swap(true, Ordering::AcqRel)
            && self.idle()
            && self.served.load(Ordering::Acquire)
        {
            if let Ok(mut since) = self.idle_since.lock() {
                *since = Instant::now();
            }
        }
    }
}

/// Ends a request when dropped.
#[derive(Debug)]
pub(crate) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.0.requests.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.read_since_idle.store(false, Ordering::Release);
            if let Ok(mut since) = self.0.idle_since.lock() {
                *since = Instant::now();
            }
        }
    }
}

/// The client's stream, noting when bytes arrive (and whether the first ones are the HTTP/2
/// client preface), and following the framing of its HTTP/1.1 requests.
pub(crate) fn watched<I>(
    io: I,
    activity: Arc<Activity>,
    framing: Arc<Framing>,
) -> Observed<I, impl FnMut(&[u8]) + Send + Unpin + 'static> {
    let mut first_read = true;
    Observed::new(io, move |fresh: &[u8]| {
        if std::mem::take(&mut first_read) && fresh.starts_with(b"PRI * HTTP/2.0") {
            activity.http2.store(true, Ordering::Release);
        }
        framing.read(fresh);
        activity.bytes_arrived();
    })
}

/// A response body that keeps its request counted until it is fully sent or dropped.
pub(crate) struct CountedBody {
    inner: ResponseBody,
    _request: RequestGuard,
}

impl CountedBody {
    pub(crate) fn new(inner: ResponseBody, request: RequestGuard) -> Self {
        Self {
            inner,
            _request: request,
        }
    }
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Drives `connection` until it ends, closing it when it stays idle too long or when the
/// listener drains with no request under way; `drain` tells it to take no new requests and
/// end once those under way are answered.
pub(crate) async fn watch<C: Future>(
    connection: C,
    drain: impl Fn(Pin<&mut C>),
    activity: Arc<Activity>,
    mut phases: watch::Receiver<Phase>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
) {
    tokio::pin!(connection);
    let tick = header_read_timeout.min(idle_timeout) / 4;
    let tick = tick.max(Duration::from_millis(5));
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            _ = &mut connection => return,
            _ = ticks.tick() => {
                if activity.idle() {
                    let since = activity.idle_since.lock().map(|s| *s).unwrap_or_else(|_| Instant::now());
                    if since.elapsed() >= activity.allowed(header_read_timeout, idle_timeout) {
                        return;
                    }
                }
            }
            changed = phases.changed(), if !draining => {
                if changed.is_err() || *phases.borrow() != Phase::Serving {
                    draining = true;
                    if activity.idle() {
                        // Idle, or a head half sent: nothing under way is lost.
                        return;
                    }
                    drain(connection.as_mut());
                }
            }
        }
    }
}
