//! The access log: one line per exchange (a REST request, a WebSocket call, an MQTT message),
//! as text (logfmt) or JSON. An exchange notes what the log needs as it opens ([`Opened`], its
//! texts inline when short) and, when it ends, appends a [`Record`] to one bounded queue under a
//! short lock, which keeps lines in the order exchanges ended. A writer thread takes the whole
//! queue every 20 ms, formats its lines one after the other and writes them in one go: under
//! load, formatting a line on the request's thread (with that thread's caches full of the
//! request) cost three times what the same formatting costs in a batch. Records that find the
//! queue full are dropped and counted.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::metrics::{code_name, RouteMetrics};
use crate::model::{Code, Identity};

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
pub struct Entry<'a> {
    /// When the exchange reached the pipeline.
    pub time: SystemTime,
    /// The frontend label (`rest`, `websocket`, `mqtt`).
    pub frontend: &'static str,
    /// The route (template, method and backend; empty when none matched).
    pub route: &'a RouteMetrics,
    /// What the client did: the HTTP method, `PUBLISH` for a topic, empty otherwise.
    pub method: &'a str,
    /// What the client addressed: the raw path or the topic.
    pub target: &'a str,
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
    pub request_id: Option<&'a str>,
    /// The W3C trace id, when the client sent a valid `traceparent`.
    pub trace_id: Option<&'a str>,
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// Who the client is, when known.
    pub principal: Option<&'a str>,
}

/// What the access log learns when an exchange opens.
#[derive(Debug)]
pub struct Opened {
    method: Cow<'static, str>,
    /// The target, then the request id when there is one of its own.
    text: Texts,
    target_len: usize,
    request_id: RequestId,
    trace_id: Option<Box<str>>,
    client: Option<SocketAddr>,
    principal: Option<Principal>,
}

/// Texts of up to this many bytes stay in the record itself: no allocation on the request path,
/// and nothing for the writer to free on its own thread (freeing memory another thread allocated
/// is an allocator's slow path: glibc takes that arena's lock, mimalloc defers it to the owner).
const INLINE_TEXT: usize = 96;

/// An exchange's texts, inline when short, else on the heap.
#[derive(Debug)]
enum Texts {
    Inline { bytes: [u8; INLINE_TEXT], len: u8 },
    Heap(Box<str>),
}

impl Texts {
    fn new(first: &str, second: &str) -> Self {
        let len = first.len() + second.len();
        if len > INLINE_TEXT {
            return Self::Heap([first, second].concat().into_boxed_str());
        }
        let mut bytes = [0; INLINE_TEXT];
        bytes[..first.len()].copy_from_slice(first.as_bytes());
        bytes[first.len()..len].copy_from_slice(second.as_bytes());
        Self::Inline {
            bytes,
            len: len as u8,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Whole `&str`s only were copied in.
            Self::Inline { bytes, len } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(text) => text,
        }
    }
}

/// A moment read on both clocks, so that the writer can tell the wall-clock time of an
/// `Instant` read on the request path (one clock read per batch, not per request).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    system: SystemTime,
    instant: Instant,
}

impl Clock {
    /// Now.
    pub fn now() -> Self {
        Self {
            system: SystemTime::now(),
            instant: Instant::now(),
        }
    }

    /// The wall-clock time of `instant` (an earlier one).
    pub fn time_of(&self, instant: Instant) -> SystemTime {
        let before = self.instant.saturating_duration_since(instant);
        self.system.checked_sub(before).unwrap_or(UNIX_EPOCH)
    }
}

/// Where an exchange's request id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestId {
    /// None was given and there is no trace id.
    None,
    /// In [`Opened::text`], after the target.
    Text,
    /// The trace id stands for it.
    TraceId,
}

/// Who the access log says the client is.
#[derive(Debug)]
pub enum Principal {
    /// What the policies admitted.
    Identity(Arc<Identity>),
    /// The MQTT client id, when no policy named the client.
    ClientId(Box<str>),
}

impl Principal {
    fn name(&self) -> &str {
        match self {
            Self::Identity(identity) => &identity.subject,
            Self::ClientId(client_id) => client_id,
        }
    }
}

