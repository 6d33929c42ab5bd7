//! The gateway's metrics: atomics behind per-route handles registered when a route table is
//! installed, so recording an exchange costs a few relaxed adds and no lookup by name; rendered
//! as Prometheus text on `/metrics`.
//!
//! Labels are bounded: the route is its template (`GET /v1/books/{id}`), never the raw path; the
//! frontend is one of four kinds; the code one of gRPC's seventeen.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::histogram::{Histogram, BYTES, SECONDS};
use crate::model::{Code, FrontendKind};

const FRONTENDS: usize = FrontendKind::ALL.len();
const CODES: usize = 17;
const NANOS: f64 = 1e9;

/// Every metric of one gateway (one registry per process, so tests can read exact values).
#[derive(Debug)]
pub struct Metrics {
    routes: Mutex<BTreeMap<RouteKey, Arc<RouteMetrics>>>,
    /// The steps of composed routes, by (route template, method, step name).
    steps: Mutex<BTreeMap<RouteKey, Arc<StepMetrics>>>,
    unmatched: Arc<RouteMetrics>,
    in_flight: [AtomicI64; FRONTENDS],
    /// WebSocket connections and messages.
    pub websocket: WebSocketMetrics,
    /// MQTT messages, acknowledgements, retries and dead letters.
    pub mqtt: MqttMetrics,
    /// Configuration reloads.
    pub reloads: ReloadMetrics,
    /// Access log lines dropped because the writer fell behind.
    pub access_log_dropped: AtomicU64,
}

type RouteKey = (Box<str>, Box<str>, Box<str>);

/// A histogram family: name, help, bounds, scale, and which histogram of a slot it shows.
type HistogramFamily = (
    &'static str,
    &'static str,
    &'static [f64],
    f64,
    fn(&Slot) -> &Histogram,
);

