//! `ResilientBackend`: the one decorator `Backend` that gives any backend kind several
//! endpoints, balancing, health checks, outlier ejection, budgeted retries and circuit
//! breakers. Each endpoint is a plain backend of the configured kind, built by the factory.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::balance::Balancer;
use super::budget::RetryBudget;
use super::config::{HealthCheckSettings, ResilienceSettings};
use super::discovery;
use super::endpoint::{Endpoint, EndpointSnapshot, Outcome};
use super::health::Probe;
use super::outlier::room_to_eject;
use crate::model::Code;
use crate::model::{
    Backend, BackendCall, BackendFuture, ErrorSource, GatewayResponse, Rejection, RequestMessages,
    Status,
};

/// Builds the clients of endpoints, for the backend kind being wrapped.
pub trait EndpointFactory: Send + Sync + 'static {
    /// A client of the endpoint at `url`; `server_name` is the name TLS verifies when the URL
    /// holds a resolved address.
    fn client(&self, url: &str, server_name: Option<&str>) -> Result<Arc<dyn Backend>, String>;

    /// A plain HTTP client at `origin` (`scheme://host:port`), for health checks by path.
    fn http_checker(
        &self,
        origin: &str,
        server_name: Option<&str>,
    ) -> Result<Arc<dyn Backend>, String>;
}

/// A backend's resilience state as telemetry reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResilienceSnapshot {
    /// Every endpoint, in balancing order.
    pub endpoints: Vec<EndpointSnapshot>,
    /// Retries made.
    pub retries: u64,
    /// Retries the budget refused.
    pub budget_exhausted: u64,
    /// Calls refused because every endpoint's circuit was open.
    pub circuit_refusals: u64,
}

/// A backend of several endpoints with resilience policies.
pub struct ResilientBackend {
    shared: Arc<Shared>,
}

struct Shared {
    name: Arc<str>,
    grpc: bool,
    settings: ResilienceSettings,
    factory: Arc<dyn EndpointFactory>,
    endpoints: ArcSwap<Vec<Arc<Endpoint>>>,
    balancer: Balancer,
    budget: RetryBudget,
    retries: AtomicU64,
    budget_exhausted: AtomicU64,
    circuit_refusals: AtomicU64,
}

impl ResilientBackend {
    /// A backend named `name` over the endpoints at `urls`; `grpc` says whether it speaks gRPC
    /// (health checks through grpc.health.v1). Starts the health-check and DNS tasks when a
    /// runtime is running.
    pub fn new(
        name: &str,
        grpc: bool,
        settings: ResilienceSettings,
        urls: &[String],
        factory: Arc<dyn EndpointFactory>,
    ) -> Result<Self, String> {
        let shared = Arc::new(Shared {
            name: Arc::from(name),
            grpc,
            budget: RetryBudget::new(&settings.retry),
            balancer: Balancer::new(settings.balance),
            settings,
            factory,
            endpoints: ArcSwap::default(),
            retries: AtomicU64::new(0),
            budget_exhausted: AtomicU64::new(0),
            circuit_refusals: AtomicU64::new(0),
        });
        let endpoints = urls
            .iter()
            .map(|url| shared.endpoint(url, None))
            .collect::<Result<Vec<_>, _>>()?;
        shared.endpoints.store(Arc::new(endpoints));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            if let Some(health) = shared.settings.health_check.clone() {
                runtime.spawn(check_health(Arc::downgrade(&shared), health));
            }
            if let Some(every) = shared.settings.dns_refresh {
                runtime.spawn(refresh_dns(Arc::downgrade(&shared), urls.to_vec(), every));
            }
        }
        Ok(Self { shared })
    }

    /// The state of every endpoint and the retry counters.
    pub fn snapshot(&self) -> ResilienceSnapshot {
        let now = Instant::now();
        let shared = &self.shared;
        ResilienceSnapshot {
            endpoints: shared
                .endpoints
                .load()
                .iter()
                .map(|e| e.snapshot(now))
                .collect(),
            retries: shared.retries.load(Ordering::Relaxed),
            budget_exhausted: shared.budget_exhausted.load(Ordering::Relaxed),
            circuit_refusals: shared.circuit_refusals.load(Ordering::Relaxed),
        }
    }
}

