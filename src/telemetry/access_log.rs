//! The access log: one line per exchange (a REST request, a WebSocket call, an MQTT message),
//! as text (logfmt) or JSON, handed to a writer thread through a bounded queue so the request
//! path never waits for the disk; the writer takes what is queued every 20 ms and writes it in
//! one go; lines that find the queue full are dropped and counted.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::metrics::{code_name, RouteMetrics};
use crate::model::Code;

/// The `access_log:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// `off` (default), `text` (logfmt `key=value` pairs) or `json` (one object per line).
    #[serde(default)]
    pub format: AccessLogFormat,
    /// The file lines are appended to, relative to the config file. Default: standard output.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Lines waiting for the writer at most; lines beyond are dropped and counted in
    /// `polygate_access_log_dropped_total`. Default 8192.
    #[serde(default)]
    pub buffer: Option<usize>,
}

/// How access log lines are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogFormat {
    /// No access log.
    #[default]
    Off,
    /// `key=value` pairs.
    Text,
    /// One JSON object per line.
    Json,
}

/// One exchange as the access log writes it.
#[derive(Debug)]
pub struct Entry {
    /// When the exchange reached the pipeline.
    pub time: SystemTime,
    /// The frontend label (`rest`, `websocket`, `mqtt`).
    pub frontend: &'static str,
    /// The route (template, method and backend; empty when none matched).
    pub route: Arc<RouteMetrics>,
    /// What the client did: the HTTP method, `PUBLISH` for a topic, empty otherwise.
    pub method: Box<str>,
    /// What the client addressed: the raw path or the topic.
    pub target: Box<str>,
    /// How the exchange ended.
    pub status: Code,
    /// The backend call's time, in nanoseconds, if one was made.
    pub upstream_nanos: Option<u64>,
    /// The whole exchange, in nanoseconds.
    pub duration_nanos: u64,
    /// The one-message request body's size.
    pub bytes_in: u64,
    /// The answer's size.
    pub bytes_out: u64,
    /// `x-request-id` as the client sent it, else the trace id.
    pub request_id: Option<Box<str>>,
    /// The W3C trace id, when the client sent a valid `traceparent`.
    pub trace_id: Option<Box<str>>,
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// Who the client is, when known.
    pub principal: Option<Arc<str>>,
}

/// The access log's sending side.
#[derive(Debug)]
pub struct AccessLog {
    sender: Option<SyncSender<Entry>>,
}

impl AccessLog {
    /// No access log.
    pub fn off() -> Self {
        Self { sender: None }
    }

    /// Starts the writer of `config` (paths relative to `base_dir`).
    pub fn start(config: &AccessLogConfig, base_dir: &Path) -> std::io::Result<Self> {
        if config.format == AccessLogFormat::Off {
            return Ok(Self::off());
        }
        let out: Box<dyn std::io::Write + Send> = match &config.path {
            Some(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(base_dir.join(path))?,
            ),
            None => Box::new(std::io::stdout()),
        };
        let (sender, receiver) = sync_channel(config.buffer.unwrap_or(8192).max(1));
        let format = config.format;
        std::thread::Builder::new()
            .name("polygate-access-log".into())
            .spawn(move || write_lines(receiver, out, format))?;
        Ok(Self {
            sender: Some(sender),
        })
    }

    /// Whether lines are written.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues a line; false if it was dropped because the writer fell behind.
    pub fn send(&self, entry: Entry) -> bool {
        match &self.sender {
            Some(sender) => match sender.try_send(entry) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => false,
                Err(TrySendError::Disconnected(_)) => false,
            },
            None => true,
        }
    }
}

/// How long the writer sleeps between batches. Requests never wake it: a wake-up per line (a
/// futex call on the request path, a context switch on the gateway's cores) cost more than
/// writing the line, so lines wait up to this long and go out together in one write.
const WRITE_INTERVAL: Duration = Duration::from_millis(20);

