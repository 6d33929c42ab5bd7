//! One endpoint of a resilient backend: its client, its probe, and its state (health, outlier
//! ejection, circuit breaker, calls under way and counters), plus the read-only snapshot of it
//! that telemetry reads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::breaker::{Breaker, CircuitState, Ticket};
use super::config::{HealthCheckSettings, ResilienceSettings};
use super::health::{Health, Probe, Verdict};
use super::outlier::Outlier;
use crate::model::{Backend, Code, ErrorSource, Rejection, Status};

/// What a finished call says about the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered (including an error answer that is the caller's, such as
    /// `INVALID_ARGUMENT` or `NOT_FOUND`).
    Answered,
    /// The endpoint failed: unreachable, broken connection, 5xx, `UNAVAILABLE`, `INTERNAL`, …
    Failed,
    /// Nothing can be said: the deadline passed, the call was cancelled, or the gateway itself
    /// refused it before sending.
    Neutral,
}

impl Outcome {
    /// Classifies an answer.
    pub fn of<T>(result: &Result<T, Status>) -> Self {
        let Err(status) = result else {
            return Outcome::Answered;
        };
        if status.source() != ErrorSource::Backend {
            return Outcome::Neutral;
        }
        match status.code() {
            Code::DeadlineExceeded | Code::Cancelled => Outcome::Neutral,
            Code::Unavailable | Code::Unknown | Code::Internal | Code::DataLoss => Outcome::Failed,
            _ if status.rejection() == Some(&Rejection::UpstreamFault) => Outcome::Failed,
            _ => Outcome::Answered,
        }
    }
}

/// An endpoint's state as telemetry sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSnapshot {
    /// The endpoint's URL (after DNS resolution, its address).
    pub url: String,
    /// The verdict of its active health checks (true without checks).
    pub healthy: bool,
    /// Whether outlier ejection keeps it out of balancing now.
    pub ejected: bool,
    /// Its circuit.
    pub circuit: CircuitState,
    /// Calls under way.
    pub in_flight: usize,
    /// Calls sent to it (retries included).
    pub requests: u64,
    /// Calls it failed.
    pub failures: u64,
    /// Times it was ejected.
    pub ejections: u64,
    /// Times its circuit opened.
    pub circuit_opened: u64,
    /// Times its circuit entered each state: `[closed, open, half-open]` (opened is the middle
    /// one).
    pub circuit_transitions: [u64; 3],
}

/// The mutable state, under one lock.
#[derive(Debug)]
struct State {
    health: Health,
    outlier: Outlier,
    breaker: Breaker,
}

/// One endpoint.
pub(crate) struct Endpoint {
    pub(crate) url: Arc<str>,
    pub(crate) client: Arc<dyn Backend>,
    pub(crate) probe: Option<Probe>,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    failures: AtomicU64,
    state: Mutex<State>,
}

