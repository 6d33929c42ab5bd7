//! The bridge: one persistent-session connection that subscribes to every topic route,
//! admits delivered messages into the [`Ledger`], works on each in its own task, and sends the
//! acknowledgements the ledger releases.
//!
//! Two tasks share the connection. The poller polls the rumqttc event loop and is never
//! cancelled mid-poll; it counts connections (generations) and tags every message with its
//! own. It hands messages over through a small bounded queue that the bridge reads only while
//! the ledger has room, so reading from the broker stops when polygate is full, whatever the
//! broker's flow control does. While blocked, it still polls at half the keep-alive (keeping
//! the connection alive) into a bounded overflow; only when that is full too does it wait.
//!
//! An acknowledgement is queued under the ack gate, which the poller holds when a connection
//! breaks to bump the generation and discard what is queued: an acknowledgement of an older
//! connection is never sent on a newer one. SUBSCRIBE and UNSUBSCRIBE packets go through the
//! same gate, so each belongs to the connection the [`Subscriptions`] state was built for.
//!
//! The filters come from a watch the MQTT server updates when a reload swaps the route
//! table in: the bridge subscribes the new ones and unsubscribes the old ones on the live
//! connection, and subscribes the current set on every connection.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::delivery::{Ack, Admission, Ledger, Ticket};
use super::handler::{Outcome, Worker};
use super::subscriptions::{Request, Subscriptions};
use crate::frontends::Shutdown;
use crate::mqtt_client::{InboundMessage, Link, LinkEvent, LinkHandle, CLOSE};

/// Messages the poller may hold beyond the hand-over queue while the bridge is full.
const OVERFLOW: usize = 64;
/// The hand-over queue between poller and bridge.
const HANDOVER: usize = 8;

/// What the bridge needs to run.
pub(crate) struct BridgeParts {
    /// The connection (persistent session, manual acks).
    pub(crate) link: Link,
    /// Filters and QoS to subscribe to on every connection; changed by reloads.
    pub(crate) filters: watch::Receiver<Vec<(String, u8)>>,
    /// Messages worked on at once.
    pub(crate) max_in_flight: usize,
    /// The connection's keep-alive.
    pub(crate) keep_alive: Duration,
    /// The first and the longest wait before reconnecting.
    pub(crate) reconnect: (Duration, Duration),
    /// How long shutdown waits for work under way.
    pub(crate) drain_timeout: Duration,
    /// The broker, as logs name it.
    pub(crate) broker: String,
    /// Set once every subscription was acknowledged; cleared when the connection breaks.
    pub(crate) ready: watch::Sender<bool>,
    /// Tells work under way to stop retrying (set at shutdown).
    pub(crate) stop_work: Arc<watch::Sender<bool>>,
}

/// Queues acknowledgements for the current connection only.
struct AckGate {
    generation: Mutex<u64>,
    handle: LinkHandle,
}

impl AckGate {
    /// Queues `acks` from the front; those of another generation are dropped. Stops at the
    /// first the request queue cannot take and returns how many it consumed.
    fn send(&self, acks: &VecDeque<Ack>) -> usize {
        let Ok(generation) = self.generation.lock() else {
            return 0;
        };
        let mut consumed = 0;
        for ack in acks {
            if ack.generation == *generation && !self.handle.try_ack(ack.pkid, ack.qos) {
                break;
            }
            consumed += 1;
        }
        consumed
    }

    /// Queues `request` if connection `generation` is still the current one.
    fn request(&self, generation: u64, request: &Request) -> Queued {
        let Ok(current) = self.generation.lock() else {
            return Queued::Stale;
        };
        if *current != generation {
            return Queued::Stale;
        }
        let queued = match request {
            Request::Subscribe(filters) => self.handle.try_subscribe(filters),
            Request::Unsubscribe(filter) => self.handle.try_unsubscribe(filter),
        };
        if queued {
            Queued::Sent
        } else {
            Queued::Full
        }
    }
}

/// Whether a subscription request was queued.
enum Queued {
    Sent,
    /// The request queue is full: try again shortly.
    Full,
    /// Its connection broke; the next one subscribes afresh.
    Stale,
}

enum Control {
    Connected {
        generation: u64,
        session_present: bool,
    },
    Subscribed(Vec<Result<u8, String>>),
    Unsubscribed(Vec<Result<(), String>>),
    Released(u16),
    Broken(String),
    Closed,
}

