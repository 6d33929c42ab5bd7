//! The `resilience:` block of a backend as written, and its validated settings with every
//! default filled in (docs/resilience.md lists them).

use std::time::Duration;

use serde::Deserialize;

use crate::config::units::ConfigDuration;

/// How a call picks among healthy endpoints.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BalancePolicy {
    /// Each endpoint in turn (default).
    #[default]
    RoundRobin,
    /// Power of two choices: of two endpoints drawn at random, the one with fewer calls under
    /// way.
    LeastRequest,
}

/// `resilience:` as written; every key is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ResilienceConfig {
    /// `round_robin` (default) or `least_request`.
    #[serde(default)]
    pub balance: Option<BalancePolicy>,
    /// Re-resolve the host name of `url` (or of each of `endpoints`) this often; each address
    /// becomes an endpoint (a Kubernetes headless service). Default: no resolution by polygate.
    #[serde(default)]
    pub dns_refresh: Option<ConfigDuration>,
    /// Active health checks. Default: none.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Passive outlier ejection.
    #[serde(default)]
    pub outlier: Option<OutlierConfig>,
    /// Retries of calls safe to repeat.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// The circuit breaker of each endpoint.
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
}

/// `health_check:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Time between two checks of an endpoint. Default `10s`.
    #[serde(default)]
    pub interval: Option<ConfigDuration>,
    /// How long one check may take. Default `1s`.
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    /// SOAP, plain-XML and REST backends: the path (on the endpoint's scheme, host and port)
    /// that answers 2xx when healthy. Required for them; refused for gRPC backends.
    #[serde(default)]
    pub path: Option<String>,
    /// gRPC backends: the service named in `grpc.health.v1.Health/Check`. Default `""` (the
    /// whole server).
    #[serde(default)]
    pub service: Option<String>,
    /// Failed checks in a row that mark an endpoint unhealthy. Default 2.
    #[serde(default)]
    pub unhealthy_threshold: Option<u32>,
    /// Passed checks in a row that mark it healthy again. Default 1.
    #[serde(default)]
    pub healthy_threshold: Option<u32>,
}

/// `outlier:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutlierConfig {
    /// Failed calls in a row that eject an endpoint; 0 turns ejection off. Default 5.
    #[serde(default)]
    pub consecutive_failures: Option<u32>,
    /// How long the first ejection lasts; each later one lasts this times the number of
    /// ejections. Default `30s`.
    #[serde(default)]
    pub base_ejection: Option<ConfigDuration>,
    /// The longest ejection. Default `300s`.
    #[serde(default)]
    pub max_ejection: Option<ConfigDuration>,
    /// At most this share of the endpoints is ejected at once (one always may be). Default 50.
    #[serde(default)]
    pub max_ejected_percent: Option<u32>,
}

/// `retry:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt; 0 turns retries off. Default 2.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// The wait before the first retry; it doubles for each further one. Default `25ms`.
    #[serde(default)]
    pub backoff: Option<ConfigDuration>,
    /// The longest wait between two attempts. Default `250ms`.
    #[serde(default)]
    pub max_backoff: Option<ConfigDuration>,
    /// Retries may add at most this percentage to the calls made. Default 20.
    #[serde(default)]
    pub budget_percent: Option<u32>,
    /// Retries allowed before any call has paid into the budget. Default 3.
    #[serde(default)]
    pub min_retries: Option<u32>,
}

/// `circuit_breaker:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Failed calls in a row that open an endpoint's circuit; 0 turns the breaker off.
    /// Default 10.
    #[serde(default)]
    pub failure_threshold: Option<u32>,
    /// How long a circuit stays open before it lets trial calls through. Default `10s`.
    #[serde(default)]
    pub open_for: Option<ConfigDuration>,
    /// Trial calls let through at once while half-open. Default 1.
    #[serde(default)]
    pub half_open_calls: Option<u32>,
}

/// Validated resilience settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResilienceSettings {
    /// The balancing policy.
    pub balance: BalancePolicy,
    /// DNS re-resolution period, if polygate resolves.
    pub dns_refresh: Option<Duration>,
    /// Active health checks, if any.
    pub health_check: Option<HealthCheckSettings>,
    /// Outlier ejection.
    pub outlier: OutlierSettings,
    /// Retries.
    pub retry: RetrySettings,
    /// Circuit breaking.
    pub breaker: BreakerSettings,
}