impl Backend for ResilientBackend {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn call(&self, call: BackendCall) -> BackendFuture {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { shared.dispatch(call).await })
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl Shared {
    fn endpoint(&self, url: &str, server_name: Option<&str>) -> Result<Arc<Endpoint>, String> {
        let client = self.factory.client(url, server_name)?;
        let probe = match &self.settings.health_check {
            None => None,
            Some(health) if self.grpc => Some(Probe::grpc(&health.service)),
            Some(health) => Some(Probe::Http {
                client: self.factory.http_checker(&origin(url)?, server_name)?,
                path: Arc::from(health.path.as_deref().unwrap_or("/")),
            }),
        };
        Ok(Arc::new(Endpoint::new(
            Arc::from(url),
            client,
            probe,
            &self.settings,
        )))
    }

    async fn dispatch(&self, call: BackendCall) -> Result<GatewayResponse, Status> {
        let endpoints = self.endpoints.load_full();
        let retry = &self.settings.retry;
        let repeatable =
            retry.max_retries > 0 && matches!(call.messages, RequestMessages::Unary(_));
        let idempotent = call.idempotent;
        let timeout = call.timeout;
        if repeatable {
            self.budget.deposit();
        }
        let started = Instant::now();
        let mut call = Some(call);
        let mut attempt = 0;
        let mut avoid = None;
        loop {
            let now = if attempt == 0 {
                started
            } else {
                Instant::now()
            };
            let Some(guard) = self.balancer.pick(&endpoints, avoid.as_ref(), now) else {
                self.circuit_refusals.fetch_add(1, Ordering::Relaxed);
                return Err(Status::unavailable(format!(
                    "backend '{}': every endpoint's circuit is open",
                    self.name
                ))
                .with_reason("CIRCUIT_OPEN")
                .with_unsent());
            };
            let remaining = timeout.map(|t| t.saturating_sub(now - started));
            let may_retry = repeatable && attempt < retry.max_retries;
            let funded = may_retry && self.budget.can_withdraw();
            let this = match call.as_ref().filter(|_| funded).and_then(copy) {
                Some(copy) => copy,
                None => call
                    .take()
                    .expect("the call is kept until its last attempt"),
            };
            let this = BackendCall {
                timeout: remaining,
                ..this
            };
            let endpoint = Arc::clone(guard.endpoint());
            let result = endpoint.client.call(this).await;
            let finished = Instant::now();
            guard.finish(Outcome::of(&result), finished, &self.settings, || {
                let ejected = endpoints.iter().filter(|e| e.is_ejected(finished)).count();
                room_to_eject(
                    ejected,
                    endpoints.len(),
                    self.settings.outlier.max_ejected_percent,
                )
            });
            let status = match result {
                Ok(answer) => return Ok(answer),
                Err(status) => status,
            };
            if !may_retry || !safe_to_retry(&status, idempotent) {
                return Err(status);
            }
            if call.is_none() {
                // Not copied: the budget was already empty.
                self.budget_exhausted.fetch_add(1, Ordering::Relaxed);
                return Err(status);
            }
            let delay = self.backoff(attempt);
            if remaining.is_some_and(|r| finished - now + delay >= r) {
                return Err(status);
            }
            if !self.budget.withdraw() {
                self.budget_exhausted.fetch_add(1, Ordering::Relaxed);
                return Err(status);
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(backend = %self.name, endpoint = %endpoint.url, %status, "retrying the call");
            tokio::time::sleep(delay).await;
            attempt += 1;
            avoid = Some(endpoint);
        }
    }

    /// The wait before retry number `attempt + 1`: `backoff` doubled per attempt, capped at
    /// `max_backoff`, with jitter in its upper half.
    fn backoff(&self, attempt: u32) -> Duration {
        let retry = &self.settings.retry;
        let full = retry
            .backoff
            .saturating_mul(1 << attempt.min(16))
            .min(retry.max_backoff);
        full.mul_f64(self.balancer.jitter())
    }

    /// Replaces the endpoints with `resolved`, keeping the state of those still there.
    fn replace_endpoints(&self, resolved: &[discovery::Resolved]) {
        let current = self.endpoints.load_full();
        let mut next = Vec::with_capacity(resolved.len());
        for r in resolved {
            if let Some(kept) = current.iter().find(|e| *e.url == *r.url) {
                next.push(Arc::clone(kept));
                continue;
            }
            match self.endpoint(&r.url, r.server_name.as_deref()) {
                Ok(endpoint) => next.push(endpoint),
                Err(error) => {
                    tracing::warn!(backend = %self.name, endpoint = %r.url, %error, "resolved endpoint refused")
                }
            }
        }
        let changed = next.len() != current.len()
            || next
                .iter()
                .zip(current.iter())
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        if !next.is_empty() && changed {
            tracing::info!(backend = %self.name, endpoints = next.len(), "endpoints re-resolved");
            self.endpoints.store(Arc::new(next));
        }
    }
}

/// A copy of a unary call, for a retry; `None` for streamed requests, which cannot be repeated.
fn copy(call: &BackendCall) -> Option<BackendCall> {
    let RequestMessages::Unary(message) = &call.messages else {
        return None;
    };
    Some(BackendCall {
        operation: Arc::clone(&call.operation),
        method: call.method.clone(),
        shape: call.shape,
        messages: RequestMessages::Unary(message.clone()),
        metadata: call.metadata.clone(),
        timeout: call.timeout,
        idempotent: call.idempotent,
    })
}

/// Whether a failed call may be repeated: the backend never received it, or the call is safe
/// to repeat and failed the way a retry can cure (unavailable, an upstream 5xx).
pub(crate) fn safe_to_retry(status: &Status, idempotent: bool) -> bool {
    status.is_unsent()
        || (idempotent
            && status.source() == ErrorSource::Backend
            && (status.code() == Code::Unavailable
                || status.rejection() == Some(&Rejection::UpstreamFault)))
}

/// `scheme://authority` of `url`.
fn origin(url: &str) -> Result<String, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("url '{url}' is not a valid URL: {e}"))?;
    match (uri.scheme(), uri.authority()) {
        (Some(scheme), Some(authority)) => Ok(format!("{scheme}://{authority}")),
        _ => Err(format!("url '{url}' needs a scheme and a host")),
    }
}

