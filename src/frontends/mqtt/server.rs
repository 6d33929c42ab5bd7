//! The MQTT listener: binds the embedded broker (when there is one), then serves the bridge,
//! the publisher and the downlinks until shutdown, and stops them in an order that loses
//! nothing: downlinks and new deliveries first, work under way drained and acknowledged, the
//! bridge disconnected (its session stays), the publisher closed, the broker stopped last
//! (writing its sessions and queued messages to its storage). Every step after the drain is
//! bounded by [`CLOSE`], so shutdown ends within `drain_timeout` and a few of those.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::bridge::{self, BridgeParts};
use super::broker::{self, EmbeddedBroker};
use super::config::{BrokerMode, MqttFrontendSettings};
use super::downlink;
use super::handler::{MqttCounters, Worker};
use crate::frontends::{Listener, ServeFuture, Shutdown};
use crate::mapping::messages::OutputTopic;
use crate::mapping::{Route, RoutePattern, RouteTable};
use crate::mqtt_client::{
    BrokerAddress, ClientSettings, Link, ProtocolVersion, Publisher, SessionSettings, CLOSE,
};
use crate::pipeline::Pipeline;

/// The MQTT frontend, bound and ready to serve.
pub struct MqttServer {
    settings: MqttFrontendSettings,
    broker: Option<Box<dyn EmbeddedBroker>>,
    client: ClientSettings,
    addr: SocketAddr,
    url: String,
    ready: watch::Sender<bool>,
    counters: Arc<MqttCounters>,
    /// Where the embedded broker verifies JWT passwords: set when serving starts.
    verifier: broker::JwtVerifier,
}

impl MqttServer {
    /// Starts the embedded broker (if configured) on its address; an external broker is
    /// connected to when serving starts.
    pub async fn bind(settings: MqttFrontendSettings) -> std::io::Result<Self> {
        let verifier = broker::JwtVerifier::default();
        let (broker, client, addr, url) = match &settings.mode {
            BrokerMode::Embedded(embedded) => {
                let broker = broker::start(embedded, &verifier)
                    .await
                    .map_err(|e| std::io::Error::other(format!("embedded MQTT broker: {e}")))?;
                let addr = broker.local_addr();
                settings.endpoint.set(broker.access());
                if let Some(tls) = broker.tls_addr() {
                    tracing::info!(addr = %tls, "the embedded MQTT broker takes TLS on mqtts://{tls}");
                }
                let client = ClientSettings {
                    address: BrokerAddress::Embedded,
                    protocol: ProtocolVersion::V5,
                    credentials: None,
                    tls: None,
                    keep_alive: Duration::from_secs(30),
                };
                (Some(broker), client, addr, format!("mqtt://{addr}"))
            }
            BrokerMode::External(client) => (
                None,
                client.clone(),
                SocketAddr::from(([0, 0, 0, 0], 0)),
                client.describe(),
            ),
        };
        Ok(Self {
            settings,
            broker,
            client,
            addr,
            url,
            ready: watch::channel(false).0,
            counters: Arc::new(MqttCounters::default()),
            verifier,
        })
    }

    /// What the bridge did so far.
    pub fn counters(&self) -> Arc<MqttCounters> {
        self.counters.clone()
    }

