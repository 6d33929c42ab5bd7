//! The publish plan: a route bound to an MQTT backend; `publish: {topic: …}` publishes the
//! request's body to a topic filled from the route's variables, e.g.
//! `POST /v1/sites/{site}/devices/{device_id}/commands` → `sites/{site}/devices/{device_id}/commands`.
//! The backend's answer (`{"topic": …, "qos": …}`) passes through.

use bytes::Bytes;
use http::Method;

use super::document::json_only;
use super::values::BodyTarget;
use crate::mapping::messages::OutputTopic;
use crate::mapping::route::{BindRequest, Route, RoutePattern};
use crate::mapping::source::{PublishTargetConfig, RouteSpec};
use crate::model::{BackendCall, Payload, RequestBody, Status};

/// A publish to an MQTT backend.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    topic: OutputTopic,
}

impl PublishPlan {
    /// The plan of a `publish:` target, and the operation `polygate check` shows for it.
    pub(crate) fn compile(
        spec: &RouteSpec,
        publish: &PublishTargetConfig,
        pattern: &RoutePattern,
    ) -> Result<(Self, String), String> {
        if let BodyTarget::Member(name) = BodyTarget::from_setting(&spec.body) {
            return Err(format!(
                "publish: routes publish the whole body; body must be \"*\" or unset, not '{name}'"
            ));
        }
        if !spec.response_fields.is_empty() || !spec.response_body.is_empty() {
            return Err("publish: routes answer with the topic and QoS; response_body and response_fields do not apply".into());
        }
        let variables: Vec<String> = pattern
            .variables()
            .iter()
            .map(|v| v.field_path.to_string())
            .collect();
        let topic =
            OutputTopic::parse(&publish.topic, &variables).map_err(|e| format!("publish: {e}"))?;
        let operation = format!("PUBLISH {}", topic.as_str());
        Ok((Self { topic }, operation))
    }

    /// The call: the topic from the captured variables, the body as it came (JSON or raw).
    pub(crate) fn bind(
        &self,
        route: &Route,
        request: BindRequest<'_>,
    ) -> Result<BackendCall, Status> {
        let captures = request.captures;
        let topic = self
            .topic
            .render(|name| {
                captures
                    .iter()
                    .find(|c| c.field_path.to_string() == name)
                    .map(|c| c.value.as_ref())
            })
            .map_err(Status::invalid_argument)?;
        let message = match request.body {
            RequestBody::Empty => Payload::Json(Bytes::new()),
            RequestBody::Unary(payload @ (Payload::Json(_) | Payload::Raw { .. })) => payload,
            RequestBody::Unary(_) | RequestBody::Stream(_) => return Err(json_only(route)),
        };
        Ok(BackendCall::unary(
            topic.into(),
            Method::POST,
            message,
            request.metadata,
            request.timeout,
        ))
    }

    /// The backend's answer, as it is.
    pub(crate) fn encode(&self, _route: &Route, message: Payload) -> Result<Payload, Status> {
        Ok(message)
    }
}
