//! `Link`: one rumqttc connection, MQTT 3.1.1 or 5, whose event loop yields [`LinkEvent`]s of
//! ours, and its [`LinkHandle`] for acknowledging, publishing and subscribing. The only file
//! that knows rumqttc's two APIs apart, so everything above it is one code path.

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5 as v5_packets;
use rumqttc::{v5, Outgoing, TlsConfiguration, Transport};

use super::config::{BrokerAddress, ClientSettings, ProtocolVersion, SessionSettings};
use super::endpoint::EmbeddedEndpoint;

/// MQTT 5 properties of a message that polygate reads or writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    /// Where the sender wants the answer.
    pub response_topic: Option<String>,
    /// Bytes the answer must carry back unchanged.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// The payload's media type.
    pub content_type: Option<String>,
    /// The payload format indicator says UTF-8 text.
    pub utf8_payload: bool,
    /// Seconds the message stays valid.
    pub message_expiry: Option<u32>,
}

/// A message the broker delivered.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The topic it was published to.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS it was delivered with (0, 1 or 2).
    pub qos: u8,
    /// Its packet id (0 for QoS 0).
    pub pkid: u16,
    /// A redelivery.
    pub dup: bool,
    /// MQTT 5 properties (empty on 3.1.1).
    pub properties: MessageProperties,
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS (0, 1 or 2).
    pub qos: u8,
    /// Whether the broker keeps it as the topic's retained message.
    pub retain: bool,
    /// MQTT 5 properties (dropped on 3.1.1).
    pub properties: MessageProperties,
}

/// What happened on a link.
#[derive(Debug)]
pub enum LinkEvent {
    /// The broker accepted the connection.
    Connected {
        /// The broker kept the session of an earlier connection.
        session_present: bool,
    },
    /// A message arrived.
    Message(InboundMessage),
    /// A publish request was written with this packet id (0 for QoS 0).
    Published(u16),
    /// The broker took over the message published with this packet id (PUBACK, PUBCOMP).
    Accepted(u16),
    /// The broker refused the message published with this packet id (MQTT 5 reason code).
    Refused(u16, String),
    /// The broker answered a subscription: the granted QoS per filter, or why not.
    Subscribed(Vec<Result<u8, String>>),
    /// The broker answered an unsubscription (UNSUBACK): per filter, done or why not (MQTT
    /// 3.1.1 names no reasons: an empty list).
    Unsubscribed(Vec<Result<(), String>>),
    /// The broker released a QoS 2 message it delivered (PUBREL): its packet id is free.
    Released(u16),
    /// Our DISCONNECT was written.
    DisconnectSent,
    /// Anything else (pings, our own acks).
    Other,
}

/// Why a link failed; the next poll reconnects.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(String);