/// Validated health-check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSettings {
    /// Time between checks.
    pub interval: Duration,
    /// Time limit of one check.
    pub timeout: Duration,
    /// The HTTP path (non-gRPC backends).
    pub path: Option<String>,
    /// The gRPC service name.
    pub service: String,
    /// Failures in a row to become unhealthy.
    pub unhealthy_threshold: u32,
    /// Passes in a row to become healthy.
    pub healthy_threshold: u32,
}

/// Validated outlier-ejection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierSettings {
    /// Failures in a row to eject; 0 = off.
    pub consecutive_failures: u32,
    /// The first ejection's length.
    pub base_ejection: Duration,
    /// The longest ejection.
    pub max_ejection: Duration,
    /// Most endpoints ejected at once, in percent.
    pub max_ejected_percent: u32,
}

/// Validated retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Retries after the first attempt; 0 = off.
    pub max_retries: u32,
    /// The first backoff.
    pub backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The budget, in percent of calls.
    pub budget_percent: u32,
    /// The budget's starting reserve.
    pub min_retries: u32,
}

/// Validated circuit-breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failures in a row to open; 0 = off.
    pub failure_threshold: u32,
    /// How long the circuit stays open.
    pub open_for: Duration,
    /// Trial calls at once while half-open.
    pub half_open_calls: u32,
}

impl Default for OutlierSettings {
    fn default() -> Self {
        OutlierConfig::default()
            .validate()
            .expect("the defaults are valid")
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetryConfig::default()
            .validate()
            .expect("the defaults are valid")
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        CircuitBreakerConfig::default()
            .validate()
            .expect("the defaults are valid")
    }
}

fn duration(value: Option<ConfigDuration>, default: Duration) -> Duration {
    value.map_or(default, |d| d.0)
}

impl ResilienceConfig {
    /// Checks every key; `grpc` says whether the backend speaks gRPC (its health checks use the
    /// gRPC health protocol, the others an HTTP path).
    pub fn validate(&self, grpc: bool) -> Result<ResilienceSettings, String> {
        let dns_refresh = self.dns_refresh.map(|d| d.0);
        if dns_refresh.is_some_and(|d| d < Duration::from_secs(1)) {
            return Err("resilience.dns_refresh must be at least 1s".into());
        }
        let health_check = self
            .health_check
            .as_ref()
            .map(|h| h.validate(grpc))
            .transpose()?;
        Ok(ResilienceSettings {
            balance: self.balance.unwrap_or_default(),
            dns_refresh,
            health_check,
            outlier: self.outlier.clone().unwrap_or_default().validate()?,
            retry: self.retry.clone().unwrap_or_default().validate()?,
            breaker: self
                .circuit_breaker
                .clone()
                .unwrap_or_default()
                .validate()?,
        })
    }
}

impl HealthCheckConfig {
    fn validate(&self, grpc: bool) -> Result<HealthCheckSettings, String> {
        let interval = duration(self.interval, Duration::from_secs(10));
        let timeout = duration(self.timeout, Duration::from_secs(1));
        if interval.is_zero() || timeout.is_zero() {
            return Err("resilience.health_check: interval and timeout must be above 0".into());
        }
        let path = match (&self.path, grpc) {
            (Some(_), true) => {
                return Err("resilience.health_check.path is for HTTP backends; gRPC backends are checked with grpc.health.v1 (name a service with `service`)".into())
            }
            (None, false) => {
                return Err("resilience.health_check needs a path (e.g. /healthz) for this backend".into())
            }
            (Some(path), false) if !path.starts_with('/') => {
                return Err(format!("resilience.health_check.path '{path}' must start with /"))
            }
            (path, _) => path.clone(),
        };
        if self.service.is_some() && !grpc {
            return Err("resilience.health_check.service is for gRPC backends".into());
        }
        let unhealthy_threshold = self.unhealthy_threshold.unwrap_or(2);
        let healthy_threshold = self.healthy_threshold.unwrap_or(1);
        if unhealthy_threshold == 0 || healthy_threshold == 0 {
            return Err("resilience.health_check thresholds must be at least 1".into());
        }
        Ok(HealthCheckSettings {
            interval,
            timeout,
            path,
            service: self.service.clone().unwrap_or_default(),
            unhealthy_threshold,
            healthy_threshold,
        })
    }
}