impl Default for Metrics {
    fn default() -> Self {
        Self {
            routes: Mutex::default(),
            steps: Mutex::default(),
            unmatched: Arc::new(RouteMetrics::new("", "", "")),
            in_flight: Default::default(),
            websocket: WebSocketMetrics::default(),
            mqtt: MqttMetrics::default(),
            reloads: ReloadMetrics::default(),
            access_log_dropped: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// The handle of the route `method address` to `backend`: the same handle for the same
    /// route across reloads, so its counters keep counting.
    pub fn route(&self, method: &str, address: &str, backend: &str) -> Arc<RouteMetrics> {
        let key: RouteKey = (address.into(), method.into(), backend.into());
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes
            .entry(key)
            .or_insert_with(|| Arc::new(RouteMetrics::new(method, address, backend)))
            .clone()
    }

    /// The handle of the step `step` of the composed route `method address`: the same handle
    /// for the same step across reloads.
    pub fn compose_step(&self, method: &str, address: &str, step: &str) -> Arc<StepMetrics> {
        let key: RouteKey = (address.into(), method.into(), step.into());
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps
            .entry(key)
            .or_insert_with(|| Arc::new(StepMetrics::new(method, address, step)))
            .clone()
    }

    /// The handle of requests no route matched.
    pub fn unmatched(&self) -> Arc<RouteMetrics> {
        self.unmatched.clone()
    }

    /// One more request under way through `frontend`.
    #[inline]
    pub fn begin(&self, frontend: FrontendKind) {
        self.in_flight[frontend.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// One request fewer under way through `frontend`.
    #[inline]
    pub fn end(&self, frontend: FrontendKind) {
        self.in_flight[frontend.index()].fetch_sub(1, Ordering::Relaxed);
    }

    /// Requests under way through `frontend`.
    pub fn in_flight(&self, frontend: FrontendKind) -> i64 {
        self.in_flight[frontend.index()].load(Ordering::Relaxed)
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, extra: &[&dyn RenderMetrics]) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let routes: Vec<Arc<RouteMetrics>> = {
            let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            std::iter::once(self.unmatched.clone())
                .chain(routes.values().cloned())
                .collect()
        };
        header(
            &mut out,
            "polygate_requests_total",
            "counter",
            "Requests (REST calls, WebSocket calls, MQTT messages) by frontend, route template, backend and canonical code.",
        );
        for route in &routes {
            route.render_codes(&mut out);
        }
        let histograms: [HistogramFamily; 4] = [
            (
                "polygate_request_duration_seconds",
                "Time from the request reaching the pipeline to its last answer message.",
                SECONDS,
                NANOS,
                |s| &s.duration,
            ),
            (
                "polygate_backend_call_duration_seconds",
                "Time the backend took to answer (the first answer, for streams).",
                SECONDS,
                NANOS,
                |s| &s.backend_duration,
            ),
            (
                "polygate_request_size_bytes",
                "Size of one-message request bodies as the client sent them.",
                BYTES,
                1.0,
                |s| &s.request_size,
            ),
            (
                "polygate_response_size_bytes",
                "Size of answers (every message of a stream) in the client's form.",
                BYTES,
                1.0,
                |s| &s.response_size,
            ),
        ];
        for (name, help, bounds, scale, pick) in histograms {
            header(&mut out, name, "histogram", help);
            for route in &routes {
                for (frontend, slot) in route.used_slots() {
                    let labels = route.labels(frontend);
                    pick(slot).render(&mut out, name, &labels, bounds, scale);
                }
            }
        }
        self.render_steps(&mut out);
        header(
            &mut out,
            "polygate_requests_in_flight",
            "gauge",
            "Requests under way, by frontend.",
        );
        for frontend in FrontendKind::ALL {
            let _ = writeln!(
                out,
                "polygate_requests_in_flight{{frontend=\"{}\"}} {}",
                frontend.label(),
                self.in_flight(frontend)
            );
        }
        self.websocket.render(&mut out);
        self.mqtt.render(&mut out);
        self.reloads.render(&mut out);
        counter(
            &mut out,
            "polygate_access_log_dropped_total",
            "Access log lines dropped because the writer fell behind.",
            self.access_log_dropped.load(Ordering::Relaxed),
        );
        for extra in extra {
            extra.render_metrics(&mut out);
        }
        out
    }
}

impl Metrics {
    fn render_steps(&self, out: &mut String) {
        const NAME: &str = "polygate_compose_step_duration_seconds";
        let steps: Vec<Arc<StepMetrics>> = {
            let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
            steps.values().cloned().collect()
        };
        header(
            out,
            NAME,
            "histogram",
            "Time one step of a composed route took (all its calls, for for_each), by route template and step.",
        );
        for step in steps.iter().filter(|step| step.count() > 0) {
            let mut labels = String::with_capacity(96);
            labels.push_str("method=\"");
            escape(&mut labels, &step.method);
            labels.push_str("\",route=\"");
            escape(&mut labels, &step.route);
            labels.push_str("\",step=\"");
            escape(&mut labels, &step.step);
            labels.push('"');
            step.duration.render(out, NAME, &labels, SECONDS, NANOS);
        }
    }
}

/// How long one step of a composed route takes: a histogram behind a handle that the route's
/// plan holds, so recording a step is a few relaxed adds.
#[derive(Debug)]
pub struct StepMetrics {
    method: Box<str>,
    route: Box<str>,
    step: Box<str>,
    duration: Histogram,
}

impl StepMetrics {
    fn new(method: &str, route: &str, step: &str) -> Self {
        Self {
            method: method.into(),
            route: route.into(),
            step: step.into(),
            duration: Histogram::new(SECONDS, NANOS),
        }
    }

    /// Records one finished step, `nanos` long.
    #[inline]
    pub fn observe(&self, nanos: u64) {
        self.duration.observe(nanos);
    }

    /// How many steps were recorded.
    pub fn count(&self) -> u64 {
        self.duration.count()
    }
}

/// Metrics kept elsewhere (backend endpoint state, …) appended to `/metrics`.
pub trait RenderMetrics: Send + Sync {
    /// Appends its families, `# HELP` and `# TYPE` lines included.
    fn render_metrics(&self, out: &mut String);
}

/// One route's metrics, one slot per frontend kind.
#[derive(Debug)]
pub struct RouteMetrics {
    method: Box<str>,
    route: Box<str>,
    backend: Box<str>,
    slots: [Slot; FRONTENDS],
}

/// One route's metrics for one frontend kind.
#[derive(Debug)]
struct Slot {
    codes: [AtomicU64; CODES],
    duration: Histogram,
    backend_duration: Histogram,
    request_size: Histogram,
    response_size: Histogram,
}

impl Slot {
    fn new() -> Self {
        Self {
            codes: Default::default(),
            duration: Histogram::new(SECONDS, NANOS),
            backend_duration: Histogram::new(SECONDS, NANOS),
            request_size: Histogram::new(BYTES, 1.0),
            response_size: Histogram::new(BYTES, 1.0),
        }
    }
}

/// What one finished exchange records.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// The frontend it came through.
    pub frontend: FrontendKind,
    /// How it ended.
    pub code: Code,
    /// The whole exchange, in nanoseconds.
    pub duration_nanos: u64,
    /// The backend call, in nanoseconds, if one was made.
    pub backend_nanos: Option<u64>,
    /// The one-message request body's size, if it was one message.
    pub request_bytes: Option<u64>,
    /// The answer's size (every message of a stream), if any answer was sent.
    pub response_bytes: Option<u64>,
}

impl RouteMetrics {
    fn new(method: &str, route: &str, backend: &str) -> Self {
        Self {
            method: method.into(),
            route: route.into(),
            backend: backend.into(),
            slots: std::array::from_fn(|_| Slot::new()),
        }
    }

    /// The route's method (`GET`, `PUBLISH`, `WEBSOCKET`); empty for unmatched requests.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The route's template; empty for unmatched requests.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The backend's name; empty for unmatched requests.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Records one finished exchange.
    #[inline]
    pub fn record(&self, observation: &Observation) {
        let slot = &self.slots[observation.frontend.index()];
        let code = (observation.code as usize).min(CODES - 1);
        slot.codes[code].fetch_add(1, Ordering::Relaxed);
        slot.duration.observe(observation.duration_nanos);
        if let Some(nanos) = observation.backend_nanos {
            slot.backend_duration.observe(nanos);
        }
        if let Some(bytes) = observation.request_bytes {
            slot.request_size.observe(bytes);
        }
        if let Some(bytes) = observation.response_bytes {
            slot.response_size.observe(bytes);
        }
    }

    /// How many requests through `frontend` ended with `code`.
    pub fn requests(&self, frontend: FrontendKind, code: Code) -> u64 {
        self.slots[frontend.index()].codes[code as usize].load(Ordering::Relaxed)
    }

    fn used_slots(&self) -> impl Iterator<Item = (FrontendKind, &Slot)> {
        FrontendKind::ALL
            .into_iter()
            .zip(&self.slots)
            .filter(|(_, slot)| slot.duration.count() > 0)
    }

    fn labels(&self, frontend: FrontendKind) -> String {
        let mut labels = String::with_capacity(96);
        let _ = write!(labels, "frontend=\"{}\",method=\"", frontend.label());
        escape(&mut labels, &self.method);
        labels.push_str("\",route=\"");
        escape(&mut labels, &self.route);
        labels.push_str("\",backend=\"");
        escape(&mut labels, &self.backend);
        labels.push('"');
        labels
    }

    fn render_codes(&self, out: &mut String) {
        for (frontend, slot) in self.used_slots() {
            let labels = self.labels(frontend);
            for (code, count) in slot.codes.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "polygate_requests_total{{{labels},code=\"{}\"}} {count}",
                        code_name(Code::from(code as i32))
                    );
                }
            }
        }
    }
}

