//! `MqttBackend`: publishes a bound call's message to its topic (the call's operation) and
//! answers `{"topic": …, "qos": …}` once the broker took it over.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tokio::sync::OnceCell;

use super::config::MqttBackendSettings;
use crate::model::{
    Backend, BackendCall, BackendFuture, Code, GatewayResponse, Payload, RequestMessages,
    ResponseBody, Status,
};
use crate::mqtt_client::{
    EmbeddedEndpoint, MessageProperties, OutboundMessage, PublishError, Publisher,
};

/// How long a call waits when it names no deadline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first call waits for the connection to come up.
const FIRST_CONNECT: Duration = Duration::from_secs(3);

/// An MQTT backend: one publisher connection, opened by the first call.
pub struct MqttBackend {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    settings: MqttBackendSettings,
    embedded: EmbeddedEndpoint,
    publisher: OnceCell<Publisher>,
}

/// Everything that can go wrong in a publish call.
enum MqttError {
    Publish(PublishError),
    Request(&'static str),
}

impl MqttBackend {
    /// A backend named `name`; `embedded` locates the embedded broker for `url: embedded`.
    pub fn new(name: &str, settings: MqttBackendSettings, embedded: &EmbeddedEndpoint) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                settings,
                embedded: embedded.clone(),
                publisher: OnceCell::new(),
            }),
        }
    }
}

impl Inner {
    async fn publisher(&self) -> &Publisher {
        self.publisher
            .get_or_init(|| async {
                let client_id = self
                    .settings
                    .client_id
                    .clone()
                    .unwrap_or_else(|| format!("polygate-{}", self.name));
                let publisher = Publisher::start(
                    &self.settings.broker,
                    client_id,
                    self.settings.max_packet_size,
                    self.settings.max_in_flight,
                    &self.embedded,
                )
                .await;
                publisher.wait_connected(FIRST_CONNECT).await;
                publisher
            })
            .await
    }

    async fn publish(&self, call: BackendCall) -> Result<GatewayResponse, MqttError> {
        let (payload, content_type) = match call.messages {
            RequestMessages::Unary(Payload::Json(body)) => (body, "application/json".to_owned()),
            RequestMessages::Unary(Payload::Raw { content_type, data }) => (data, content_type),
            _ => {
                return Err(MqttError::Request(
                    "an MQTT backend takes one JSON or raw message",
                ))
            }
        };
        let user_properties = call
            .metadata
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_owned(), v.to_owned()))
            })
            .collect();
        let qos = self.settings.qos;
        let message = OutboundMessage {
            topic: call.operation.to_string(),
            payload,
            qos,
            retain: self.settings.retain,
            properties: MessageProperties {
                user_properties,
                utf8_payload: content_type == "application/json",
                content_type: Some(content_type),
                ..MessageProperties::default()
            },
        };
        let timeout = call.timeout.unwrap_or(DEFAULT_TIMEOUT);
        self.publisher()
            .await
            .publish(message, timeout)
            .await
            .map_err(MqttError::Publish)?;
        let mut answer = Vec::with_capacity(call.operation.len() + 24);
        answer.extend_from_slice(b"{\"topic\":");
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut answer, &*call.operation);
        answer.extend_from_slice(format!(",\"qos\":{qos}}}").as_bytes());
        Ok(GatewayResponse {
            upstream: None,
            cache: None,
            metadata: HeaderMap::new(),
            body: ResponseBody::Unary {
                message: Payload::Json(Bytes::from(answer)),
                trailers: HeaderMap::new(),
            },
        })
    }
}

impl Backend for MqttBackend {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn call(&self, call: BackendCall) -> BackendFuture {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .publish(call)
                .await
                .map_err(|error| status(&inner.name, error))
        })
    }
}

/// The canonical error of a publish call's failure.
fn status(backend: &str, error: MqttError) -> Status {
    match error {
        MqttError::Publish(error @ PublishError::Refused(_)) => Status::upstream_fault(
            Code::FailedPrecondition,
            format!("backend '{backend}': {error}"),
        ),
        MqttError::Publish(error @ PublishError::TimedOut(_)) => {
            Status::deadline_exceeded(format!("backend '{backend}': {error}"))
        }
        MqttError::Publish(error) => {
            Status::unavailable(format!("backend '{backend}' is unreachable: {error}"))
        }
        MqttError::Request(message) => Status::internal(format!("backend '{backend}': {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Rejection;

    #[test]
    fn publish_failures_map_to_canonical_codes() {
        let down = status(
            "devices",
            MqttError::Publish(PublishError::NotConnected("refused".into())),
        );
        assert_eq!(down.code(), Code::Unavailable);
        assert_eq!(
            down.message(),
            "backend 'devices' is unreachable: the broker is not connected: refused"
        );
        let lost = status("devices", MqttError::Publish(PublishError::ConnectionLost));
        assert_eq!(lost.code(), Code::Unavailable);
        let refused = status(
            "devices",
            MqttError::Publish(PublishError::Refused("NotAuthorized".into())),
        );
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert_eq!(refused.rejection(), Some(&Rejection::UpstreamFault));
        let slow = status(
            "devices",
            MqttError::Publish(PublishError::TimedOut(Duration::from_secs(1))),
        );
        assert_eq!(slow.code(), Code::DeadlineExceeded);
    }
}