enum Loop {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

/// One connection to a broker: poll it continuously, from one task.
pub struct Link {
    events: Loop,
    handle: LinkHandle,
}

/// The requests side of a link; cheap to clone.
#[derive(Clone)]
pub enum LinkHandle {
    /// MQTT 3.1.1.
    V311(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(v5::AsyncClient),
}

fn qos_v311(qos: u8) -> rumqttc::QoS {
    match qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos_v5(qos: u8) -> v5::mqttbytes::QoS {
    match qos {
        0 => v5::mqttbytes::QoS::AtMostOnce,
        1 => v5::mqttbytes::QoS::AtLeastOnce,
        _ => v5::mqttbytes::QoS::ExactlyOnce,
    }
}

impl Link {
    /// A link to the broker of `settings` (waiting for the embedded broker's address if that
    /// is the broker); it connects on the first poll. `capacity` bounds its request queue.
    pub async fn new(
        settings: &ClientSettings,
        session: &SessionSettings,
        embedded: &EmbeddedEndpoint,
        capacity: usize,
    ) -> Self {
        let (host, port, credentials) = match &settings.address {
            BrokerAddress::Remote { host, port } => {
                (host.clone(), *port, settings.credentials.clone())
            }
            BrokerAddress::Embedded => {
                let access = embedded.get().await;
                (
                    access.addr.ip().to_string(),
                    access.addr.port(),
                    Some(settings.credentials.clone().unwrap_or(access.credentials)),
                )
            }
        };
        let transport = match &settings.tls {
            Some(tls) => Transport::Tls(TlsConfiguration::Rustls(tls.clone())),
            None => Transport::Tcp,
        };
        let packet_size = u32::try_from(session.max_packet_size).unwrap_or(u32::MAX);
        match settings.protocol {
            ProtocolVersion::V311 => {
                let mut options = rumqttc::MqttOptions::new(&session.client_id, host, port);
                options
                    .set_keep_alive(settings.keep_alive)
                    .set_clean_session(session.client_id.is_empty() || !session.persistent)
                    .set_manual_acks(session.manual_acks)
                    .set_max_packet_size(session.max_packet_size, session.max_packet_size)
                    .set_inflight(session.outgoing_inflight.max(1))
                    .set_transport(transport);
                if let Some((user, password)) = credentials {
                    options.set_credentials(user, password);
                }
                let (client, events) = rumqttc::AsyncClient::new(options, capacity);
                Self {
                    events: Loop::V311(Box::new(events)),
                    handle: LinkHandle::V311(client),
                }
            }
            ProtocolVersion::V5 => {
                let mut options = v5::MqttOptions::new(&session.client_id, host, port);
                options
                    .set_keep_alive(settings.keep_alive)
                    .set_clean_start(!session.persistent)
                    .set_manual_acks(session.manual_acks)
                    .set_max_packet_size(Some(packet_size))
                    .set_receive_maximum(Some(session.receive_maximum.max(1)))
                    .set_outgoing_inflight_upper_limit(session.outgoing_inflight.max(1))
                    .set_transport(transport);
                if session.persistent {
                    let expiry =
                        u32::try_from(session.session_expiry.as_secs()).unwrap_or(u32::MAX);
                    options.set_session_expiry_interval(Some(expiry));
                }
                if let Some((user, password)) = credentials {
                    options.set_credentials(user, password);
                }
                let (client, events) = v5::AsyncClient::new(options, capacity);
                Self {
                    events: Loop::V5(Box::new(events)),
                    handle: LinkHandle::V5(client),
                }
            }
        }
    }

    /// A handle for requests.
    pub fn handle(&self) -> LinkHandle {
        self.handle.clone()
    }

    /// Drops every request not yet written, and whatever an earlier connection left to
    /// resend (a clean session would drop it on reconnect anyway).
    pub fn discard_queued(&mut self) {
        match &mut self.events {
            Loop::V311(events) => {
                events.clean();
                events.pending.clear();
            }
            Loop::V5(events) => {
                events.clean();
                events.pending.clear();
            }
        }
    }

    /// The next event; an error means the connection broke (or could not be made) and the
    /// next poll reconnects.
    pub async fn poll(&mut self) -> Result<LinkEvent, LinkError> {
        match &mut self.events {
            Loop::V311(events) => match events.poll().await {
                Ok(event) => Ok(event_v311(event)),
                Err(error) => Err(LinkError(error.to_string())),
            },
            Loop::V5(events) => match events.poll().await {
                Ok(event) => Ok(event_v5(event)),
                Err(error) => Err(LinkError(error.to_string())),
            },
        }
    }
}

fn event_v311(event: rumqttc::Event) -> LinkEvent {
    use rumqttc::{Event, Packet, SubscribeReasonCode};
    match event {
        Event::Incoming(Packet::ConnAck(ack)) => LinkEvent::Connected {
            session_present: ack.session_present,
        },
        Event::Incoming(Packet::Publish(publish)) => LinkEvent::Message(InboundMessage {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos as u8,
            pkid: publish.pkid,
            dup: publish.dup,
            properties: MessageProperties::default(),
        }),
        Event::Incoming(Packet::PubAck(ack)) => LinkEvent::Accepted(ack.pkid),
        Event::Incoming(Packet::PubComp(ack)) => LinkEvent::Accepted(ack.pkid),
        Event::Incoming(Packet::SubAck(ack)) => LinkEvent::Subscribed(
            ack.return_codes
                .into_iter()
                .map(|code| match code {
                    SubscribeReasonCode::Success(qos) => Ok(qos as u8),
                    SubscribeReasonCode::Failure => Err("Failure".to_owned()),
                })
                .collect(),
        ),
        Event::Incoming(Packet::UnsubAck(_)) => LinkEvent::Unsubscribed(Vec::new()),
        Event::Incoming(Packet::PubRel(release)) => LinkEvent::Released(release.pkid),
        Event::Outgoing(Outgoing::Publish(pkid)) => LinkEvent::Published(pkid),
        Event::Outgoing(Outgoing::Disconnect) => LinkEvent::DisconnectSent,
        _ => LinkEvent::Other,
    }
}

fn event_v5(event: v5::Event) -> LinkEvent {
    use v5_packets::{
        Packet, PubAckReason, PubCompReason, PubRecReason, SubscribeReasonCode, UnsubAckReason,
    };
    match event {
        v5::Event::Incoming(Packet::ConnAck(ack)) => LinkEvent::Connected {
            session_present: ack.session_present,
        },
        v5::Event::Incoming(Packet::Publish(publish)) => {
            let properties = publish
                .properties
                .map(|p| MessageProperties {
                    response_topic: p.response_topic,
                    correlation_data: p.correlation_data,
                    user_properties: p.user_properties,
                    content_type: p.content_type,
                    utf8_payload: p.payload_format_indicator == Some(1),
                    message_expiry: p.message_expiry_interval,
                })
                .unwrap_or_default();
            LinkEvent::Message(InboundMessage {
                topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                payload: publish.payload,
                qos: publish.qos as u8,
                pkid: publish.pkid,
                dup: publish.dup,
                properties,
            })
        }
        v5::Event::Incoming(Packet::PubAck(ack)) => match ack.reason {
            PubAckReason::Success | PubAckReason::NoMatchingSubscribers => {
                LinkEvent::Accepted(ack.pkid)
            }
            reason => LinkEvent::Refused(ack.pkid, format!("{reason:?}")),
        },
        v5::Event::Incoming(Packet::PubRec(ack)) => match ack.reason {
            PubRecReason::Success | PubRecReason::NoMatchingSubscribers => LinkEvent::Other,
            reason => LinkEvent::Refused(ack.pkid, format!("{reason:?}")),
        },
        v5::Event::Incoming(Packet::PubComp(ack)) => match ack.reason {
            PubCompReason::Success => LinkEvent::Accepted(ack.pkid),
            reason => LinkEvent::Refused(ack.pkid, format!("{reason:?}")),
        },
        v5::Event::Incoming(Packet::SubAck(ack)) => LinkEvent::Subscribed(
            ack.return_codes
                .into_iter()
                .map(|code| match code {
                    SubscribeReasonCode::Success(qos) => Ok(qos as u8),
                    failure => Err(format!("{failure:?}")),
                })
                .collect(),
        ),
        v5::Event::Incoming(Packet::UnsubAck(ack)) => LinkEvent::Unsubscribed(
            ack.reasons
                .into_iter()
                .map(|reason| match reason {
                    // Gone either way.
                    UnsubAckReason::Success | UnsubAckReason::NoSubscriptionExisted => Ok(()),
                    failure => Err(format!("{failure:?}")),
                })
                .collect(),
        ),
        v5::Event::Incoming(Packet::PubRel(release)) => LinkEvent::Released(release.pkid),
        v5::Event::Outgoing(Outgoing::Publish(pkid)) => LinkEvent::Published(pkid),
        v5::Event::Outgoing(Outgoing::Disconnect) => LinkEvent::DisconnectSent,
        _ => LinkEvent::Other,
    }
}

impl LinkHandle {
    /// Queues the acknowledgement of a delivered message (PUBACK for QoS 1, PUBREC for QoS
    /// 2); false when the request queue is full or closed.
    pub fn try_ack(&self, pkid: u16, qos: u8) -> bool {
        if qos == 0 {
            return true;
        }
        match self {
            LinkHandle::V311(client) => {
                let mut publish = rumqttc::Publish::new("", qos_v311(qos), Vec::new());
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
            LinkHandle::V5(client) => {
                let mut publish = v5_packets::Publish::new("", qos_v5(qos), Bytes::new(), None);
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
        }
    }

    /// Queues one SUBSCRIBE packet for every filter with its QoS; false when the request
    /// queue is full or closed. MQTT 5 subscriptions never replay retained messages into the
    /// bridge.
    pub fn try_subscribe(&self, filters: &[(String, u8)]) -> bool {
        match self {
            LinkHandle::V311(client) => {
                let filters = filters
                    .iter()
                    .map(|(path, qos)| rumqttc::SubscribeFilter::new(path.clone(), qos_v311(*qos)));
                client.try_subscribe_many(filters).is_ok()
            }
            LinkHandle::V5(client) => {
                let filters = filters.iter().map(|(path, qos)| {
                    let mut filter = v5_packets::Filter::new(path.clone(), qos_v5(*qos));
                    filter.retain_forward_rule = v5_packets::RetainForwardRule::Never;
                    filter
                });
                client.try_subscribe_many(filters).is_ok()
            }
        }
    }

    /// Queues an UNSUBSCRIBE packet for `filter`; false when the request queue is full or
    /// closed.
    pub fn try_unsubscribe(&self, filter: &str) -> bool {
        match self {
            LinkHandle::V311(client) => client.try_unsubscribe(filter).is_ok(),
            LinkHandle::V5(client) => client.try_unsubscribe(filter).is_ok(),
        }
    }

    /// Queues a publish, waiting while the request queue is full.
    pub async fn publish(&self, message: OutboundMessage) -> Result<(), LinkError> {
        match self {
            LinkHandle::V311(client) => client
                .publish_bytes(
                    message.topic,
                    qos_v311(message.qos),
                    message.retain,
                    message.payload,
                )
                .await
                .map_err(|e| LinkError(e.to_string())),
            LinkHandle::V5(client) => {
                let p = message.properties;
                let properties = v5_packets::PublishProperties {
                    payload_format_indicator: p.utf8_payload.then_some(1),
                    message_expiry_interval: p.message_expiry,
                    topic_alias: None,
                    response_topic: p.response_topic,
                    correlation_data: p.correlation_data,
                    user_properties: p.user_properties,
                    subscription_identifiers: Vec::new(),
                    content_type: p.content_type,
                };
                client
                    .publish_bytes_with_properties(
                        message.topic,
                        qos_v5(message.qos),
                        message.retain,
                        message.payload,
                        properties,
                    )
                    .await
                    .map_err(|e| LinkError(e.to_string()))
            }
        }
    }

    /// Asks for a clean disconnect (the session stays on the broker when it is persistent).
    pub async fn disconnect(&self) {
        // A closed request queue means the link is gone already.
        match self {
            LinkHandle::V311(client) => {
                let _ = client.disconnect().await;
            }
            LinkHandle::V5(client) => {
                let _ = client.disconnect().await;
            }
        }
    }
}
