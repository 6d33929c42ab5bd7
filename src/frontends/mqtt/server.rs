//! The MQTT listener: binds the embedded broker (when there is one), then serves the bridge,
//! the publisher and the downlinks until shutdown, and stops them in an order that loses
//! nothing: downlinks and new deliveries first, work under way drained and acknowledged, the
//! bridge disconnected (its session stays), the publisher closed, the broker stopped last
//! (writing its sessions and queued messages to its storage).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::bridge::{self, BridgeParts};
use super::broker::{self, EmbeddedBroker};
use super::config::{BrokerMode, MqttFrontendSettings};
use super::downlink;
use super::handler::{MqttCounters, Worker};
use crate::frontends::{Listener, ServeFuture, Shutdown};
use crate::mapping::messages::OutputTopic;
use crate::mapping::{Route, RoutePattern, RouteTable};
use crate::mqtt_client::{
    BrokerAddress, ClientSettings, Link, ProtocolVersion, Publisher, SessionSettings,
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
        // A reload's table: its filters go to the bridge, and the table it replaced stays
        // at hand for the messages its removed routes had taken.
        let following = {
            let pipeline = pipeline.clone();
            let worker = worker.clone();
            tokio::spawn(async move {
                let mut current = table;
                while replaced.changed().await.is_ok() {
                    let table = pipeline.routes();
                    filters_in.send_if_modified(|filters| {
                        let (now, _) = subscriptions(&table);
                        let changed = *filters != now;
                        *filters = now;
                        changed
                    });
                    worker
                        .retired
                        .store(Some(std::mem::replace(&mut current, table)));
                }
            })
        };
        let downlink_tasks: Vec<_> = downlinks
            .into_iter()
            .map(|(route, topic, qos)| {
                tokio::spawn(downlink::run(
                    route,
                    topic,
                    qos,
                    pipeline.clone(),
                    publisher.clone(),
                    settings.publish_timeout,
                    stopping.clone(),
                ))
            })
            .collect();
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
        for task in downlink_tasks {
            let _ = task.await;
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

/// The filters (with their QoS) the bridge subscribes to for `table`'s topic routes, and the
/// downlinks (route, `stream_to` topic, QoS).
#[allow(clippy::type_complexity)]
fn subscriptions(table: &RouteTable) -> (Vec<(String, u8)>, Vec<(Arc<Route>, OutputTopic, u8)>) {
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
