//! Resilient backends: several endpoints per backend (a list, or DNS names re-resolved), with
//! round-robin or least-request balancing, active health checks, passive outlier ejection,
//! retries of calls safe to repeat within a retry budget, and a circuit breaker per endpoint.
//! One decorator [`ResilientBackend`] serves every backend kind but MQTT; a backend with one
//! `url` and no `resilience:` keys gets no layer at all. Settings: docs/resilience.md.

mod balance;
pub mod breaker;
pub mod budget;
pub mod config;
mod discovery;
mod endpoint;
pub mod health;
mod layer;
pub mod metrics;
pub mod outlier;

pub use breaker::CircuitState;
pub use config::{ResilienceConfig, ResilienceSettings};
pub use endpoint::{EndpointSnapshot, Outcome};
pub use layer::{EndpointFactory, ResilienceSnapshot, ResilientBackend};