/// WebSocket connections and messages.
#[derive(Debug, Default)]
pub struct WebSocketMetrics {
    /// Connections open now.
    pub open: AtomicI64,
    /// Connections opened since start.
    pub opened: AtomicU64,
    /// Messages received from clients.
    pub messages_in: AtomicU64,
    /// Messages sent to clients.
    pub messages_out: AtomicU64,
}

impl WebSocketMetrics {
    /// A connection opened.
    pub fn connected(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed.
    pub fn disconnected(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        header(
            out,
            "polygate_websocket_connections",
            "gauge",
            "WebSocket connections open.",
        );
        let _ = writeln!(
            out,
            "polygate_websocket_connections {}",
            self.open.load(Ordering::Relaxed)
        );
        counter(
            out,
            "polygate_websocket_connections_total",
            "WebSocket connections opened.",
            self.opened.load(Ordering::Relaxed),
        );
        header(
            out,
            "polygate_websocket_messages_total",
            "counter",
            "WebSocket data messages, by direction (in: from clients).",
        );
        for (direction, count) in [("in", &self.messages_in), ("out", &self.messages_out)] {
            let _ = writeln!(
                out,
                "polygate_websocket_messages_total{{direction=\"{direction}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
    }
}

/// MQTT messages, acknowledgements, retries and dead letters.
#[derive(Debug, Default)]
pub struct MqttMetrics {
    /// Messages the bridge received and worked on, counted as they arrive.
    pub messages_in: AtomicU64,
    /// Messages published (replies, errors, downlinks, dead letters).
    pub messages_out: AtomicU64,
    /// Messages acknowledged to the broker after their backend call ended.
    pub acks: AtomicU64,
    /// Backend calls retried.
    pub retries: AtomicU64,
    /// Messages parked on a dead-letter topic.
    pub dead_letters: AtomicU64,
    /// Subscriptions the broker granted on the bridge's current connection (a gauge).
    pub subscriptions: AtomicU64,
    /// Filters the broker granted in a SUBACK, at every connection and reload.
    pub subscribes_granted: AtomicU64,
    /// Filters the broker refused in a SUBACK (a failure code).
    pub subscribes_refused: AtomicU64,
    /// Subscriptions removed after a reload, acknowledged by the broker (UNSUBACK).
    pub unsubscribes: AtomicU64,
}

impl MqttMetrics {
    fn render(&self, out: &mut String) {
        header(
            out,
            "polygate_mqtt_messages_total",
            "counter",
            "MQTT messages, by direction (in: received by the bridge and worked on; out: published).",
        );
        for (direction, count) in [("in", &self.messages_in), ("out", &self.messages_out)] {
            let _ = writeln!(
                out,
                "polygate_mqtt_messages_total{{direction=\"{direction}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        counter(
            out,
            "polygate_mqtt_acks_total",
            "MQTT messages acknowledged after their backend call ended.",
            self.acks.load(Ordering::Relaxed),
        );
        counter(
            out,
            "polygate_mqtt_retries_total",
            "Backend calls of MQTT messages retried.",
            self.retries.load(Ordering::Relaxed),
        );
        counter(
            out,
            "polygate_mqtt_dead_letters_total",
            "MQTT messages parked on a dead-letter topic.",
            self.dead_letters.load(Ordering::Relaxed),
        );
        header(
            out,
            "polygate_mqtt_subscriptions",
            "gauge",
            "MQTT subscriptions the broker granted on the bridge's current connection.",
        );
        let _ = writeln!(
            out,
            "polygate_mqtt_subscriptions {}",
            self.subscriptions.load(Ordering::Relaxed)
        );
        header(
            out,
            "polygate_mqtt_subscribes_total",
            "counter",
            "Topic filters the broker answered in a SUBACK, by result (granted, refused).",
        );
        for (result, count) in [
            ("granted", &self.subscribes_granted),
            ("refused", &self.subscribes_refused),
        ] {
            let _ = writeln!(
                out,
                "polygate_mqtt_subscribes_total{{result=\"{result}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        counter(
            out,
            "polygate_mqtt_unsubscribes_total",
            "MQTT subscriptions removed after a reload, acknowledged by the broker.",
            self.unsubscribes.load(Ordering::Relaxed),
        );
    }
}

/// Configuration reloads.
#[derive(Debug, Default)]
pub struct ReloadMetrics {
    /// Reloads applied.
    pub succeeded: AtomicU64,
    /// Reloads refused (the old configuration kept serving).
    pub failed: AtomicU64,
    /// Unix time of the last reload applied (0: none yet).
    pub last_success_seconds: AtomicU64,
    /// Unix time of the last reload attempt (0: none yet).
    pub last_attempt_seconds: AtomicU64,
}

impl ReloadMetrics {
    /// Counts one reload.
    pub fn record(&self, succeeded: bool) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_attempt_seconds.store(now, Ordering::Relaxed);
        if succeeded {
            self.succeeded.fetch_add(1, Ordering::Relaxed);
            self.last_success_seconds.store(now, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn render(&self, out: &mut String) {
        header(
            out,
            "polygate_config_reloads_total",
            "counter",
            "Configuration reloads, by result (success: applied; failure: refused, the old configuration kept serving).",
        );
        for (result, count) in [("success", &self.succeeded), ("failure", &self.failed)] {
            let _ = writeln!(
                out,
                "polygate_config_reloads_total{{result=\"{result}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "polygate_config_last_reload_success_timestamp_seconds",
            "gauge",
            "Unix time of the last reload applied (0: none since start).",
        );
        let _ = writeln!(
            out,
            "polygate_config_last_reload_success_timestamp_seconds {}",
            self.last_success_seconds.load(Ordering::Relaxed)
        );
        header(
            out,
            "polygate_config_last_reload_successful",
            "gauge",
            "1 if the last reload attempt was applied (or none was made), 0 if it was refused.",
        );
        let attempt = self.last_attempt_seconds.load(Ordering::Relaxed);
        let success = self.last_success_seconds.load(Ordering::Relaxed);
        let ok = u8::from(attempt == 0 || success >= attempt);
        let _ = writeln!(out, "polygate_config_last_reload_successful {ok}");
    }
}

/// The canonical name of a gRPC code (`OK`, `NOT_FOUND`, …).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Writes a family's `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// Escapes a label value (backslash, quote, newline).
pub fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_exchange_appears_under_its_labels() {
        let metrics = Metrics::default();
        let route = metrics.route("GET", "/v1/books/{id}", "library");
        route.record(&Observation {
            frontend: FrontendKind::Rest,
            code: Code::NotFound,
            duration_nanos: 2_000_000,
            backend_nanos: Some(1_000_000),
            request_bytes: None,
            response_bytes: Some(40),
        });
        assert!(Arc::ptr_eq(
            &route,
            &metrics.route("GET", "/v1/books/{id}", "library")
        ));
        let text = metrics.render(&[]);
        let labels =
            "frontend=\"rest\",method=\"GET\",route=\"/v1/books/{id}\",backend=\"library\"";
        assert!(
            text.contains(&format!(
                "polygate_requests_total{{{labels},code=\"NOT_FOUND\"}} 1\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "polygate_request_duration_seconds_bucket{{{labels},le=\"0.0025\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "polygate_backend_call_duration_seconds_sum{{{labels}}} 0.001\n"
        )));
        assert!(text.contains(&format!(
            "polygate_response_size_bytes_count{{{labels}}} 1\n"
        )));
        assert!(!text.contains("frontend=\"mqtt\",method=\"GET\""));
    }

    #[test]
    fn a_composed_step_appears_under_its_route_and_name() {
        let metrics = Metrics::default();
        let step = metrics.compose_step("GET", "/v1/items/{sku}", "stock");
        assert!(!metrics
            .render(&[])
            .contains("polygate_compose_step_duration_seconds_count{"));
        step.observe(3_000_000);
        assert!(Arc::ptr_eq(
            &step,
            &metrics.compose_step("GET", "/v1/items/{sku}", "stock")
        ));
        let text = metrics.render(&[]);
        let labels = "method=\"GET\",route=\"/v1/items/{sku}\",step=\"stock\"";
        assert!(
            text.contains(&format!(
                "polygate_compose_step_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "polygate_compose_step_duration_seconds_count{{{labels}}} 1\n"
        )));
    }
}