impl OutlierConfig {
    fn validate(&self) -> Result<OutlierSettings, String> {
        let max_ejected_percent = self.max_ejected_percent.unwrap_or(50);
        if max_ejected_percent > 100 {
            return Err(format!(
                "resilience.outlier.max_ejected_percent must be 0 to 100, not {max_ejected_percent}"
            ));
        }
        let base_ejection = duration(self.base_ejection, Duration::from_secs(30));
        let max_ejection = duration(self.max_ejection, Duration::from_secs(300));
        if max_ejection < base_ejection {
            return Err("resilience.outlier.max_ejection must not be below base_ejection".into());
        }
        Ok(OutlierSettings {
            consecutive_failures: self.consecutive_failures.unwrap_or(5),
            base_ejection,
            max_ejection,
            max_ejected_percent,
        })
    }
}

impl RetryConfig {
    fn validate(&self) -> Result<RetrySettings, String> {
        let max_retries = self.max_retries.unwrap_or(2);
        if max_retries > 10 {
            return Err(format!(
                "resilience.retry.max_retries must be 0 to 10, not {max_retries}"
            ));
        }
        let budget_percent = self.budget_percent.unwrap_or(20);
        if budget_percent > 100 {
            return Err(format!(
                "resilience.retry.budget_percent must be 0 to 100, not {budget_percent}"
            ));
        }
        let backoff = duration(self.backoff, Duration::from_millis(25));
        let max_backoff = duration(self.max_backoff, Duration::from_millis(250));
        if max_backoff < backoff {
            return Err("resilience.retry.max_backoff must not be below backoff".into());
        }
        Ok(RetrySettings {
            max_retries,
            backoff,
            max_backoff,
            budget_percent,
            min_retries: self.min_retries.unwrap_or(3),
        })
    }
}

impl CircuitBreakerConfig {
    fn validate(&self) -> Result<BreakerSettings, String> {
        let half_open_calls = self.half_open_calls.unwrap_or(1);
        if half_open_calls == 0 {
            return Err("resilience.circuit_breaker.half_open_calls must be at least 1".into());
        }
        let open_for = duration(self.open_for, Duration::from_secs(10));
        if open_for.is_zero() {
            return Err("resilience.circuit_breaker.open_for must be above 0".into());
        }
        Ok(BreakerSettings {
            failure_threshold: self.failure_threshold.unwrap_or(10),
            open_for,
            half_open_calls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_every_setting() {
        let settings = ResilienceConfig::default().validate(true).unwrap();
        assert_eq!(settings.balance, BalancePolicy::RoundRobin);
        assert_eq!(settings.health_check, None);
        assert_eq!(settings.outlier.consecutive_failures, 5);
        assert_eq!(settings.outlier.base_ejection, Duration::from_secs(30));
        assert_eq!(settings.retry.max_retries, 2);
        assert_eq!(settings.retry.budget_percent, 20);
        assert_eq!(settings.retry.min_retries, 3);
        assert_eq!(settings.breaker.failure_threshold, 10);
        assert_eq!(settings.breaker.open_for, Duration::from_secs(10));
    }

    #[test]
    fn health_checks_take_a_path_for_http_backends_and_a_service_for_grpc() {
        let with_path = HealthCheckConfig {
            path: Some("/healthz".into()),
            ..HealthCheckConfig::default()
        };
        assert!(with_path.validate(false).is_ok());
        assert!(with_path
            .validate(true)
            .unwrap_err()
            .contains("grpc.health.v1"));
        assert!(HealthCheckConfig::default()
            .validate(false)
            .unwrap_err()
            .contains("needs a path"));
        let grpc = HealthCheckConfig::default().validate(true).unwrap();
        assert_eq!(grpc.service, "");
        assert_eq!(grpc.interval, Duration::from_secs(10));
        assert_eq!(grpc.unhealthy_threshold, 2);
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_key() {
        let retry = RetryConfig {
            budget_percent: Some(150),
            ..RetryConfig::default()
        };
        assert_eq!(
            retry.validate().unwrap_err(),
            "resilience.retry.budget_percent must be 0 to 100, not 150"
        );
        let outlier = OutlierConfig {
            max_ejected_percent: Some(101),
            ..OutlierConfig::default()
        };
        assert!(outlier.validate().is_err());
    }
}