/// Runs the bridge until `shutdown`, then drains: no new messages, work under way gets
/// `drain_timeout` to finish and be acknowledged, the rest stays unacknowledged.
pub(crate) async fn run(parts: BridgeParts, worker: Arc<Worker>, shutdown: Shutdown) {
    let BridgeParts {
        link,
        mut filters,
        max_in_flight,
        keep_alive,
        reconnect,
        drain_timeout,
        broker,
        ready,
        stop_work,
    } = parts;
    let handle = link.handle();
    let gate = Arc::new(AckGate {
        generation: Mutex::new(0),
        handle: handle.clone(),
    });
    let (messages_in, mut messages) = mpsc::channel::<(u64, InboundMessage)>(HANDOVER);
    let (control_in, mut control) = mpsc::channel::<Control>(64);
    let poller = tokio::spawn(poll(
        link,
        gate.clone(),
        messages_in,
        control_in,
        keep_alive,
        reconnect,
        broker.clone(),
    ));
    let (finished_in, mut finished) = mpsc::channel::<(Ticket, Outcome)>(max_in_flight.max(1));
    let mut ledger = Ledger::new(max_in_flight);
    let mut released = Vec::new();
    let mut backlog: VecDeque<Ack> = VecDeque::new();
    let mut announced = false;
    let mqtt_metrics = &worker.pipeline.telemetry().metrics.mqtt;
    let mut subs = Subscriptions::new(&filters.borrow_and_update());
    // The generation of the current connection, the one subscription requests are for.
    let mut connection = 0u64;
    // A subscription request found the request queue full.
    let mut resend = false;
    // A reload changed the filters; said in the log once the broker answered everything.
    let mut reloaded = false;
    let mut was_ready = false;
    let stopped = shutdown.fired();
    tokio::pin!(stopped);
    let mut draining: Option<tokio::time::Instant> = None;
    loop {
        if draining.is_some() && ledger.working() == 0 {
            break;
        }
        let deadline =
            draining.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            Some((ticket, outcome)) = finished.recv() => {
                match outcome {
                    Outcome::Done => ledger.finish(ticket, &mut released),
                    Outcome::Abandoned => ledger.abandon(ticket),
                }
            }
            Some(event) = control.recv() => match event {
                Control::Connected { generation, session_present } => {
                    ledger.connected(generation, session_present);
                    backlog.clear();
                    connection = generation;
                    subs.connected(session_present);
                    tracing::info!(%broker, session_present, "bridge connected");
                }
                Control::Subscribed(results) => {
                    let answered = subs.subscribed(&results);
                    mqtt_metrics.subscribes_granted.fetch_add(answered.granted.len() as u64, Ordering::Relaxed);
                    mqtt_metrics.subscribes_refused.fetch_add(answered.refused.len() as u64, Ordering::Relaxed);
                    if !answered.refused.is_empty() {
                        let refused: Vec<String> = answered.refused.iter().map(|(filter, why)| format!("{filter} ({why})")).collect();
                        tracing::error!(%broker, refused = %refused.join(", "), "the broker refused subscriptions");
                    }
                    if reloaded && !answered.granted.is_empty() {
                        tracing::info!(%broker, filters = %answered.granted.join(", "), "subscribed for the reloaded routes");
                    }
                }
                Control::Unsubscribed(results) => {
                    match subs.unsubscribed(&results) {
                        Some((filter, Ok(()))) => {
                            mqtt_metrics.unsubscribes.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(%broker, %filter, "unsubscribed: no route takes this filter any more");
                        }
                        Some((filter, Err(why))) => {
                            tracing::error!(%broker, %filter, %why, "the broker refused to unsubscribe; messages on it find no route until the session ends");
                        }
                        None => {}
                    }
                }
                Control::Released(pkid) => ledger.released(pkid),
                Control::Broken(error) => {
                    subs.broken();
                    resend = false;
                    tracing::warn!(%broker, %error, "bridge connection lost; reconnecting");
                }
                Control::Closed => break,
            },
            Some((generation, message)) = messages.recv(), if draining.is_none() && ledger.has_room() => {
                let pkid = message.pkid;
                match ledger.admit(generation, pkid, message.qos, &mut released) {
                    Admission::Work(ticket) => {
                        // Counted here, in the order messages arrived on the connection.
                        mqtt_metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                        let worker = worker.clone();
                        let finished = finished_in.clone();
                        tokio::spawn(async move {
                            let outcome = worker.work(message).await;
                            // The bridge outlives every task it spawns, unless it was aborted.
                            let _ = finished.send((ticket, outcome)).await;
                        });
                    }
                    Admission::Duplicate => tracing::debug!(pkid, "QoS 2 redelivery: not worked on again"),
                    Admission::Stale => {}
                }
            }
            Ok(()) = filters.changed() => {
                let list = filters.borrow_and_update().clone();
                if subs.set(&list) {
                    reloaded = true;
                    tracing::info!(%broker, subscriptions = list.len(), "the reloaded routes subscribe to other filters: updating the subscriptions");
                }
            }
            () = &mut stopped, if draining.is_none() => {
                stop_work.send_replace(true);
                draining = Some(tokio::time::Instant::now() + drain_timeout);
                tracing::info!(working = ledger.working(), "bridge draining");
            }
            () = tokio::time::sleep_until(deadline), if draining.is_some() => {
                tracing::warn!(left = ledger.working(), "messages still in work after the drain timeout; they stay unacknowledged");
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(5)), if !backlog.is_empty() || resend => {}
        }
        if let Some(request) = subs.next() {
            match gate.request(connection, &request) {
                Queued::Sent => {
                    resend = false;
                    subs.sent(request);
                }
                Queued::Full => resend = true,
                Queued::Stale => resend = false,
            }
        }
        let now_ready = subs.ready();
        if now_ready != was_ready {
            was_ready = now_ready;
            ready.send_replace(now_ready);
            if now_ready && !announced {
                announced = true;
                tracing::info!(%broker, subscriptions = subs.wanted(), "MQTT bridge ready: every subscription acknowledged");
            } else if now_ready {
                tracing::debug!(%broker, "every subscription acknowledged again");
            }
        }
        if reloaded && subs.idle() {
            reloaded = false;
            tracing::info!(%broker, subscriptions = subs.granted(), "the MQTT subscriptions follow the reloaded routes");
        }
        mqtt_metrics
            .subscriptions
            .store(subs.granted() as u64, Ordering::Relaxed);
        if !released.is_empty() {
            backlog.extend(released.drain(..));
        }
        if !backlog.is_empty() {
            let sent = gate.send(&backlog);
            backlog.drain(..sent);
        }
    }
    // The DISCONNECT waits for room in the request queue, which acknowledgements may fill
    // while the poller waits for hand-over room: it gets CLOSE, and so does the poller. A
    // poller still waiting after that is left to the process's exit (or the embedded broker's
    // stop), as before; the broker keeps the persistent session either way.
    if tokio::time::timeout(CLOSE, handle.disconnect())
        .await
        .is_err()
    {
        tracing::debug!(%broker, "no room for the bridge's DISCONNECT within {CLOSE:?}");
    }
    if tokio::time::timeout(CLOSE, poller).await.is_err() {
        tracing::debug!(%broker, "the bridge's poller did not stop within {CLOSE:?}");
    }
    mqtt_metrics.subscriptions.store(0, Ordering::Relaxed);
    ready.send_replace(false);
}

