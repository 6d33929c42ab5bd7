//! Downlinks: a topic route with `stream_to` opens its server-streaming method through the
//! pipeline and publishes every streamed message to a topic filled from the message's fields
//! (commands or live data to devices). A stream that ends is opened again after 200 ms, one
//! that breaks with exponential backoff (up to 30 s); each message waits for the broker's acknowledgement before the next is read, so
//! a slow broker slows the stream instead of filling memory.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use http::HeaderMap;
use tokio::sync::watch;

use crate::mapping::messages::OutputTopic;
use crate::mapping::Route;
use crate::model::{Caller, FrontendKind, GatewayRequest, RequestBody, RequestKey, ResponseBody};
use crate::mqtt_client::{MessageProperties, OutboundMessage, Publisher};
use crate::pipeline::Pipeline;

/// The first and the longest wait before a stream is opened again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(30));

/// Runs the downlink of `route` until `stopping` is set.
pub(crate) async fn run(
    route: Arc<Route>,
    topic: OutputTopic,
    qos: u8,
    pipeline: Arc<Pipeline>,
    publisher: Publisher,
    publish_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let name = route.pattern.address().to_owned();
    let mut backoff = BACKOFF.0;
    loop {
        let mut ended = false;
        let request = GatewayRequest {
            key: RequestKey::Topic {
                topic: name.as_str().into(),
            },
            body: RequestBody::Empty,
            metadata: HeaderMap::new(),
            timeout: None,
            caller: Caller {
                frontend: FrontendKind::Mqtt,
                ..Caller::default()
            },
        };
        let opened = tokio::select! {
            opened = pipeline.handle(request) => opened,
            _ = stopping.wait_for(|stop| *stop) => return,
        };
        match opened {
            Ok(response) => {
                let mut messages = match response.body {
                    ResponseBody::Stream(messages) => messages,
                    ResponseBody::Unary { message, .. } => {
                        Box::pin(futures_util::stream::once(async move { Ok(message) }))
                    }
                };
                tracing::debug!(downlink = %name, to = topic.as_str(), "downlink stream open");
                loop {
                    let item = tokio::select! {
                        item = messages.next() => item,
                        _ = stopping.wait_for(|stop| *stop) => return,
                    };
                    match item {
                        None => {
                            // A stream that ends well is opened again soon; only failures
                            // back off further.
                            tracing::debug!(downlink = %name, "downlink stream ended; opening it again");
                            backoff = BACKOFF.0;
                            ended = true;
                            break;
                        }
                        Some(Err(status)) => {
                            tracing::warn!(downlink = %name, code = ?status.code(), error = status.message(), "downlink stream broke");
                            break;
                        }
                        Some(Ok(message)) => {
                            backoff = BACKOFF.0;
                            let data = message.bytes().clone();
                            let target = match fill(&topic, &data) {
                                Ok(target) => target,
                                Err(error) => {
                                    tracing::warn!(downlink = %name, %error, "a streamed message cannot fill the topic; skipped");
                                    continue;
                                }
                            };
                            let outbound = OutboundMessage {
                                topic: target,
                                payload: data,
                                qos,
                                retain: false,
                                properties: MessageProperties {
                                    content_type: Some("application/json".to_owned()),
                                    utf8_payload: true,
                                    ..MessageProperties::default()
                                },
                            };
                            if !publish(&publisher, outbound, publish_timeout, &mut stopping).await
                            {
                                return;
                            }
                            let metrics = &pipeline.telemetry().metrics.mqtt;
                            metrics
                                .messages_out
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            }
            Err(status) => {
                tracing::warn!(downlink = %name, code = ?status.code(), error = status.message(), "cannot open the downlink stream");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        if !ended {
            backoff = (backoff * 2).min(BACKOFF.1);
        }
    }
}

/// Publishes until the broker takes the message; false when stopping came first.
async fn publish(
    publisher: &Publisher,
    message: OutboundMessage,
    timeout: Duration,
    stopping: &mut watch::Receiver<bool>,
) -> bool {
    let mut wait = Duration::from_millis(100);
    loop {
        match publisher.publish(message.clone(), timeout).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::warn!(topic = %message.topic, %error, "downlink publish failed; trying again")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|stop| *stop) => return false,
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// The topic for one streamed message (proto3 JSON): each variable is a field path, looked up
/// by its name as written and in lowerCamelCase; strings, numbers and booleans fill a level.
fn fill(topic: &OutputTopic, message: &[u8]) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(message).map_err(|e| format!("the message is not JSON: {e}"))?;
    let mut texts: Vec<(String, String)> = Vec::new();
    for name in topic.variables() {
        let found =
            lookup(&value, name).ok_or_else(|| format!("the message has no field '{name}'"))?;
        let text = match found {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Bool(flag) => flag.to_string(),
            _ => return Err(format!("field '{name}' is not a string, number or boolean")),
        };
        texts.push((name.to_owned(), text));
    }
    topic.render(|name| {
        texts
            .iter()
            .find(|(variable, _)| variable == name)
            .map(|(_, text)| text.as_str())
    })
}

fn lookup<'v>(value: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path.split('.').try_fold(value, |current, segment| {
        let object = current.as_object()?;
        object
            .get(segment)
            .or_else(|| object.get(&lower_camel(segment)))
    })
}

fn lower_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_fields_fill_the_topic_by_proto_or_json_name() {
        let topic = OutputTopic::parse_any("sites/{site.id}/devices/{device_id}/commands").unwrap();
        assert_eq!(
            fill(
                &topic,
                br#"{"site":{"id":7},"deviceId":"d-1","command":"reboot"}"#
            )
            .unwrap(),
            "sites/7/devices/d-1/commands"
        );
        assert_eq!(
            fill(&topic, br#"{"site":{"id":7}}"#).unwrap_err(),
            "the message has no field 'device_id'"
        );
        assert_eq!(
            fill(&topic, br#"{"site":{"id":7},"device_id":"a/b"}"#).unwrap_err(),
            "topic 'sites/{site.id}/devices/{device_id}/commands': the value of {device_id} holds '/', '+', '#' or NUL"
        );
        assert_eq!(
            fill(&topic, br#"{"site":{"id":[1]},"device_id":"x"}"#).unwrap_err(),
            "field 'site.id' is not a string, number or boolean"
        );
    }
}