impl Opened {
    /// An exchange opened: the client's `method` on `target`, with the request id the client or
    /// frontend gave (else the trace id stands for it).
    pub fn new(
        method: Cow<'static, str>,
        target: &str,
        request_id: Option<&str>,
        trace_id: Option<Box<str>>,
        client: Option<SocketAddr>,
        principal: Option<Principal>,
    ) -> Self {
        let text = Texts::new(target, request_id.unwrap_or_default());
        let request_id = match (request_id, &trace_id) {
            (Some(_), _) => RequestId::Text,
            (None, Some(_)) => RequestId::TraceId,
            (None, None) => RequestId::None,
        };
        Self {
            method,
            target_len: target.len(),
            text,
            request_id,
            trace_id,
            client,
            principal,
        }
    }

    /// The policies admitted the client as `principal`.
    pub fn admitted(&mut self, principal: Principal) {
        self.principal = Some(principal);
    }
}

/// One ended exchange waiting for the writer.
#[derive(Debug)]
pub struct Record {
    /// What the exchange noted as it opened.
    pub opened: Opened,
    /// When the exchange reached the pipeline.
    pub started: Instant,
    /// The frontend label (`rest`, `websocket`, `mqtt`).
    pub frontend: &'static str,
    /// The route (template, method and backend; empty when none matched).
    pub route: Arc<RouteMetrics>,
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
}

impl Record {
    /// The line's values, its time told by `clock`.
    pub fn entry(&self, clock: &Clock) -> Entry<'_> {
        let opened = &self.opened;
        let text = opened.text.as_str();
        let (target, request_id) = text.split_at(opened.target_len.min(text.len()));
        Entry {
            time: clock.time_of(self.started),
            frontend: self.frontend,
            route: &self.route,
            method: &opened.method,
            target,
            status: self.status,
            upstream_nanos: self.upstream_nanos,
            duration_nanos: self.duration_nanos,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            request_id: match opened.request_id {
                RequestId::Text => Some(request_id),
                RequestId::TraceId => opened.trace_id.as_deref(),
                RequestId::None => None,
            },
            trace_id: opened.trace_id.as_deref(),
            client: opened.client,
            principal: opened.principal.as_ref().map(Principal::name),
        }
    }
}

/// The access log's sending side; dropping it lets the writer write what is queued and stop.
#[derive(Debug)]
pub struct AccessLog {
    shared: Option<Arc<Shared>>,
}

/// What the request threads and the writer share.
struct Shared {
    format: AccessLogFormat,
    /// Lines waiting at most.
    capacity: usize,
    queue: Mutex<Vec<Record>>,
    /// The file or standard output; only the writer and [`AccessLog::flush`] take it. Not
    /// buffered: each batch is one buffer already, written in one call.
    out: Mutex<Box<dyn std::io::Write + Send>>,
    closed: AtomicBool,
    writer: std::sync::OnceLock<Thread>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("format", &self.format)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves bytes, not broken invariants.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AccessLog {
    /// No access log.
    pub fn off() -> Self {
        Self { shared: None }
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
        let shared = Arc::new(Shared::new(
            config.format,
            config.buffer.unwrap_or(8192),
            out,
        ));
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("polygate-access-log".into())
                .spawn(move || write_lines(&shared))?
        };
        let _ = shared.writer.set(writer.thread().clone());
        Ok(Self {
            shared: Some(shared),
        })
    }

    /// Whether lines are written.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Queues a record's line; false if it was dropped because the writer fell behind.
    pub fn send(&self, record: Record) -> bool {
        match &self.shared {
            Some(shared) => shared.queue(record),
            None => true,
        }
    }

    /// Writes every queued line now (at shutdown, so the last lines are not left behind).
    pub fn flush(&self) {
        if let Some(shared) = &self.shared {
            shared.write_queued(&mut Batch::default());
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.closed.store(true, Ordering::Release);
            if let Some(writer) = shared.writer.get() {
                writer.unpark();
            }
        }
    }
}

/// How long the writer sleeps between batches. Requests never wake it: a wake-up per line (a
/// futex call on the request path, a context switch on the gateway's cores) cost more than
/// writing the line, so lines wait up to this long and go out together in one write.
const WRITE_INTERVAL: Duration = Duration::from_millis(20);

/// What the writer's buffers keep between batches (records, and bytes of lines); a burst beyond
/// is given back.
const KEPT_RECORDS: usize = 1024;
const KEPT_BYTES: usize = 256 * 1024;

/// The writer's buffers, swapped with the queue and reused.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    lines: Vec<u8>,
}

