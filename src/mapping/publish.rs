//! Routes to MQTT backends: a `routes:` entry with `publish: {topic: …}` publishes the
//! request's body to a topic filled from the route's variables, e.g.
//! `POST /v1/sites/{site}/devices/{device_id}/commands` → `sites/{site}/devices/{device_id}/commands`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::matcher::Capture;
use super::messages::OutputTopic;
use super::route::{Route, RoutePattern};
use crate::model::{BackendCall, CallShape, Payload, RequestBody, RequestMessages, Status};

/// A publish to an MQTT backend.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub(crate) topic: OutputTopic,
}

impl PublishPlan {
    /// Compiles `topic` against the route's pattern: every `{name}` must be one of its
    /// variables.
    pub(crate) fn compile(topic: &str, pattern: &RoutePattern) -> Result<Self, String> {
        let variables: Vec<String> = pattern
            .variables()
            .iter()
            .map(|v| v.field_path.to_string())
            .collect();
        Ok(Self {
            topic: OutputTopic::parse(topic, &variables).map_err(|e| format!("publish: {e}"))?,
        })
    }

    /// The template as written.
    pub(crate) fn as_str(&self) -> &str {
        self.topic.as_str()
    }
}

impl Route {
    /// Binds a request to a publish: the topic from the captured variables, the body as it
    /// came (JSON or raw bytes).
    pub(crate) fn bind_publish(
        &self,
        plan: &PublishPlan,
        path: &[Capture<'_, '_>],
        body: RequestBody,
        metadata: HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<BackendCall, Status> {
        let topic = plan
            .topic
            .render(|name| {
                path.iter()
                    .find(|c| c.field_path.to_string() == name)
                    .map(|c| c.value.as_ref())
            })
            .map_err(Status::invalid_argument)?;
        let message = match body {
            RequestBody::Empty => Payload::Json(Bytes::new()),
            RequestBody::Unary(payload @ (Payload::Json(_) | Payload::Raw { .. })) => payload,
            RequestBody::Unary(_) | RequestBody::Stream(_) => {
                return Err(Status::unsupported_media_type(
                    format!("{} takes one JSON or raw body", self.pattern),
                    "application/json",
                ))
            }
        };
        Ok(BackendCall {
            operation: Arc::from(topic),
            method: Method::POST,
            shape: CallShape::Unary,
            messages: RequestMessages::Unary(message),
            metadata,
            timeout: Some(timeout.map_or(self.options.timeout, |t| t.min(self.options.timeout))),
        })
    }
}