/// Checks every endpoint each interval until the backend is gone.
async fn check_health(shared: Weak<Shared>, settings: HealthCheckSettings) {
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(endpoints) = shared.upgrade().map(|s| s.endpoints.load_full()) else {
            return;
        };
        let checks = endpoints.iter().map(|endpoint| async {
            let passed = match &endpoint.probe {
                Some(probe) => probe.check(&endpoint.client, settings.timeout).await,
                None => true,
            };
            endpoint.record_check(passed, &settings);
        });
        futures_util::future::join_all(checks).await;
    }
}

/// Re-resolves the configured URLs each period until the backend is gone.
async fn refresh_dns(shared: Weak<Shared>, urls: Vec<String>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if shared.strong_count() == 0 {
            return;
        }
        let mut resolved = Vec::new();
        let mut failed = false;
        for url in &urls {
            match discovery::resolve(url).await {
                Ok(addresses) => resolved.extend(addresses),
                Err(error) => {
                    tracing::warn!(%url, %error, "DNS re-resolution failed; the endpoints stay as they were");
                    failed = true;
                }
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !failed {
            shared.replace_endpoints(&resolved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unsent_calls_or_calls_safe_to_repeat_are_retried() {
        let refused = Status::unavailable("refused").with_unsent();
        assert!(safe_to_retry(&refused, false));
        let received = Status::unavailable("503");
        assert!(!safe_to_retry(&received, false));
        assert!(safe_to_retry(&received, true));
        let fault = Status::upstream_fault(Code::Unknown, "HTTP 500");
        assert!(safe_to_retry(&fault, true));
        assert!(!safe_to_retry(&Status::deadline_exceeded("late"), true));
        assert!(!safe_to_retry(&Status::invalid_argument("bad"), true));
        assert!(!safe_to_retry(
            &Status::new(Code::NotFound, "x", ErrorSource::Backend),
            true
        ));
    }

    #[test]
    fn origins_drop_path_and_query() {
        assert_eq!(
            origin("https://svc:8443/soap/Orders.asmx?wsdl").unwrap(),
            "https://svc:8443"
        );
        assert!(origin("svc:80").is_err());
    }
}