impl Shared {
    fn new(format: AccessLogFormat, capacity: usize, out: Box<dyn std::io::Write + Send>) -> Self {
        Self {
            format,
            capacity: capacity.max(1),
            queue: Mutex::new(Vec::new()),
            out: Mutex::new(out),
            closed: AtomicBool::new(false),
            writer: std::sync::OnceLock::new(),
        }
    }

    /// Queues `record`; false if the queue is full.
    fn queue(&self, record: Record) -> bool {
        let mut queue = lock(&self.queue);
        if queue.len() >= self.capacity {
            return false;
        }
        queue.push(record);
        true
    }

    /// Takes the queue (swapping in the batch's records, so the queue's lock is held for a swap
    /// only), formats its lines and writes them; false once the output failed. The output is
    /// taken first, so that of two batches (the writer's and a flush at shutdown) the one taken
    /// first is written first.
    fn write_queued(&self, batch: &mut Batch) -> bool {
        let mut out = lock(&self.out);
        batch.records.clear();
        {
            let mut queue = lock(&self.queue);
            if queue.is_empty() {
                return true;
            }
            std::mem::swap(&mut *queue, &mut batch.records);
        }
        batch.lines.clear();
        let clock = Clock::now();
        for record in batch.records.drain(..) {
            format_entry(&mut batch.lines, &record.entry(&clock), self.format);
        }
        let written = out
            .write_all(&batch.lines)
            .and_then(|()| out.flush())
            .is_ok();
        batch.records.shrink_to(KEPT_RECORDS);
        batch.lines.clear();
        batch.lines.shrink_to(KEPT_BYTES);
        written
    }
}

fn write_lines(shared: &Shared) {
    let mut batch = Batch::default();
    loop {
        let closed = shared.closed.load(Ordering::Acquire);
        if !shared.write_queued(&mut batch) || closed {
            return;
        }
        std::thread::park_timeout(WRITE_INTERVAL);
    }
}

/// Formats one line, newline included.
pub fn format_entry(out: &mut Vec<u8>, entry: &Entry<'_>, format: AccessLogFormat) {
    let time = Rfc3339::new(entry.time);
    let millis = |nanos: u64| nanos as f64 / 1e6;
    let mut client = StackText::<48>::new();
    if let Some(address) = entry.client {
        write_address(&mut client, address);
    }
    let client = entry.client.map(|_| client.as_str());
    match format {
        AccessLogFormat::Json => {
            // Written by hand: the keys are fixed and the values rarely need escaping, so a
            // derived `Serialize` (escaping every key and string byte by byte) cost two thirds
            // of the line.
            let mut json = JsonWriter { out };
            json.string("{\"time\":", Some(time.as_str()));
            json.string(",\"frontend\":", Some(entry.frontend));
            json.string(",\"route\":", Some(entry.route.route()));
            json.string(",\"method\":", Some(entry.method));
            json.string(",\"target\":", Some(entry.target));
            json.string(",\"status\":", Some(code_name(entry.status)));
            json.integer(",\"code\":", entry.status as u64);
            json.string(",\"backend\":", Some(entry.route.backend()));
            json.millis(",\"upstream_ms\":", entry.upstream_nanos);
            json.millis(",\"duration_ms\":", Some(entry.duration_nanos));
            json.integer(",\"bytes_in\":", entry.bytes_in);
            json.integer(",\"bytes_out\":", entry.bytes_out);
            json.string(",\"request_id\":", entry.request_id);
            json.string(",\"trace_id\":", entry.trace_id);
            json.string(",\"client\":", client);
            json.string(",\"principal\":", entry.principal);
            json.out.push(b'}');
        }
        AccessLogFormat::Text | AccessLogFormat::Off => {
            let mut upstream = StackText::<24>::new();
            if let Some(nanos) = entry.upstream_nanos {
                let _ = write!(upstream, "{:.3}", millis(nanos));
            }
            let mut duration = StackText::<24>::new();
            let _ = write!(duration, "{:.3}", millis(entry.duration_nanos));
            let mut bytes_in = StackText::<24>::new();
            let _ = write!(bytes_in, "{}", entry.bytes_in);
            let mut bytes_out = StackText::<24>::new();
            let _ = write!(bytes_out, "{}", entry.bytes_out);
            let pairs: [(&str, Option<&str>); 15] = [
                ("time", Some(time.as_str())),
                ("frontend", Some(entry.frontend)),
                ("route", Some(entry.route.route())),
                ("method", Some(entry.method)),
                ("target", Some(entry.target)),
                ("status", Some(code_name(entry.status))),
                ("backend", Some(entry.route.backend())),
                (
                    "upstream_ms",
                    entry.upstream_nanos.map(|_| upstream.as_str()),
                ),
                ("duration_ms", Some(duration.as_str())),
                ("bytes_in", Some(bytes_in.as_str())),
                ("bytes_out", Some(bytes_out.as_str())),
                ("request_id", entry.request_id),
                ("trace_id", entry.trace_id),
                ("client", client),
                ("principal", entry.principal),
            ];
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                logfmt_value(out, value.filter(|v| !v.is_empty()).unwrap_or("-"));
            }
        }
    }
    out.push(b'\n');
}

