//! Picking an endpoint for a call: round-robin or power-of-two-choices least-request over the
//! fit endpoints (healthy, not ejected, circuit admitting); when none is fit, "panic routing"
//! tries any endpoint whose circuit admits, since trying beats failing. An open circuit is
//! never overridden.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::config::BalancePolicy;
use super::endpoint::{CallGuard, Endpoint};

/// The balancer of one backend.
#[derive(Debug)]
pub(crate) struct Balancer {
    policy: BalancePolicy,
    next: AtomicUsize,
    random: AtomicU64,
}

impl Balancer {
    pub(crate) fn new(policy: BalancePolicy) -> Self {
        Self {
            policy,
            next: AtomicUsize::new(0),
            random: AtomicU64::new(0x853c_49e6_748f_ea9b),
        }
    }

    /// Takes a call on an endpoint, preferring one other than `avoid` (the one a retried call
    /// just failed on); `None` when every circuit is open.
    pub(crate) fn pick(
        &self,
        endpoints: &[Arc<Endpoint>],
        avoid: Option<&Arc<Endpoint>>,
        now: Instant,
    ) -> Option<CallGuard> {
        let count = endpoints.len();
        if count == 0 {
            return None;
        }
        if count == 1 {
            let only = &endpoints[0];
            return only
                .try_take(now, false)
                .or_else(|| only.try_take(now, true));
        }
        let avoided = |e: &Arc<Endpoint>| avoid.is_some_and(|a| Arc::ptr_eq(a, e));
        let start = match self.policy {
            BalancePolicy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed),
            BalancePolicy::LeastRequest => {
                let first = self.random_below(count);
                let second = (first + 1 + self.random_below(count - 1)) % count;
                let (a, b) = (&endpoints[first], &endpoints[second]);
                let fit = |e: &Arc<Endpoint>| !avoided(e) && e.is_fit(now);
                let preferred = match (fit(a), fit(b)) {
                    (true, true) if b.in_flight() < a.in_flight() => Some(b),
                    (true, _) => Some(a),
                    (false, true) => Some(b),
                    (false, false) => None,
                };
                if let Some(guard) = preferred.and_then(|e| e.try_take(now, false)) {
                    return Some(guard);
                }
                first
            }
        };
        let ring = (0..count).map(|i| &endpoints[(start + i) % count]);
        ring.clone()
            .filter(|e| !avoided(e))
            .find_map(|e| e.try_take(now, false))
            .or_else(|| avoid.and_then(|e| e.try_take(now, false)))
            .or_else(|| ring.clone().find_map(|e| e.try_take(now, true)))
    }

    /// A number below `bound` (splitmix64; quality enough for two choices).
    fn random_below(&self, bound: usize) -> usize {
        let mut z = self
            .random
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % bound as u64) as usize
    }

    /// A jitter factor in [0.5, 1) for backoffs.
    pub(crate) fn jitter(&self) -> f64 {
        0.5 + (self.random_below(1 << 20) as f64) / f64::from(1u32 << 21)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backends::resilience::config::{
        BreakerSettings, HealthCheckSettings, OutlierSettings, ResilienceConfig, ResilienceSettings,
    };
    use crate::backends::resilience::endpoint::Outcome;
    use crate::model::{Backend, BackendCall, BackendFuture, Status};

    struct Unused;

    impl Backend for Unused {
        fn name(&self) -> &str {
            "unused"
        }

        fn call(&self, _: BackendCall) -> BackendFuture {
            Box::pin(std::future::ready(Err(Status::internal("not called"))))
        }
    }

    fn settings() -> ResilienceSettings {
        let mut settings = ResilienceConfig::default().validate(true).unwrap();
        settings.breaker = BreakerSettings {
            failure_threshold: 1,
            open_for: Duration::from_secs(60),
            half_open_calls: 1,
        };
        settings.outlier = OutlierSettings {
            consecutive_failures: 0,
            ..OutlierSettings::default()
        };
        settings
    }

    fn endpoints(count: usize) -> Vec<Arc<Endpoint>> {
        (0..count)
            .map(|i| {
                Arc::new(Endpoint::new(
                    Arc::from(format!("http://e{i}")),
                    Arc::new(Unused),
                    None,
                    &settings(),
                ))
            })
            .collect()
    }

    fn unhealthy(endpoint: &Endpoint) {
        let check = HealthCheckSettings {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            path: None,
            service: String::new(),
            unhealthy_threshold: 1,
            healthy_threshold: 1,
        };
        endpoint.record_check(false, &check);
    }

    fn picked(balancer: &Balancer, all: &[Arc<Endpoint>], avoid: Option<usize>) -> Option<usize> {
        let now = Instant::now();
        let guard = balancer.pick(all, avoid.map(|i| &all[i]), now)?;
        let index = all.iter().position(|e| Arc::ptr_eq(e, guard.endpoint()));
        guard.finish(Outcome::Answered, now, &settings(), || true);
        index
    }

    #[test]
    fn round_robin_takes_each_fit_endpoint_in_turn() {
        let all = endpoints(3);
        let balancer = Balancer::new(BalancePolicy::RoundRobin);
        let order: Vec<_> = (0..6).map(|_| picked(&balancer, &all, None)).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2].map(Some));
        unhealthy(&all[1]);
        let order: Vec<_> = (0..4).map(|_| picked(&balancer, &all, None)).collect();
        assert_eq!(order, [0, 2, 2, 0].map(Some));
    }

    #[test]
    fn a_retry_avoids_the_endpoint_that_failed_while_another_is_fit() {
        let all = endpoints(2);
        let balancer = Balancer::new(BalancePolicy::RoundRobin);
        for _ in 0..4 {
            assert_eq!(picked(&balancer, &all, Some(0)), Some(1));
        }
        unhealthy(&all[1]);
        assert_eq!(picked(&balancer, &all, Some(0)), Some(0));
    }

    #[test]
    fn least_request_prefers_the_endpoint_with_fewer_calls_under_way() {
        let all = endpoints(2);
        let balancer = Balancer::new(BalancePolicy::LeastRequest);
        let now = Instant::now();
        let busy = balancer.pick(&all, None, now).unwrap();
        let busy_index = all.iter().position(|e| Arc::ptr_eq(e, busy.endpoint()));
        for _ in 0..10 {
            let other = picked(&balancer, &all, None);
            assert_ne!(other, busy_index);
        }
        drop(busy);
    }

    #[test]
    fn panic_routing_uses_unfit_endpoints_but_never_an_open_circuit() {
        let all = endpoints(2);
        let balancer = Balancer::new(BalancePolicy::RoundRobin);
        unhealthy(&all[0]);
        unhealthy(&all[1]);
        assert!(picked(&balancer, &all, None).is_some());
        let now = Instant::now();
        for endpoint in &all {
            let guard = endpoint.try_take(now, true).unwrap();
            guard.finish(Outcome::Failed, now, &settings(), || true);
        }
        assert!(balancer.pick(&all, None, now).is_none());
        assert!(balancer.pick(&all[..1], None, now).is_none());
    }
}