fn write_lines(
    receiver: Receiver<Entry>,
    out: Box<dyn std::io::Write + Send>,
    format: AccessLogFormat,
) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut line = String::with_capacity(512);
    loop {
        let mut wrote = false;
        let disconnected = loop {
            match receiver.try_recv() {
                Ok(entry) => {
                    line.clear();
                    format_entry(&mut line, &entry, format);
                    if out.write_all(line.as_bytes()).is_err() {
                        return;
                    }
                    wrote = true;
                }
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        if (wrote || disconnected) && out.flush().is_err() {
            return;
        }
        if disconnected {
            return;
        }
        std::thread::sleep(WRITE_INTERVAL);
    }
}

/// Formats one line, newline included.
pub fn format_entry(out: &mut String, entry: &Entry, format: AccessLogFormat) {
    let time = rfc3339(entry.time);
    let millis = |nanos: u64| nanos as f64 / 1e6;
    let request_id = entry.request_id.as_deref();
    let trace_id = entry.trace_id.as_deref();
    let client = entry.client.map(|c| c.to_string());
    match format {
        AccessLogFormat::Json => {
            let line = JsonLine {
                time: &time,
                frontend: entry.frontend,
                route: entry.route.route(),
                method: &entry.method,
                target: &entry.target,
                status: code_name(entry.status),
                code: entry.status as i32,
                backend: entry.route.backend(),
                upstream_ms: entry.upstream_nanos.map(millis),
                duration_ms: millis(entry.duration_nanos),
                bytes_in: entry.bytes_in,
                bytes_out: entry.bytes_out,
                request_id,
                trace_id,
                client: client.as_deref(),
                principal: entry.principal.as_deref(),
            };
            if let Ok(text) = serde_json::to_string(&line) {
                out.push_str(&text);
            }
        }
        AccessLogFormat::Text | AccessLogFormat::Off => {
            let upstream = entry.upstream_nanos.map(|n| format!("{:.3}", millis(n)));
            let duration = format!("{:.3}", millis(entry.duration_nanos));
            let (bytes_in, bytes_out) = (entry.bytes_in.to_string(), entry.bytes_out.to_string());
            let pairs: [(&str, Option<&str>); 15] = [
                ("time", Some(&time)),
                ("frontend", Some(entry.frontend)),
                ("route", Some(entry.route.route())),
                ("method", Some(&entry.method)),
                ("target", Some(&entry.target)),
                ("status", Some(code_name(entry.status))),
                ("backend", Some(entry.route.backend())),
                ("upstream_ms", upstream.as_deref()),
                ("duration_ms", Some(&duration)),
                ("bytes_in", Some(&bytes_in)),
                ("bytes_out", Some(&bytes_out)),
                ("request_id", request_id),
                ("trace_id", trace_id),
                ("client", client.as_deref()),
                ("principal", entry.principal.as_deref()),
            ];
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push('=');
                logfmt_value(out, value.filter(|v| !v.is_empty()).unwrap_or("-"));
            }
        }
    }
    out.push('\n');
}

#[derive(Serialize)]
struct JsonLine<'a> {
    time: &'a str,
    frontend: &'a str,
    route: &'a str,
    method: &'a str,
    target: &'a str,
    status: &'a str,
    code: i32,
    backend: &'a str,
    upstream_ms: Option<f64>,
    duration_ms: f64,
    bytes_in: u64,
    bytes_out: u64,
    request_id: Option<&'a str>,
    trace_id: Option<&'a str>,
    client: Option<&'a str>,
    principal: Option<&'a str>,
}

fn logfmt_value(out: &mut String, value: &str) {
    if value
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=' && b != b'\\')
    {
        out.push_str(value);
    } else {
        out.push('"');
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// `time` as RFC 3339 UTC with milliseconds: `2026-12-05T07:40:00.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::telemetry::metrics::Metrics;

    fn entry() -> Entry {
        Entry {
            time: UNIX_EPOCH + Duration::from_millis(1_764_920_400_123),
            frontend: "rest",
            route: Metrics::default().route("GET", "/v1/books/{id}", "library"),
            method: "GET".into(),
            target: "/v1/books/a b".into(),
            status: Code::NotFound,
            upstream_nanos: Some(1_500_000),
            duration_nanos: 2_000_000,
            bytes_in: 0,
            bytes_out: 52,
            request_id: Some("r-1".into()),
            trace_id: None,
            client: Some("127.0.0.1:4000".parse().unwrap()),
            principal: None,
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_007)),
            "2000-02-29T00:00:00.007Z"
        );
    }

    #[test]
    fn a_text_line_has_every_field_and_quotes_what_needs_it() {
        let mut line = String::new();
        format_entry(&mut line, &entry(), AccessLogFormat::Text);
        assert_eq!(
            line,
            "time=2025-12-05T07:40:00.123Z frontend=rest route=/v1/books/{id} method=GET target=\"/v1/books/a b\" status=NOT_FOUND backend=library upstream_ms=1.500 duration_ms=2.000 bytes_in=0 bytes_out=52 request_id=r-1 trace_id=- client=127.0.0.1:4000 principal=-\n"
        );
    }

    #[test]
    fn a_json_line_has_every_field() {
        let mut line = String::new();
        format_entry(&mut line, &entry(), AccessLogFormat::Json);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "time": "2025-12-05T07:40:00.123Z", "frontend": "rest", "route": "/v1/books/{id}",
                "method": "GET", "target": "/v1/books/a b", "status": "NOT_FOUND", "code": 5,
                "backend": "library", "upstream_ms": 1.5, "duration_ms": 2.0, "bytes_in": 0,
                "bytes_out": 52, "request_id": "r-1", "trace_id": null,
                "client": "127.0.0.1:4000", "principal": null
            })
        );
    }
}