/// Polls the link for the bridge; see the module docs.
async fn poll(
    mut link: Link,
    gate: Arc<AckGate>,
    messages: mpsc::Sender<(u64, InboundMessage)>,
    control: mpsc::Sender<Control>,
    keep_alive: Duration,
    (initial_backoff, max_backoff): (Duration, Duration),
    broker: String,
) {
    let mut generation = 0u64;
    let mut connected = false;
    let mut backoff = initial_backoff;
    let mut overflow: VecDeque<(u64, InboundMessage)> = VecDeque::new();
    loop {
        // Hand over what is held, and wait for room before reading more: at most half the
        // keep-alive while the overflow has room, so pings still go out.
        while let Some(front) = overflow.pop_front() {
            match messages.try_send(front) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(front)) => {
                    overflow.push_front(front);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        if !overflow.is_empty() || messages.capacity() == 0 {
            let room = if overflow.len() >= OVERFLOW {
                messages.reserve().await.map(Some)
            } else {
                match tokio::time::timeout(keep_alive / 2, messages.reserve()).await {
                    Ok(permit) => permit.map(Some),
                    Err(_) => Ok(None),
                }
            };
            match room {
                Err(_) => return,
                Ok(Some(permit)) => {
                    if let Some(front) = overflow.pop_front() {
                        permit.send(front);
                    }
                    continue;
                }
                Ok(None) => {}
            }
        }
        let event = match link.poll().await {
            Ok(event) => event,
            Err(error) => {
                {
                    // No acknowledgement queued for the broken connection may reach the next.
                    let Ok(mut current) = gate.generation.lock() else {
                        return;
                    };
                    generation += 1;
                    *current = generation;
                    link.discard_queued();
                }
                overflow.clear();
                if connected {
                    connected = false;
                    if control
                        .send(Control::Broken(error.to_string()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                } else {
                    tracing::debug!(%broker, %error, "cannot connect to the broker");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
                continue;
            }
        };
        let forwarded = match event {
            LinkEvent::Message(message) => {
                if messages.capacity() > 0 && overflow.is_empty() {
                    messages.send((generation, message)).await.is_ok()
                } else {
                    overflow.push_back((generation, message));
                    true
                }
            }
            LinkEvent::Connected { session_present } => {
                connected = true;
                backoff = initial_backoff;
                control
                    .send(Control::Connected {
                        generation,
                        session_present,
                    })
                    .await
                    .is_ok()
            }
            LinkEvent::Subscribed(results) => {
                control.send(Control::Subscribed(results)).await.is_ok()
            }
            LinkEvent::Unsubscribed(results) => {
                control.send(Control::Unsubscribed(results)).await.is_ok()
            }
            LinkEvent::Released(pkid) => control.send(Control::Released(pkid)).await.is_ok(),
            LinkEvent::DisconnectSent => {
                let _ = control.send(Control::Closed).await;
                return;
            }
            _ => true,
        };
        if !forwarded {
            return;
        }
    }
}
