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
