//! Active health checks: the pure verdict of an endpoint's checks in a row, and the probes
//! themselves (`grpc.health.v1.Health/Check` through the endpoint's own gRPC client, or a `GET`
//! of a path that must answer 2xx).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method};

use super::config::HealthCheckSettings;
use crate::model::{Backend, BackendCall, CallShape, Payload, RequestMessages, ResponseBody};

/// The gRPC health-check method.
const GRPC_HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: u64 = 1;

/// What a change of verdict was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The endpoint became healthy.
    BecameHealthy,
    /// The endpoint became unhealthy.
    BecameUnhealthy,
}

/// The verdict of an endpoint's checks: healthy until `unhealthy_threshold` checks in a row
/// fail, then unhealthy until `healthy_threshold` in a row pass.
#[derive(Debug, Clone)]
pub struct Health {
    healthy: bool,
    in_a_row: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            healthy: true,
            in_a_row: 0,
        }
    }
}

impl Health {
    /// Whether the endpoint counts as healthy.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// Books one check; returns the change of verdict it caused, if any.
    pub fn record(&mut self, passed: bool, settings: &HealthCheckSettings) -> Option<Verdict> {
        if passed == self.healthy {
            self.in_a_row = 0;
            return None;
        }
        self.in_a_row += 1;
        let threshold = if passed {
            settings.healthy_threshold
        } else {
            settings.unhealthy_threshold
        };
        if self.in_a_row < threshold {
            return None;
        }
        self.healthy = passed;
        self.in_a_row = 0;
        Some(if passed {
            Verdict::BecameHealthy
        } else {
            Verdict::BecameUnhealthy
        })
    }
}

/// How one endpoint is checked.
#[derive(Clone)]
pub(crate) enum Probe {
    /// `grpc.health.v1.Health/Check` with this encoded request, through the endpoint's client.
    Grpc(Bytes),
    /// `GET path` through this client (a REST client at the endpoint's origin).
    Http {
        /// The client.
        client: Arc<dyn Backend>,
        /// The path.
        path: Arc<str>,
    },
}

impl Probe {
    /// The probe of a gRPC backend asking about `service`.
    pub(crate) fn grpc(service: &str) -> Self {
        let mut request = Vec::with_capacity(service.len() + 2);
        if !service.is_empty() {
            request.push(0x0a);
            prost::encoding::encode_varint(service.len() as u64, &mut request);
            request.extend_from_slice(service.as_bytes());
        }
        Probe::Grpc(Bytes::from(request))
    }

    /// Runs one check of the endpoint whose client is `endpoint`; true when it passed.
    pub(crate) async fn check(&self, endpoint: &Arc<dyn Backend>, timeout: Duration) -> bool {
        let (client, call) = match self {
            Probe::Grpc(request) => (
                endpoint,
                BackendCall {
                    operation: Arc::from(GRPC_HEALTH_CHECK),
                    method: Method::POST,
                    shape: CallShape::Unary,
                    messages: RequestMessages::Unary(Payload::Protobuf(request.clone())),
                    metadata: HeaderMap::new(),
                    timeout: Some(timeout),
                    idempotent: true,
                },
            ),
            Probe::Http { client, path } => (
                client,
                BackendCall::unary(
                    Arc::clone(path),
                    Method::GET,
                    Payload::Json(Bytes::new()),
                    HeaderMap::new(),
                    timeout,
                ),
            ),
        };
        let answer = match tokio::time::timeout(timeout, client.call(call)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => return false,
        };
        match (self, answer.body) {
            (Probe::Http { .. }, _) => true,
            (Probe::Grpc(_), ResponseBody::Unary { message, .. }) => {
                serving_status(message.bytes().clone()) == Some(SERVING)
            }
            (Probe::Grpc(_), ResponseBody::Stream(_)) => false,
        }
    }
}

/// The `status` (field 1) of an encoded `HealthCheckResponse`; 0 (`UNKNOWN`) when absent.
fn serving_status(mut message: Bytes) -> Option<u64> {
    use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
    let mut status = 0;
    while message.has_remaining() {
        let (field, wire_type) = decode_key(&mut message).ok()?;
        if field == 1 && wire_type == WireType::Varint {
            status = decode_varint(&mut message).ok()?;
        } else {
            skip_field(wire_type, field, &mut message, DecodeContext::default()).ok()?;
        }
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HealthCheckSettings {
        HealthCheckSettings {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            path: None,
            service: String::new(),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
        }
    }

    #[test]
    fn thresholds_of_checks_in_a_row_change_the_verdict() {
        let s = settings();
        let mut h = Health::default();
        assert!(h.is_healthy());
        assert_eq!(h.record(false, &s), None);
        // A pass in between starts the count again.
        assert_eq!(h.record(true, &s), None);
        assert_eq!(h.record(false, &s), None);
        assert_eq!(h.record(false, &s), Some(Verdict::BecameUnhealthy));
        assert!(!h.is_healthy());
        assert_eq!(h.record(true, &s), None);
        assert_eq!(h.record(true, &s), Some(Verdict::BecameHealthy));
        assert!(h.is_healthy());
    }

    #[test]
    fn health_responses_are_read_by_their_status_field() {
        assert_eq!(serving_status(Bytes::from_static(&[0x08, 0x01])), Some(1));
        assert_eq!(serving_status(Bytes::from_static(&[0x08, 0x02])), Some(2));
        assert_eq!(serving_status(Bytes::new()), Some(0));
        // An unknown length-delimited field is skipped.
        assert_eq!(
            serving_status(Bytes::from_static(&[0x12, 0x01, 0x41, 0x08, 0x01])),
            Some(1)
        );
        assert_eq!(serving_status(Bytes::from_static(&[0x08])), None);
    }

    #[test]
    fn the_grpc_request_names_the_service() {
        let Probe::Grpc(request) = Probe::grpc("orders.v1.Orders") else {
            unreachable!()
        };
        assert_eq!(&request[..2], &[0x0a, 16]);
        assert_eq!(&request[2..], b"orders.v1.Orders");
        let Probe::Grpc(empty) = Probe::grpc("") else {
            unreachable!()
        };
        assert!(empty.is_empty());
    }
}
