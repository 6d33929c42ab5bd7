//! `Publisher`: a clean-session connection that publishes messages and tells each caller when
//! the broker took its message over at the QoS asked for (PUBACK for 1, PUBCOMP for 2; written
//! for 0), with a bounded number of messages in flight.
//!
//! rumqttc names a publish's packet id only in the `Outgoing::Publish` event, in the order the
//! requests were queued; so every caller queues its waiter and its request under one lock, and
//! the connection task pairs them in that order. The session is clean: when the connection
//! breaks, the task drops every request not yet acknowledged and tells their waiters at once,
//! so they may publish again; callers are refused while the connection is down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Mutex, Semaphore};
use tokio::task::JoinHandle;

use super::config::{ClientSettings, SessionSettings};
use super::endpoint::EmbeddedEndpoint;
use super::link::{Link, LinkEvent, LinkHandle, OutboundMessage};
use super::CLOSE;

/// Why a message was not taken over by the broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// There is no connection to the broker now.
    #[error("the broker is not connected: {0}")]
    NotConnected(String),
    /// The connection broke before the broker acknowledged the message.
    #[error("the connection to the broker broke before it acknowledged the message")]
    ConnectionLost,
    /// The broker refused the message (MQTT 5 reason code).
    #[error("the broker refused the message: {0}")]
    Refused(String),
    /// The broker did not acknowledge it in time.
    #[error("the broker did not acknowledge the message within {0:?}")]
    TimedOut(Duration),
    /// The publisher is shut down.
    #[error("the publisher is shut down")]
    Closed,
}

struct Waiter {
    qos: u8,
    reply: oneshot::Sender<Result<(), PublishError>>,
}

struct Shared {
    handle: LinkHandle,
    /// Held while a waiter and its request are queued, so both queues keep one order.
    order: Mutex<mpsc::Sender<Waiter>>,
    permits: Semaphore,
    connected: watch::Sender<bool>,
    last_error: std::sync::Mutex<String>,
}

/// Publishes through its own connection; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
    task: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

/// The longest wait between two connection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

impl Publisher {
    /// Starts a publisher connection with at most `inflight` unacknowledged messages.
    pub async fn start(
        settings: &ClientSettings,
        client_id: String,
        max_packet_size: usize,
        inflight: u16,
        embedded: &EmbeddedEndpoint,
    ) -> Self {
        let inflight = inflight.max(1);
        let session = SessionSettings {
            client_id,
            persistent: false,
            session_expiry: Duration::ZERO,
            receive_maximum: inflight,
            manual_acks: false,
            max_packet_size,
            outgoing_inflight: inflight,
        };
        let link = Link::new(settings, &session, embedded, usize::from(inflight) + 4).await;
        let (waiters_in, waiters) = mpsc::channel(usize::from(inflight) + 4);
        let shared = Arc::new(Shared {
            handle: link.handle(),
            order: Mutex::new(waiters_in),
            permits: Semaphore::new(usize::from(inflight)),
            connected: watch::channel(false).0,
            last_error: std::sync::Mutex::new("not connected yet".to_owned()),
        });
        let task = tokio::spawn(run(link, waiters, shared.clone(), settings.describe()));
        Self {
            shared,
            task: Arc::new(std::sync::Mutex::new(Some(task))),
        }
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Waits up to `timeout` for the connection to be up; whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.shared.connected.subscribe();
        tokio::time::timeout(timeout, connected.wait_for(|up| *up))
            .await
            .is_ok_and(|up| up.is_ok())
    }

