//! The work on one delivered message: decode it, call the backend through the pipeline with
//! the route's retry policy, and publish the reply, the error or the dead letter; the outcome
//! says whether the message may be acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::decode::decode;
use super::encode::{error_message, DeadLetter};
use crate::mapping::messages::{MessageOptions, OutputTopic};
use crate::mapping::{Route, RoutePattern, RouteTable};
use crate::model::{ErrorSource, GatewayResponse, RequestKey, ResponseBody, Status};
use crate::mqtt_client::{InboundMessage, MessageProperties, OutboundMessage, Publisher};
use crate::pipeline::Pipeline;

/// The user property the embedded broker adds with the publishing device's client id.
const CLIENT_ID_PROPERTY: &str = "x-mqtt-client-id";

/// How one message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its work is done (the backend answered, or its error or dead letter was taken over
    /// by the broker): acknowledge it.
    Done,
    /// Shutdown stopped it first: leave it unacknowledged, the broker delivers it again.
    Abandoned,
}

/// Counters of what the bridge did, for logs and the admin listener.
#[derive(Debug, Default)]
pub struct MqttCounters {
    /// Messages whose backend call succeeded.
    pub succeeded: AtomicU64,
    /// Calls tried again.
    pub retries: AtomicU64,
    /// Errors published to an error or reply topic.
    pub errors_published: AtomicU64,
    /// Messages published to a dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Failed messages dropped (logged) because their route names no topic for them.
    pub dropped: AtomicU64,
    /// Messages on topics no route takes.
    pub unrouted: AtomicU64,
}

/// What every message's work shares.
pub(crate) struct Worker {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) publisher: Publisher,
    pub(crate) client_id: String,
    pub(crate) max_payload_size: usize,
    pub(crate) publish_timeout: Duration,
    pub(crate) stopping: watch::Receiver<bool>,
    pub(crate) counters: Arc<MqttCounters>,
    /// The route table the last reload replaced: a message taken under its subscriptions
    /// whose route the reload removed is answered as its route said failures are.
    pub(crate) retired: arc_swap::ArcSwapOption<RouteTable>,
}

/// The longest wait between two publishes of a reply, error or dead letter.
const MAX_PUBLISH_BACKOFF: Duration = Duration::from_secs(5);

