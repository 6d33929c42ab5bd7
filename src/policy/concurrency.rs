//! Concurrency limits per route: at most `max` calls under way; further calls wait in a queue
//! of at most `queue` for at most `timeout`, then are refused with UNAVAILABLE (HTTP 503).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::PolicyError;
use crate::config::units::ConfigDuration;

/// `concurrency:` as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyConfig {
    /// Calls under way at most.
    pub max: u32,
    /// Calls waiting for a slot at most. Default 0: refused at once.
    #[serde(default)]
    pub queue: Option<u32>,
    /// How long a call waits in the queue. Default `1s`.
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
}

/// One route's concurrency limit.
#[derive(Debug)]
pub struct ConcurrencyLimit {
    max: u32,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    timeout: Duration,
}

impl ConcurrencyLimit {
    /// The limit `config` describes.
    pub fn build(config: &ConcurrencyConfig) -> Result<Self, String> {
        if config.max == 0 {
            return Err("concurrency.max must be above zero".into());
        }
        Ok(Self {
            max: config.max,
            slots: Arc::new(Semaphore::new(config.max as usize)),
            waiting: AtomicUsize::new(0),
            queue: config.queue.unwrap_or(0) as usize,
            timeout: config.timeout.map_or(Duration::from_secs(1), |t| t.0),
        })
    }

    /// A slot, held until the permit is dropped (when the backend has answered).
    pub(crate) async fn acquire(&self) -> Result<OwnedSemaphorePermit, PolicyError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let refused = PolicyError::Overloaded { max: self.max };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(refused);
        }
        let waited = tokio::time::timeout(self.timeout, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(refused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_beyond_the_limit_wait_in_a_bounded_queue_then_are_refused() {
        let limit = ConcurrencyLimit::build(&ConcurrencyConfig {
            max: 1,
            queue: Some(1),
            timeout: Some(ConfigDuration(Duration::from_secs(30))),
        })
        .unwrap();
        let first = limit.acquire().await.unwrap();
        let waiting = limit.acquire();
        tokio::pin!(waiting);
        assert!(futures_util::poll!(&mut waiting).is_pending());
        assert_eq!(
            limit.acquire().await.unwrap_err(),
            PolicyError::Overloaded { max: 1 },
            "the queue holds one"
        );
        drop(first);
        drop(waiting.await.unwrap());
        let status = PolicyError::Overloaded { max: 1 }.status();
        assert_eq!(status.code(), crate::model::Code::Unavailable);
        assert_eq!(
            status.message(),
            "the route has 1 calls under way, its limit, and no room in its queue; try again later"
        );
    }
}
