//! Cancels a streamed answer whose client stopped reading.
//!
//! An answer's bytes wait in h2's receive buffer until the frontend takes them, and while they
//! wait they hold the connection's flow-control window. A client that never reads would keep
//! that share of the window forever, and a few such clients would stall every call on the
//! connection. So a watcher checks each streamed answer: when bytes have waited for
//! `stalled_reader_timeout` without the reader taking any, the call is reset (the backend sees
//! `RST_STREAM CANCEL`), which gives its window back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::{FlowControl, SendStream};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How far the reader of an answer has come, shared with its watcher.
#[derive(Debug, Default)]
pub(crate) struct ReadProgress {
    /// Bytes the reader has taken so far.
    taken: AtomicU64,
    /// The answer ended or its reader went away.
    finished: AtomicBool,
}

impl ReadProgress {
    /// Counts `bytes` taken by the reader.
    pub(crate) fn took(&self, bytes: usize) {
        self.taken.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Marks the answer finished, so its watcher stops.
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// Who can reset the call: the watcher itself, or the task pumping the request stream.
pub(crate) enum Resetter {
    /// The request is sent; the watcher holds its stream to reset it.
    Stream(SendStream<Bytes>),
    /// The request pump holds the stream; it resets it when told.
    Pump(Arc<PumpSignal>),
}

/// Tells a request pump that its answer ended or stalled.
#[derive(Debug, Default)]
pub(crate) struct PumpSignal {
    notify: Notify,
    stalled: AtomicBool,
}

impl PumpSignal {
    /// Resolves once the answer ended or stalled; true when it stalled.
    pub(crate) async fn ended(&self) -> bool {
        self.notify.notified().await;
        self.stalled.load(Ordering::Acquire)
    }

    fn end(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::Release);
        self.notify.notify_one();
    }
}

/// Watches one streamed answer until it finishes, resetting the call if its reader stalls.
pub(crate) async fn watch(
    flow: FlowControl,
    progress: Arc<ReadProgress>,
    resetter: Resetter,
    timeout: Duration,
) {
    let stalled = wait_for_stall(&flow, &progress, timeout).await;
    match resetter {
        Resetter::Stream(mut stream) if stalled => stream.send_reset(h2::Reason::CANCEL),
        Resetter::Stream(_) => {}
        Resetter::Pump(signal) => signal.end(stalled),
    }
    if stalled {
        tracing::info!(
            waited = ?timeout,
            "a client stopped reading a streamed answer; the backend call is cancelled"
        );
    }
}

/// True when bytes waited `timeout` with none taken; false when the answer finished first.
async fn wait_for_stall(flow: &FlowControl, progress: &ReadProgress, timeout: Duration) -> bool {
    let tick = (timeout / 4).max(Duration::from_millis(10));
    let mut waiting_since: Option<(Instant, u64)> = None;
    loop {
        tokio::time::sleep(tick).await;
        if progress.finished.load(Ordering::Acquire) {
            return false;
        }
        let taken = progress.taken.load(Ordering::Relaxed);
        if flow.used_capacity() == 0 {
            waiting_since = None;
            continue;
        }
        match waiting_since {
            Some((since, at)) if at == taken => {
                if since.elapsed() >= timeout {
                    return true;
                }
            }
            _ => waiting_since = Some((Instant::now(), taken)),
        }
    }
}