/// Writes `address` as `Display` does; IPv4 by hand, as `Display` costs a fifth of the line.
fn write_address<const N: usize>(out: &mut StackText<N>, address: SocketAddr) {
    match address {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.push_decimal(u64::from(octet));
            }
            out.push(b':');
            out.push_decimal(u64::from(v4.port()));
        }
        SocketAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Text of at most `N` bytes formatted on the stack (what is beyond `N` is cut).
struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        if self.len < N {
            self.bytes[self.len] = byte;
            self.len += 1;
        }
    }

    fn push_decimal(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = value;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for digit in &digits[start..] {
            self.push(*digit);
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s and ASCII bytes are ever copied in.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        if end > N {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A JSON line written member by member (`key` is the member's literal prefix).
struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl JsonWriter<'_> {
    fn string(&mut self, key: &str, value: Option<&str>) {
        self.out.extend_from_slice(key.as_bytes());
        match value {
            None => self.out.extend_from_slice(b"null"),
            Some(text) if !needs_escaping(text) => {
                self.out.push(b'"');
                self.out.extend_from_slice(text.as_bytes());
                self.out.push(b'"');
            }
            // Writing into a Vec cannot fail.
            Some(text) => drop(serde_json::to_writer(&mut *self.out, text)),
        }
    }

    /// Nanoseconds as milliseconds, the way serde_json writes `nanos as f64 / 1e6` (the
    /// shortest form that reads back the same: `1.5`, `2.0`, `0.0123`), without the float
    /// formatter: from 100 ns to 10^15 ns the shortest form is the exact decimal (at most six
    /// places, trailing zeros dropped), written from the integer; outside it, serde_json.
    fn millis(&mut self, key: &str, nanos: Option<u64>) {
        self.out.extend_from_slice(key.as_bytes());
        let Some(nanos) = nanos else {
            self.out.extend_from_slice(b"null");
            return;
        };
        if !(100..1_000_000_000_000_000).contains(&nanos) {
            drop(serde_json::to_writer(&mut *self.out, &(nanos as f64 / 1e6)));
            return;
        }
        let mut whole = StackText::<20>::new();
        whole.push_decimal(nanos / 1_000_000);
        self.out.extend_from_slice(whole.as_bytes());
        self.out.push(b'.');
        let mut fraction = nanos % 1_000_000;
        if fraction == 0 {
            self.out.push(b'0');
            return;
        }
        let mut places = 6;
        while fraction % 10 == 0 {
            fraction /= 10;
            places -= 1;
        }
        let mut digits = [b'0'; 6];
        for digit in digits[..places].iter_mut().rev() {
            *digit = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        self.out.extend_from_slice(&digits[..places]);
    }

    fn integer(&mut self, key: &str, value: u64) {
        self.out.extend_from_slice(key.as_bytes());
        let mut digits = StackText::<20>::new();
        digits.push_decimal(value);
        self.out.extend_from_slice(digits.as_bytes());
    }
}

/// Whether a JSON string needs escapes. No early exit: the loop vectorizes, and the values
/// (paths, ids, names) are short and rarely hold a byte to escape.
fn needs_escaping(text: &str) -> bool {
    text.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

fn logfmt_value(out: &mut Vec<u8>, value: &str) {
    if value
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=' && b != b'\\')
    {
        out.extend_from_slice(value.as_bytes());
    } else {
        out.push(b'"');
        for c in value.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                c if c.is_control() => {
                    let _ = std::io::Write::write_fmt(out, format_args!("\\u{{{:x}}}", c as u32));
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        out.push(b'"');
    }
}

/// A time as RFC 3339 UTC with milliseconds, `2026-12-05T07:40:00.123Z`, formatted on the stack.
pub struct Rfc3339 {
    bytes: [u8; 24],
}

impl Rfc3339 {
    /// Formats `time` (times before 1970 read as 1970; years past 9999 are not written).
    pub fn new(time: SystemTime) -> Self {
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
        let year = (yoe + era * 400 + i64::from(month <= 2)).clamp(0, 9999) as u64;
        let mut bytes = *b"0000-00-00T00:00:00.000Z";
        let mut digits = |at: usize, width: usize, mut value: u64| {
            for i in (at..at + width).rev() {
                bytes[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        digits(0, 4, year);
        digits(5, 2, month as u64);
        digits(8, 2, day as u64);
        digits(11, 2, rest / 3600);
        digits(14, 2, rest % 3600 / 60);
        digits(17, 2, rest % 60);
        digits(20, 3, u64::from(since.subsec_millis()));
        Self { bytes }
    }

    /// The formatted time.
    pub fn as_str(&self) -> &str {
        // ASCII digits and separators only.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::telemetry::metrics::Metrics;

    fn route() -> Arc<RouteMetrics> {
        Metrics::default().route("GET", "/v1/books/{id}", "library")
    }

    #[test]
    fn milliseconds_are_written_as_serde_json_writes_the_float() {
        let mut samples: Vec<u64> = (0..200_000).collect();
        samples.extend((200_000..2_000_000_000).step_by(99_991));
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            samples.push(seed >> (seed % 64));
        }
        for power in 0..20 {
            let ten = 10u64.pow(power);
            samples.extend([ten - 1, ten, ten + 1, ten / 2 * 3]);
        }
        samples.extend([u64::MAX, 999_999_999_999_999, 1_000_000_000_000_000]);
        let mut out = Vec::new();
        for nanos in samples {
            out.clear();
            JsonWriter { out: &mut out }.millis("", Some(nanos));
            let expected = serde_json::to_string(&(nanos as f64 / 1e6)).unwrap();
            assert_eq!(std::str::from_utf8(&out).unwrap(), expected, "{nanos} ns");
        }
        out.clear();
        JsonWriter { out: &mut out }.millis(",\"k\":", None);
        assert_eq!(out, b",\"k\":null");
    }

    fn entry(route: &RouteMetrics) -> Entry<'_> {
        Entry {
            time: UNIX_EPOCH + Duration::from_millis(1_764_920_400_123),
            frontend: "rest",
            route,
            method: "GET",
            target: "/v1/books/a b",
            status: Code::NotFound,
            upstream_nanos: Some(1_500_000),
            duration_nanos: 2_000_000,
            bytes_in: 0,
            bytes_out: 52,
            request_id: Some("r-1"),
            trace_id: None,
            client: Some("127.0.0.1:4000".parse().unwrap()),
            principal: None,
        }
    }

    fn formatted(entry: &Entry<'_>, format: AccessLogFormat) -> String {
        let mut line = Vec::new();
        format_entry(&mut line, entry, format);
        String::from_utf8(line).unwrap()
    }

    /// An output the test can read.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(route: &Arc<RouteMetrics>, target: &str, request_id: Option<&str>) -> Record {
        let trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        let opened = Opened::new(
            Cow::Borrowed("GET"),
            target,
            request_id,
            trace_id,
            None,
            None,
        );
        Record {
            opened,
            started: Instant::now(),
            frontend: "rest",
            route: route.clone(),
            status: Code::Ok,
            upstream_nanos: None,
            duration_nanos: 1,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    #[test]
    fn lines_leave_in_the_order_they_were_queued_and_a_full_queue_drops() {
        let written = Written::default();
        let shared = Shared::new(AccessLogFormat::Json, 3, Box::new(written.clone()));
        let route = route();
        let queued: Vec<bool> = ["/a", "/b", "/c", "/d"]
            .iter()
            .map(|target| shared.queue(record(&route, target, Some("r-1"))))
            .collect();
        assert_eq!(queued, [true, true, true, false]);
        let mut batch = Batch::default();
        assert!(shared.write_queued(&mut batch));
        assert!(shared.queue(record(&route, "/e", None)));
        assert!(shared.write_queued(&mut batch));
        let text = String::from_utf8(lock(&written.0).clone()).unwrap();
        let written: Vec<(String, String)> = text
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let text = |key: &str| value[key].as_str().unwrap().to_owned();
                (text("target"), text("request_id"))
            })
            .collect();
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let expected = [
            ("/a", "r-1"),
            ("/b", "r-1"),
            ("/c", "r-1"),
            ("/e", trace_id),
        ]
        .map(|(target, id)| (target.to_owned(), id.to_owned()));
        assert_eq!(written, expected);
    }

    #[test]
    fn a_record_reads_back_its_texts_inline_or_not_and_its_time() {
        let route = route();
        let clock = Clock::now();
        let long = format!("/v1/books/{}", "b".repeat(INLINE_TEXT));
        for target in [
            "/v1/books/1",
            "/v1/books/é",
            &long[..INLINE_TEXT - 5],
            &long,
        ] {
            let mut with_id = record(&route, target, Some("req-7"));
            with_id.opened.trace_id = None;
            with_id.started = clock.instant - Duration::from_millis(1500);
            with_id
                .opened
                .admitted(Principal::ClientId("sensor-9".into()));
            let entry = with_id.entry(&clock);
            assert_eq!(
                (
                    entry.target,
                    entry.request_id,
                    entry.trace_id,
                    entry.principal
                ),
                (target, Some("req-7"), None, Some("sensor-9"))
            );
            assert_eq!(entry.time, clock.system - Duration::from_millis(1500));
        }
        let bare = Opened::new(Cow::Borrowed(""), "t/1", None, None, None, None);
        let bare = Record {
            opened: bare,
            ..record(&route, "", None)
        };
        let entry = bare.entry(&clock);
        assert_eq!(
            (
                entry.target,
                entry.request_id,
                entry.trace_id,
                entry.principal
            ),
            ("t/1", None, None, None)
        );
    }

    #[test]
    fn json_lines_keep_the_documented_order_and_escape_what_needs_it() {
        let route = route();
        assert_eq!(
            formatted(&entry(&route), AccessLogFormat::Json),
            "{\"time\":\"2025-12-05T07:40:00.123Z\",\"frontend\":\"rest\",\"route\":\"/v1/books/{id}\",\"method\":\"GET\",\"target\":\"/v1/books/a b\",\"status\":\"NOT_FOUND\",\"code\":5,\"backend\":\"library\",\"upstream_ms\":1.5,\"duration_ms\":2.0,\"bytes_in\":0,\"bytes_out\":52,\"request_id\":\"r-1\",\"trace_id\":null,\"client\":\"127.0.0.1:4000\",\"principal\":null}\n"
        );
        let hostile = "/a\"b\\c\u{1}\u{7f}é\n";
        let line = formatted(
            &Entry {
                target: hostile,
                principal: Some("ü\""),
                upstream_nanos: None,
                ..entry(&route)
            },
            AccessLogFormat::Json,
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["target"], hostile);
        assert_eq!(value["principal"], "ü\"");
        assert_eq!(value["upstream_ms"], serde_json::Value::Null);
        assert_eq!(line.lines().count(), 1);
    }

    #[test]
    fn client_addresses_read_as_display_writes_them() {
        for address in [
            "127.0.0.1:4000",
            "10.0.255.9:0",
            "[::1]:8080",
            "[fe80::1%2]:443",
        ] {
            let address: SocketAddr = address.parse().unwrap();
            let mut text = StackText::<48>::new();
            write_address(&mut text, address);
            assert_eq!(text.as_str(), address.to_string());
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let rfc3339 = |time| Rfc3339::new(time).as_str().to_owned();
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_007)),
            "2000-02-29T00:00:00.007Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(4_102_444_799_999)),
            "2099-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn a_text_line_has_every_field_and_quotes_what_needs_it() {
        let route = route();
        assert_eq!(
            formatted(&entry(&route), AccessLogFormat::Text),
            "time=2025-12-05T07:40:00.123Z frontend=rest route=/v1/books/{id} method=GET target=\"/v1/books/a b\" status=NOT_FOUND backend=library upstream_ms=1.500 duration_ms=2.000 bytes_in=0 bytes_out=52 request_id=r-1 trace_id=- client=127.0.0.1:4000 principal=-\n"
        );
    }

    #[test]
    fn a_json_line_has_every_field() {
        let route = route();
        let line = formatted(&entry(&route), AccessLogFormat::Json);
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