impl Worker {
    /// Works on `message` until it may be acknowledged, or shutdown stops it. (The bridge
    /// counted it in, in the order it arrived.)
    pub(crate) async fn work(&self, message: InboundMessage) -> Outcome {
        let metrics = &self.pipeline.telemetry().metrics.mqtt;
        let outcome = self.work_on(message).await;
        if outcome == Outcome::Done {
            metrics.acks.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    async fn work_on(&self, message: InboundMessage) -> Outcome {
        let key = RequestKey::Topic {
            topic: message.topic.as_str().into(),
        };
        let (route, variables) = match lookup(&self.pipeline.routes(), &key) {
            Ok(found) => found,
            Err(status) => return self.unrouted(&message, &key, &status).await,
        };
        let Some(options) = route.options.messages.clone() else {
            return Outcome::Done;
        };
        let target = Target {
            options: &options,
            message: &message,
            variables: &variables,
            route: &route.pattern,
        };
        let mut attempt = 1;
        loop {
            let result = match decode(&message, &options, self.max_payload_size) {
                Ok(request) => self.pipeline.handle(request).await,
                Err(status) => Err(status),
            };
            let status = match result {
                Ok(response) => {
                    self.counters.succeeded.fetch_add(1, Ordering::Relaxed);
                    return self.reply(&target, response).await;
                }
                Err(status) => status,
            };
            let retryable = status.source() != ErrorSource::Client
                && options.retry.retryable.contains(&status.code());
            if retryable && options.retry.retries(status.code(), attempt) {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                let metrics = &self.pipeline.telemetry().metrics.mqtt;
                metrics.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(topic = %message.topic, attempt, code = ?status.code(), "retrying");
                if !self.pause(options.retry.backoff(attempt)).await {
                    return Outcome::Abandoned;
                }
                attempt += 1;
                continue;
            }
            return self.fail(&target, &status, attempt, retryable).await;
        }
    }

    /// A message no route of the current table takes (a reload removed its route, or the
    /// broker's session still holds a subscription of an earlier configuration): its error
    /// (`NOT_FOUND`, not retried) goes where the removed route sent failures (the table the
    /// last reload replaced), else to the MQTT 5 response topic; else it is logged and
    /// counted. Then it is acknowledged.
    async fn unrouted(
        &self,
        message: &InboundMessage,
        key: &RequestKey,
        status: &Status,
    ) -> Outcome {
        let count = self.counters.unrouted.fetch_add(1, Ordering::Relaxed) + 1;
        let retired = self
            .retired
            .load_full()
            .and_then(|table| lookup(&table, key).ok());
        if let Some((route, variables)) = retired {
            if let Some(options) = &route.options.messages {
                tracing::warn!(topic = %message.topic, count, "a reload removed the route of this message; its error goes where the route sent failures");
                let status = Status::not_found(format!(
                    "no route for topic {}: a configuration reload removed it",
                    message.topic
                ));
                let target = Target {
                    options,
                    message,
                    variables: &variables,
                    route: &route.pattern,
                };
                return self.fail(&target, &status, 1, false).await;
            }
        }
        let Some(topic) = response_topic(message) else {
            tracing::warn!(topic = %message.topic, count, "no route takes this topic; message acknowledged and dropped");
            return Outcome::Done;
        };
        tracing::warn!(topic = %message.topic, count, "no route takes this topic; its error goes to the response topic");
        self.publish_error(topic, status, message.properties.correlation_data.clone())
            .await
    }

    /// Publishes `status` as an error message to `topic` (QoS 1) and counts it once taken.
    async fn publish_error(
        &self,
        topic: String,
        status: &Status,
        correlation: Option<Bytes>,
    ) -> Outcome {
        let (payload, properties) = error_message(status, correlation);
        let outcome = self
            .publish_reliably(OutboundMessage {
                topic,
                payload,
                qos: 1,
                retain: false,
                properties,
            })
            .await;
        if outcome == Outcome::Done {
            self.counters
                .errors_published
                .fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// Publishes the answer to the response topic or the reply topic, if there is one.
    async fn reply(&self, target: &Target<'_>, response: GatewayResponse) -> Outcome {
        let Some((topic, correlation)) = target.reply_topic(None) else {
            return Outcome::Done;
        };
        let reply = |payload: Bytes| OutboundMessage {
            topic: topic.clone(),
            payload,
            qos: target.reply_qos(),
            retain: false,
            properties: MessageProperties {
                correlation_data: correlation.clone(),
                content_type: Some("application/json".to_owned()),
                utf8_payload: true,
                ..MessageProperties::default()
            },
        };
        match response.body {
            ResponseBody::Unary { message, .. } => {
                self.publish_reliably(reply(message.bytes().clone())).await
            }
            ResponseBody::Stream(mut messages) => {
                while let Some(item) = messages.next().await {
                    let outbound = match item {
                        Ok(message) => reply(message.bytes().clone()),
                        Err(status) => {
                            let (payload, properties) = error_message(&status, correlation.clone());
                            OutboundMessage {
                                properties,
                                ..reply(payload)
                            }
                        }
                    };
                    if self.publish_reliably(outbound).await == Outcome::Abandoned {
                        return Outcome::Abandoned;
                    }
                }
                Outcome::Done
            }
        }
    }

    /// Publishes a failed call's dead letter (retries spent) or error, or counts the drop.
    async fn fail(
        &self,
        target: &Target<'_>,
        status: &Status,
        attempts: u32,
        retries_spent: bool,
    ) -> Outcome {
        let message = target.message;
        if retries_spent {
            if let Some(topic) = target.render(target.options.dead_letter_topic.as_ref()) {
                let client_id = message
                    .properties
                    .user_properties
                    .iter()
                    .find(|(k, _)| k == CLIENT_ID_PROPERTY)
                    .map(|(_, v)| v.as_str());
                let route = target.route.to_string();
                let letter = DeadLetter {
                    route: &route,
                    topic: &message.topic,
                    client_id,
                    gateway: &self.client_id,
                    payload: &message.payload,
                    status,
                    attempts,
                };
                let outbound = OutboundMessage {
                    topic,
                    payload: letter.to_json(),
                    qos: 1,
                    retain: false,
                    properties: MessageProperties {
                        content_type: Some("application/json".to_owned()),
                        utf8_payload: true,
                        ..MessageProperties::default()
                    },
                };
                tracing::warn!(topic = %message.topic, attempts, code = ?status.code(), "retries spent; dead-lettering");
                let outcome = self.publish_reliably(outbound).await;
                if outcome == Outcome::Done {
                    self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    let metrics = &self.pipeline.telemetry().metrics.mqtt;
                    metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
                }
                return outcome;
            }
        }
        let error_topic = target.render(target.options.error_topic.as_ref());
        match target.reply_topic(error_topic) {
            Some((topic, correlation)) => self.publish_error(topic, status, correlation).await,
            None => {
                let count = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    topic = %message.topic,
                    code = ?status.code(),
                    error = status.message(),
                    count,
                    "the call failed and the route names no error topic; message acknowledged and dropped"
                );
                Outcome::Done
            }
        }
    }

    /// Publishes until the broker takes the message over, or shutdown stops it.
    async fn publish_reliably(&self, message: OutboundMessage) -> Outcome {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self
                .publisher
                .publish(message.clone(), self.publish_timeout)
                .await
            {
                Ok(()) => {
                    let metrics = &self.pipeline.telemetry().metrics.mqtt;
                    metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                    return Outcome::Done;
                }
                Err(error) => {
                    tracing::warn!(topic = %message.topic, %error, "publish failed; trying again");
                }
            }
            if !self.pause(backoff).await {
                return Outcome::Abandoned;
            }
            backoff = (backoff * 2).min(MAX_PUBLISH_BACKOFF);
        }
    }

    /// Waits `duration`; false when shutdown came first.
    async fn pause(&self, duration: Duration) -> bool {
        let mut stopping = self.stopping.clone();
        if *stopping.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            _ = stopping.wait_for(|stop| *stop) => false,
        }
    }
}

/// A route found for a message, and its topic variables (name, value).
type Found = (Arc<Route>, Vec<(String, String)>);

/// The route `table` finds for `key`, with the topic variables when the route's output
/// topics name them (no copies for routes without them).
fn lookup(table: &RouteTable, key: &RequestKey) -> Result<Found, Status> {
    let found = table.find(key)?;
    let wanted = found.route.options.messages.as_ref().is_some_and(|m| {
        m.error_topic.is_some() || m.dead_letter_topic.is_some() || m.reply_topic.is_some()
    });
    let variables = if wanted {
        found
            .captures
            .iter()
            .map(|c| (c.field_path.to_string(), c.value.to_string()))
            .collect()
    } else {
        Vec::new()
    };
    Ok((found.route.clone(), variables))
}

/// The MQTT 5 response topic `message` names, if it is a topic one may publish to.
fn response_topic(message: &InboundMessage) -> Option<String> {
    message
        .properties
        .response_topic
        .as_ref()
        .filter(|t| !t.is_empty() && !t.contains(['+', '#']))
        .cloned()
}

/// Where a message's answers go.
struct Target<'a> {
    options: &'a MessageOptions,
    message: &'a InboundMessage,
    variables: &'a [(String, String)],
    route: &'a RoutePattern,
}

impl Target<'_> {
    /// The topic `template` names for this message, if the template is set and fills.
    fn render(&self, template: Option<&OutputTopic>) -> Option<String> {
        let template = template?;
        match template.render(|name| {
            self.variables
                .iter()
                .find(|(variable, _)| variable == name)
                .map(|(_, value)| value.as_str())
        }) {
            Ok(topic) => Some(topic),
            Err(error) => {
                tracing::warn!(topic = %self.message.topic, %error, "cannot fill the topic");
                None
            }
        }
    }

    /// Where the answer goes: the MQTT 5 response topic with its correlation data, else
    /// `fallback`, else the route's reply topic.
    fn reply_topic(&self, fallback: Option<String>) -> Option<(String, Option<Bytes>)> {
        let properties = &self.message.properties;
        if let Some(topic) = response_topic(self.message) {
            return Some((topic, properties.correlation_data.clone()));
        }
        fallback
            .or_else(|| self.render(self.options.reply_topic.as_ref()))
            .map(|topic| (topic, properties.correlation_data.clone()))
    }

    /// Replies go at QoS 1 unless the request came at QoS 0.
    fn reply_qos(&self) -> u8 {
        self.message.qos.min(1)
    }
}