    /// Publishes `message` and waits until the broker took it over, at most `timeout`.
    /// Fails at once when the broker is not connected.
    pub async fn publish(
        &self,
        message: OutboundMessage,
        timeout: Duration,
    ) -> Result<(), PublishError> {
        if !self.is_connected() {
            let reason = self
                .shared
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default();
            return Err(PublishError::NotConnected(reason));
        }
        let work = async {
            let _permit = self
                .shared
                .permits
                .acquire()
                .await
                .map_err(|_| PublishError::Closed)?;
            let (reply, answer) = oneshot::channel();
            {
                let waiters = self.shared.order.lock().await;
                if !self.is_connected() {
                    return Err(PublishError::NotConnected(
                        "the connection broke".to_owned(),
                    ));
                }
                waiters
                    .send(Waiter {
                        qos: message.qos,
                        reply,
                    })
                    .await
                    .map_err(|_| PublishError::Closed)?;
                self.shared
                    .handle
                    .publish(message)
                    .await
                    .map_err(|_| PublishError::Closed)?;
            }
            answer.await.map_err(|_| PublishError::ConnectionLost)?
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| PublishError::TimedOut(timeout))?
    }

    /// Disconnects and stops the connection task, within [`CLOSE`]: past it the task is
    /// stopped whatever it was waiting for (a full request queue, a broker that is down).
    pub async fn close(&self) {
        self.shared.permits.close();
        let mut task = self.task.lock().ok().and_then(|mut t| t.take());
        let closing = async {
            self.shared.handle.disconnect().await;
            if let Some(task) = &mut task {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(CLOSE, closing).await.is_err() {
            tracing::debug!("the publisher did not close within {CLOSE:?}; stopped");
            if let Some(task) = task {
                task.abort();
            }
        }
    }
}

async fn run(
    mut link: Link,
    mut waiters: mpsc::Receiver<Waiter>,
    shared: Arc<Shared>,
    broker: String,
) {
    let mut awaiting: HashMap<u16, Waiter> = HashMap::new();
    let mut delay = Duration::from_millis(100);
    loop {
        match link.poll().await {
            Ok(LinkEvent::Connected { .. }) => {
                shared.connected.send_replace(true);
                delay = Duration::from_millis(100);
                tracing::debug!(%broker, "publisher connected");
            }
            Ok(LinkEvent::Published(pkid)) => {
                let Ok(waiter) = waiters.try_recv() else {
                    tracing::warn!(pkid, "a publish was written that no caller waits for");
                    continue;
                };
                if waiter.qos == 0 {
                    let _ = waiter.reply.send(Ok(()));
                } else {
                    awaiting.insert(pkid, waiter);
                }
            }
            Ok(LinkEvent::Accepted(pkid)) => {
                if let Some(waiter) = awaiting.remove(&pkid) {
                    let _ = waiter.reply.send(Ok(()));
                }
            }
            // Only close() asks for a DISCONNECT.
            Ok(LinkEvent::DisconnectSent) => break,
            Ok(LinkEvent::Refused(pkid, reason)) => {
                if let Some(waiter) = awaiting.remove(&pkid) {
                    let _ = waiter.reply.send(Err(PublishError::Refused(reason)));
                }
            }
            Ok(_) => {}
            Err(error) => {
                let was_connected = shared.connected.send_replace(false);
                if let Ok(mut last) = shared.last_error.lock() {
                    *last = error.to_string();
                }
                if shared.permits.is_closed() {
                    break;
                }
                if was_connected {
                    tracing::warn!(%broker, %error, "publisher connection lost; reconnecting");
                } else {
                    tracing::debug!(%broker, %error, "publisher cannot connect");
                }
                // Nothing queued before the break will be sent: drop those requests and fail
                // their waiters, holding the order lock so that no caller is between its
                // waiter and its request, and both queues start empty.
                {
                    let _order = shared.order.lock().await;
                    link.discard_queued();
                    for (_, waiter) in awaiting.drain() {
                        let _ = waiter.reply.send(Err(PublishError::ConnectionLost));
                    }
                    while let Ok(waiter) = waiters.try_recv() {
                        let _ = waiter.reply.send(Err(PublishError::ConnectionLost));
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RECONNECT_DELAY);
            }
        }
    }
}