    async fn serve(self, pipeline: Arc<Pipeline>, shutdown: Shutdown) {
        let _ = self.verifier.set(pipeline.clone());
        let settings = &self.settings;
        let mut replaced = pipeline.watch_routes();
        replaced.borrow_and_update();
        let table = pipeline.routes();
        let (filters, downlinks) = subscriptions(&table);
        let (filters_in, filters) = watch::channel(filters);
        let in_flight = settings.max_in_flight;
        let publisher = Publisher::start(
            &self.client,
            format!("{}-pub", settings.client_id),
            settings.max_packet_size,
            in_flight,
            &settings.endpoint,
        )
        .await;
        let (stop_work, stopping) = watch::channel(false);
        let stop_work = Arc::new(stop_work);
        let worker = Arc::new(Worker {
            pipeline: pipeline.clone(),
            publisher: publisher.clone(),
            client_id: settings.client_id.clone(),
            max_payload_size: settings.max_payload_size,
            publish_timeout: settings.publish_timeout,
            stopping: stopping.clone(),
            counters: self.counters.clone(),
            retired: arc_swap::ArcSwapOption::empty(),
        });
        let running = Arc::new(Mutex::new(Downlinks {
            running: HashMap::new(),
            closing: Vec::new(),
            pipeline: pipeline.clone(),
            publisher: publisher.clone(),
            publish_timeout: settings.publish_timeout,
            stopping: stopping.clone(),
        }));
        if let Ok(mut running) = running.lock() {
            running.follow(downlinks, false);
        }
        // A reload's table: its filters go to the bridge, its downlinks are opened and
        // closed, and the table it replaced stays at hand for the messages its removed
        // routes had taken.
        let following = {
            let pipeline = pipeline.clone();
            let worker = worker.clone();
            let running = running.clone();
            tokio::spawn(async move {
                let mut current = table;
                while replaced.changed().await.is_ok() {
                    let table = pipeline.routes();
                    let (now, downlinks) = subscriptions(&table);
                    filters_in.send_if_modified(|filters| {
                        let changed = *filters != now;
                        *filters = now;
                        changed
                    });
                    if let Ok(mut running) = running.lock() {
                        running.follow(downlinks, true);
                    }
                    worker
                        .retired
                        .store(Some(std::mem::replace(&mut current, table)));
                }
            })
        };
        let session = SessionSettings {
            client_id: settings.client_id.clone(),
            persistent: true,
            session_expiry: settings.session_expiry,
            receive_maximum: settings.receive_maximum,
            manual_acks: true,
            max_packet_size: settings.max_packet_size,
            outgoing_inflight: 16,
        };
        // Room for every acknowledgement the ledger may release at once, and the subscribe.
        let capacity = usize::from(in_flight) * 2 + 16;
        let link = Link::new(&self.client, &session, &settings.endpoint, capacity).await;
        let parts = BridgeParts {
            link,
            filters,
            max_in_flight: usize::from(in_flight),
            keep_alive: self.client.keep_alive,
            reconnect: (
                settings.reconnect_initial_backoff,
                settings.reconnect_max_backoff,
            ),
            drain_timeout: settings.drain_timeout,
            broker: self.url.clone(),
            ready: self.ready.clone(),
            stop_work: stop_work.clone(),
        };
        bridge::run(parts, worker, shutdown).await;
        following.abort();
        stop_work.send_replace(true);
        // A downlink may be waiting for the broker's acknowledgement of its last message: it
        // gets CLOSE, then it is stopped.
        let downlink_tasks = running.lock().map(|mut r| r.take()).unwrap_or_default();
        let stops: Vec<_> = downlink_tasks
            .iter()
            .map(JoinHandle::abort_handle)
            .collect();
        if tokio::time::timeout(CLOSE, futures_util::future::join_all(downlink_tasks))
            .await
            .is_err()
        {
            tracing::debug!("downlinks still publishing after {CLOSE:?}; stopped");
            for stop in stops {
                stop.abort();
            }
        }
        publisher.close().await;
        if let Some(broker) = self.broker {
            broker.stop().await;
        }
        let c = &self.counters;
        tracing::info!(
            succeeded = c.succeeded.load(Ordering::Relaxed),
            retries = c.retries.load(Ordering::Relaxed),
            errors_published = c.errors_published.load(Ordering::Relaxed),
            dead_lettered = c.dead_lettered.load(Ordering::Relaxed),
            dropped = c.dropped.load(Ordering::Relaxed),
            unrouted = c.unrouted.load(Ordering::Relaxed),
            "MQTT frontend stopped"
        );
    }
}

/// A downlink: its route, its `stream_to` topic and QoS.
type Downlink = (Arc<Route>, OutputTopic, u8);