impl Endpoint {
    pub(crate) fn new(
        url: Arc<str>,
        client: Arc<dyn Backend>,
        probe: Option<Probe>,
        settings: &ResilienceSettings,
    ) -> Self {
        Self {
            url,
            client,
            probe,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            state: Mutex::new(State {
                health: Health::default(),
                outlier: Outlier::default(),
                breaker: Breaker::new(settings.breaker),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain data updated in whole steps: a panic elsewhere cannot leave it
        // half-written, so a poisoned lock is still good.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls under way.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Takes a call if the endpoint is fit for it at `now`: healthy, not ejected and its
    /// circuit admitting (`panic`: any endpoint whose circuit admits, since none is fit).
    pub(crate) fn try_take(self: &Arc<Self>, now: Instant, panic: bool) -> Option<CallGuard> {
        let ticket = {
            let mut state = self.state();
            if !panic && (!state.health.is_healthy() || state.outlier.is_ejected(now)) {
                return None;
            }
            state.breaker.admit(now)?
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        Some(CallGuard {
            endpoint: Arc::clone(self),
            ticket,
            done: false,
        })
    }

    /// Whether the endpoint could take a call at `now` (for the two choices of least-request).
    pub(crate) fn is_fit(&self, now: Instant) -> bool {
        let mut state = self.state();
        state.health.is_healthy() && !state.outlier.is_ejected(now) && state.breaker.admits(now)
    }

    /// Whether outlier ejection keeps the endpoint out at `now`.
    pub(crate) fn is_ejected(&self, now: Instant) -> bool {
        self.state().outlier.is_ejected(now)
    }

    /// Books one active health check; a check that makes the endpoint healthy again also ends
    /// its ejection (not an open circuit: that reopens only through its trial calls).
    pub(crate) fn record_check(&self, passed: bool, settings: &HealthCheckSettings) {
        let mut state = self.state();
        match state.health.record(passed, settings) {
            Some(Verdict::BecameHealthy) => {
                state.outlier.uneject();
                tracing::info!(endpoint = %self.url, "endpoint passed its health check and is back");
            }
            Some(Verdict::BecameUnhealthy) => {
                tracing::warn!(endpoint = %self.url, "endpoint failed its health checks");
            }
            None => {}
        }
    }

    /// The endpoint's state at `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> EndpointSnapshot {
        let mut state = self.state();
        EndpointSnapshot {
            url: self.url.to_string(),
            healthy: state.health.is_healthy(),
            ejected: state.outlier.is_ejected(now),
            circuit: state.breaker.state(now),
            in_flight: self.in_flight(),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            ejections: state.outlier.ejections(),
            circuit_opened: state.breaker.times_opened(),
            circuit_transitions: state.breaker.transitions(),
        }
    }
}

/// A call under way on an endpoint; dropped unfinished (the caller went away), it is booked
/// as neutral.
pub(crate) struct CallGuard {
    endpoint: Arc<Endpoint>,
    ticket: Ticket,
    done: bool,
}

impl CallGuard {
    /// The endpoint.
    pub(crate) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Books the call's outcome at `now`; `may_eject` says whether the endpoint may be ejected
    /// now, asked only for failures. Returns whether this ejected it.
    pub(crate) fn finish(
        mut self,
        outcome: Outcome,
        now: Instant,
        settings: &ResilienceSettings,
        may_eject: impl FnOnce() -> bool,
    ) -> bool {
        self.done = true;
        self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
        match outcome {
            Outcome::Answered => {
                let mut state = self.endpoint.state();
                state.outlier.on_success();
                state.breaker.on_success(self.ticket);
                false
            }
            Outcome::Neutral => {
                self.endpoint.state().breaker.on_neutral(self.ticket);
                false
            }
            Outcome::Failed => {
                self.endpoint.failures.fetch_add(1, Ordering::Relaxed);
                let room = may_eject();
                let mut state = self.endpoint.state();
                state.breaker.on_failure(self.ticket, now);
                let ejected = state.outlier.on_failure(&settings.outlier, now, room);
                if ejected {
                    tracing::warn!(endpoint = %self.endpoint.url, "endpoint ejected after failures in a row");
                }
                ejected
            }
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.done {
            self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.endpoint.state().breaker.on_neutral(self.ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_only_the_endpoints_own_failures() {
        let ok: Result<(), Status> = Ok(());
        assert_eq!(Outcome::of(&ok), Outcome::Answered);
        let table = [
            (Status::unavailable("x"), Outcome::Failed),
            (Status::unavailable("x").with_unsent(), Outcome::Failed),
            (
                Status::upstream_fault(Code::Unknown, "HTTP 500"),
                Outcome::Failed,
            ),
            (
                Status::new(Code::Internal, "x", ErrorSource::Backend),
                Outcome::Failed,
            ),
            (Status::deadline_exceeded("x"), Outcome::Neutral),
            (
                Status::new(Code::Cancelled, "x", ErrorSource::Backend),
                Outcome::Neutral,
            ),
            (
                Status::new(Code::InvalidArgument, "x", ErrorSource::Backend),
                Outcome::Answered,
            ),
            (
                Status::new(Code::NotFound, "x", ErrorSource::Backend),
                Outcome::Answered,
            ),
            (Status::metadata_too_large("x"), Outcome::Neutral),
            (Status::internal("gateway"), Outcome::Neutral),
        ];
        for (status, expected) in table {
            let result: Result<(), Status> = Err(status.clone());
            assert_eq!(Outcome::of(&result), expected, "{status}");
        }
    }
}
