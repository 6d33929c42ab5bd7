//! The resilience families of `/metrics`, rendered from snapshots when `/metrics` is read: the
//! request path only bumps the counters the endpoints already keep (relaxed atomics, or plain
//! integers under the endpoint's lock it takes anyway), so recording allocates nothing.
//!
//! Labels are bounded: `backend` is the configured name, `endpoint` the endpoint's URL as
//! configured (for DNS names re-resolved, the resolved address), `state` and `to` one of three
//! circuit states.

use std::fmt::Write;

use super::breaker::CircuitState;
use super::layer::ResilienceSnapshot;
use crate::telemetry::metrics::{escape, header};

/// The circuit states in label order, with their label values.
const STATES: [(CircuitState, &str); 3] = [
    (CircuitState::Closed, "closed"),
    (CircuitState::Open, "open"),
    (CircuitState::HalfOpen, "half_open"),
];

/// An endpoint family: name, type, help, and the value it shows of an endpoint.
type EndpointFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&super::EndpointSnapshot) -> u64,
);

/// A backend family: name, help, and the counter it shows of a backend.
type BackendFamily = (&'static str, &'static str, fn(&ResilienceSnapshot) -> u64);

const ENDPOINT_FAMILIES: [EndpointFamily; 6] = [
    (
        "polygate_backend_endpoint_healthy",
        "gauge",
        "1 while the endpoint passes its active health checks (always 1 without health checks), else 0.",
        |e| u64::from(e.healthy),
    ),
    (
        "polygate_backend_endpoint_ejected",
        "gauge",
        "1 while outlier ejection keeps the endpoint out of balancing, else 0.",
        |e| u64::from(e.ejected),
    ),
    (
        "polygate_backend_endpoint_ejections_total",
        "counter",
        "Times outlier ejection took the endpoint out after failures in a row.",
        |e| e.ejections,
    ),
    (
        "polygate_backend_endpoint_requests_total",
        "counter",
        "Calls sent to the endpoint, retries included.",
        |e| e.requests,
    ),
    (
        "polygate_backend_endpoint_failures_total",
        "counter",
        "Calls the endpoint failed (unreachable, broken connection, 5xx, UNAVAILABLE, INTERNAL, ...).",
        |e| e.failures,
    ),
    (
        "polygate_backend_endpoint_requests_in_flight",
        "gauge",
        "Calls under way on the endpoint.",
        |e| e.in_flight as u64,
    ),
];

const BACKEND_FAMILIES: [BackendFamily; 3] = [
    (
        "polygate_backend_retries_total",
        "Calls repeated on another attempt (each retry counts once).",
        |b| b.retries,
    ),
    (
        "polygate_backend_retry_budget_exhausted_total",
        "Retries not made because the retry budget was empty.",
        |b| b.budget_exhausted,
    ),
    (
        "polygate_backend_circuit_open_refusals_total",
        "Calls refused without being sent because every endpoint's circuit was open.",
        |b| b.circuit_refusals,
    ),
];

/// Appends the resilience families for `backends` (name and snapshot, in a stable order);
/// nothing when there are none.
pub fn render(out: &mut String, backends: &[(String, ResilienceSnapshot)]) {
    if backends.is_empty() {
        return;
    }
    let mut labels = Vec::new();
    for (name, snapshot) in backends {
        for endpoint in &snapshot.endpoints {
            let mut l = String::from("backend=\"");
            escape(&mut l, name);
            l.push_str("\",endpoint=\"");
            escape(&mut l, &endpoint.url);
            l.push('"');
            labels.push((l, endpoint));
        }
    }
    for (family, kind, help, value) in ENDPOINT_FAMILIES {
        header(out, family, kind, help);
        for (l, endpoint) in &labels {
            let _ = writeln!(out, "{family}{{{l}}} {}", value(endpoint));
        }
    }
    let family = "polygate_backend_circuit_state";
    header(
        out,
        family,
        "gauge",
        "The endpoint's circuit breaker: 1 for the state it is in, 0 for the others.",
    );
    for (l, endpoint) in &labels {
        for (state, name) in STATES {
            let on = u8::from(endpoint.circuit == state);
            let _ = writeln!(out, "{family}{{{l},state=\"{name}\"}} {on}");
        }
    }
    let family = "polygate_backend_circuit_transitions_total";
    header(
        out,
        family,
        "counter",
        "Times the endpoint's circuit entered a state (to: closed, open, half_open).",
    );
    for (l, endpoint) in &labels {
        for ((_, name), count) in STATES.iter().zip(endpoint.circuit_transitions) {
            let _ = writeln!(out, "{family}{{{l},to=\"{name}\"}} {count}");
        }
    }
    for (family, help, value) in BACKEND_FAMILIES {
        header(out, family, "counter", help);
        for (name, snapshot) in backends {
            let mut l = String::new();
            escape(&mut l, name);
            let _ = writeln!(out, "{family}{{backend=\"{l}\"}} {}", value(snapshot));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::resilience::EndpointSnapshot;

    #[test]
    fn every_family_has_one_series_per_endpoint_or_backend() {
        let snapshot = ResilienceSnapshot {
            endpoints: vec![EndpointSnapshot {
                url: "http://10.0.0.1:80".into(),
                healthy: false,
                ejected: true,
                circuit: CircuitState::HalfOpen,
                in_flight: 2,
                requests: 9,
                failures: 4,
                ejections: 1,
                circuit_opened: 3,
                circuit_transitions: [2, 3, 3],
            }],
            retries: 5,
            budget_exhausted: 6,
            circuit_refusals: 7,
        };
        let mut out = String::new();
        render(&mut out, &[("orders".to_owned(), snapshot)]);
        let series: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        let e = "backend=\"orders\",endpoint=\"http://10.0.0.1:80\"";
        let expected = [
            format!("polygate_backend_endpoint_healthy{{{e}}} 0"),
            format!("polygate_backend_endpoint_ejected{{{e}}} 1"),
            format!("polygate_backend_endpoint_ejections_total{{{e}}} 1"),
            format!("polygate_backend_endpoint_requests_total{{{e}}} 9"),
            format!("polygate_backend_endpoint_failures_total{{{e}}} 4"),
            format!("polygate_backend_endpoint_requests_in_flight{{{e}}} 2"),
            format!("polygate_backend_circuit_state{{{e},state=\"closed\"}} 0"),
            format!("polygate_backend_circuit_state{{{e},state=\"open\"}} 0"),
            format!("polygate_backend_circuit_state{{{e},state=\"half_open\"}} 1"),
            format!("polygate_backend_circuit_transitions_total{{{e},to=\"closed\"}} 2"),
            format!("polygate_backend_circuit_transitions_total{{{e},to=\"open\"}} 3"),
            format!("polygate_backend_circuit_transitions_total{{{e},to=\"half_open\"}} 3"),
            "polygate_backend_retries_total{backend=\"orders\"} 5".to_owned(),
            "polygate_backend_retry_budget_exhausted_total{backend=\"orders\"} 6".to_owned(),
            "polygate_backend_circuit_open_refusals_total{backend=\"orders\"} 7".to_owned(),
        ];
        assert_eq!(series, expected);
        assert_eq!(out.matches("# TYPE ").count(), expected.len() - 4);
    }

    #[test]
    fn no_resilient_backend_renders_nothing() {
        let mut out = String::new();
        render(&mut out, &[]);
        assert!(out.is_empty());
    }
}