/// What tells a downlink apart: its name (the rule's topic), `stream_to` topic and QoS.
type DownlinkKey = (String, String, u8);

/// The downlinks running. A reload opens the ones it adds and closes the ones it removes
/// (or changes: another `stream_to` or QoS); one whose route changed otherwise keeps its
/// stream, and opens the next one through the new route.
struct Downlinks {
    running: HashMap<DownlinkKey, (Arc<watch::Sender<bool>>, JoinHandle<()>)>,
    /// Downlinks a reload closed, awaited at shutdown.
    closing: Vec<JoinHandle<()>>,
    pipeline: Arc<Pipeline>,
    publisher: Publisher,
    publish_timeout: Duration,
    /// Set when shutdown begins: every downlink stops.
    stopping: watch::Receiver<bool>,
}

impl Downlinks {
    /// Runs `wanted`, closing the others; `reload` says so in the log.
    fn follow(&mut self, wanted: Vec<Downlink>, reload: bool) {
        let key = |(route, to, qos): &Downlink| -> DownlinkKey {
            (
                route.pattern.address().to_owned(),
                to.as_str().to_owned(),
                *qos,
            )
        };
        let keep: HashSet<DownlinkKey> = wanted.iter().map(key).collect();
        let removed: Vec<DownlinkKey> = self
            .running
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        for k in removed {
            if let Some((stop, task)) = self.running.remove(&k) {
                stop.send_replace(true);
                tracing::info!(downlink = %k.0, to = %k.1, "a reload removed this downlink: its stream is closed");
                self.closing.push(task);
            }
        }
        for downlink in wanted {
            let k = key(&downlink);
            if self.running.contains_key(&k) {
                continue;
            }
            if reload {
                tracing::info!(downlink = %k.0, to = %k.1, "a reload added this downlink: opening its stream");
            }
            let (route, to, qos) = downlink;
            let (stop, stopped) = watch::channel(false);
            let stop = Arc::new(stop);
            // Shutdown stops it too; the forwarder ends with the downlink.
            let forward = stop.clone();
            let mut stopping = self.stopping.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = stopping.wait_for(|stop| *stop) => {
                        forward.send_replace(true);
                    }
                    () = forward.closed() => {}
                }
            });
            let task = tokio::spawn(downlink::run(
                route,
                to,
                qos,
                self.pipeline.clone(),
                self.publisher.clone(),
                self.publish_timeout,
                stopped,
            ));
            self.running.insert(k, (stop, task));
        }
    }

    /// Every downlink's task, running or closing, to await once shutdown told them to stop.
    fn take(&mut self) -> Vec<JoinHandle<()>> {
        let mut tasks = std::mem::take(&mut self.closing);
        tasks.extend(self.running.drain().map(|(_, (_, task))| task));
        tasks
    }
}

/// The filters (with their QoS) the bridge subscribes to for `table`'s topic routes, and the
/// downlinks.
fn subscriptions(table: &RouteTable) -> (Vec<(String, u8)>, Vec<Downlink>) {
    let mut filters = Vec::new();
    let mut downlinks = Vec::new();
    for route in table.topic_routes() {
        let (Some(options), RoutePattern::Topic(template)) =
            (&route.options.messages, &route.pattern)
        else {
            continue;
        };
        if let Some(to) = &options.stream_to {
            downlinks.push((route.clone(), to.clone(), options.qos));
            continue;
        }
        let filter = match &options.shared_group {
            Some(group) => format!("$share/{group}/{}", template.filter()),
            None => template.filter(),
        };
        filters.push((filter, options.qos));
    }
    (filters, downlinks)
}

impl Listener for MqttServer {
    fn protocol(&self) -> &'static str {
        "MQTT"
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn readiness(&self) -> Option<watch::Receiver<bool>> {
        Some(self.ready.subscribe())
    }

    fn serve(self: Box<Self>, pipeline: Arc<Pipeline>, shutdown: Shutdown) -> ServeFuture {
        Box::pin((*self).serve(pipeline, shutdown))
    }
}
