//! The load client of the WebSocket benchmarks (benches/load/harness/drivers/ws_*.py), in a
//! process of its own so that the gateway's memory and CPU are measured alone.
//!
//! - `idle`: opens `--connections` sockets to the multiplexed endpoint, sends `init` on each and
//!   waits for `init_ack`, prints `READY {json}` (connect time), keeps them open (answering the
//!   server's pings) for `--hold` seconds, and prints `DONE {json}`.
//! - `stream`: `--clients` sockets, each running server-stream calls of `--path` one after the
//!   other for `--seconds`, with credit enough never to wait; prints the messages received.
//! - `unary`: the same unary route at a constant `--rate` over the socket (calls spread over
//!   `--connections` sockets) and over REST (HTTP/1.1 keep-alive, `--connections` connections),
//!   latency counted from each call's scheduled time; prints percentiles of both.
//!
//! Run with `cargo run --release --example ws_load -- idle --ws ws://127.0.0.1:8090/ws`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "ws_load",
    about = "WebSocket load client for polygate's benchmarks"
)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Many idle connections after init_ack.
    Idle {
        /// The multiplexed endpoint.
        #[arg(long)]
        ws: String,
        /// How many connections.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Connections opening at once.
        #[arg(long, default_value_t = 256)]
        parallel: usize,
        /// Seconds to keep them open after all are ready.
        #[arg(long, default_value_t = 30.0)]
        hold: f64,
    },
    /// Server streams as fast as the gateway sends them.
    Stream {
        /// The multiplexed endpoint.
        #[arg(long)]
        ws: String,
        /// Sockets, one call at a time each.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// The server-streaming route's path (GET).
        #[arg(long, default_value = "/v1/items?count=1000")]
        path: String,
        /// How long.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// A unary call at a constant rate over the socket and over REST.
    Unary {
        /// The multiplexed endpoint.
        #[arg(long)]
        ws: String,
        /// The REST base URL.
        #[arg(long)]
        http: String,
        /// The unary route's path (GET).
        #[arg(long, default_value = "/v1/items/42")]
        path: String,
        /// Calls per second.
        #[arg(long, default_value_t = 5000)]
        rate: u64,
        /// Seconds per protocol.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Sockets, and REST connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
}

/// Opens the multiplexed endpoint and waits for `init_ack`.
async fn open(url: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("polygate.v1"),
    );
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config()), true)
            .await
            .map_err(|e| e.to_string())?;
    socket
        .send(Message::text(r#"{"type":"init"}"#))
        .await
        .map_err(|e| e.to_string())?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("init_ack") => Ok(socket),
        other => Err(format!("no init_ack: {other:?}")),
    }
}

#[tokio::main]
async fn main() {
    match Args::parse().mode {
        Mode::Idle {
            ws,
            connections,
            parallel,
            hold,
        } => idle(&ws, connections, parallel, hold).await,
        Mode::Stream {
            ws,
            clients,
            path,
            seconds,
        } => stream(&ws, clients, &path, seconds).await,
        Mode::Unary {
            ws,
            http,
            path,
            rate,
            seconds,
            connections,
        } => unary(&ws, &http, &path, rate, seconds, connections).await,
    }
}

async fn idle(url: &str, connections: usize, parallel: usize, hold: f64) {
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(parallel));
    let (ready, mut readiness) = mpsc::channel::<Result<(), String>>(1024);
    let open_sockets = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    for _ in 0..connections {
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .expect("the gate stays open");
        let (url, ready, open_sockets, stop) = (
            url.to_owned(),
            ready.clone(),
            open_sockets.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let opened = open(&url).await;
            drop(permit);
            let mut socket = match opened {
                Ok(socket) => socket,
                Err(e) => {
                    let _ = ready.send(Err(e)).await;
                    return;
                }
            };
            open_sockets.fetch_add(1, Ordering::Relaxed);
            let _ = ready.send(Ok(())).await;
            // Reading answers the server's pings; the socket stays until told to stop.
            let stopped = stop.notified();
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    () = &mut stopped => break,
                    frame = socket.next() => match frame {
                        Some(Ok(_)) => {}
                        _ => {
                            open_sockets.fetch_sub(1, Ordering::Relaxed);
                            return;
                        }
                    },
                }
            }
            let _ = socket.close(None).await;
        });
    }
    drop(ready);
    let (mut ok, mut failed, mut first_error) = (0usize, 0usize, None);
    while let Some(result) = readiness.recv().await {
        match result {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        if ok + failed == connections {
            break;
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    println!(
        "READY {}",
        json!({"connected": ok, "failed": failed, "connect_seconds": connect_seconds, "first_error": first_error})
    );
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    println!(
        "DONE {}",
        json!({"still_open": open_sockets.load(Ordering::Relaxed)})
    );
    stop.notify_waiters();
}

async fn stream(url: &str, clients: usize, path: &str, seconds: f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let messages = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for client in 0..clients {
        let (url, path, messages, calls) = (
            url.to_owned(),
            path.to_owned(),
            messages.clone(),
            calls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut socket = match open(&url).await {
                Ok(socket) => socket,
                Err(e) => return Err(format!("client {client}: {e}")),
            };
            let mut id = 0u64;
            while Instant::now() < deadline {
                id += 1;
                let call = json!({"type": "call", "id": id.to_string(), "method": "GET", "path": path, "credit": u32::MAX});
                socket
                    .send(Message::text(call.to_string()))
                    .await
                    .map_err(|e| e.to_string())?;
                loop {
                    let Some(Ok(Message::Text(text))) = socket.next().await else {
                        return Err("the socket ended".into());
                    };
                    if text.starts_with(r#"{"type":"next""#) {
                        messages.fetch_add(1, Ordering::Relaxed);
                    } else if text.starts_with(r#"{"type":"complete""#) {
                        calls.fetch_add(1, Ordering::Relaxed);
                        break;
                    } else if text.starts_with(r#"{"type":"error""#) {
                        return Err(format!("the call failed: {text}"));
                    }
                }
            }
            Ok(())
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        if let Ok(Err(e)) = task.await {
            errors.push(e);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "messages": messages.load(Ordering::Relaxed),
            "calls": calls.load(Ordering::Relaxed),
            "seconds": elapsed,
            "errors": errors.len(),
            "first_error": errors.first(),
        })
    );
}

/// Latency percentiles in milliseconds.
fn percentiles(mut micros: Vec<u64>, planned: u64, seconds: f64) -> Value {
    micros.sort_unstable();
    let at = |q: f64| {
        if micros.is_empty() {
            return Value::Null;
        }
        let index = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        json!(micros[index] as f64 / 1000.0)
    };
    json!({
        "planned": planned,
        "completed": micros.len(),
        "rate": micros.len() as f64 / seconds,
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    })
}

async fn unary(ws: &str, http: &str, path: &str, rate: u64, seconds: f64, connections: usize) {
    let total = (rate as f64 * seconds) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let over_ws = unary_ws(ws, path, total, interval, connections).await;
    let over_rest = unary_rest(http, path, total, interval, connections).await;
    println!(
        "{}",
        json!({
            "websocket": percentiles(over_ws, total, seconds),
            "rest": percentiles(over_rest, total, seconds),
        })
    );
}

/// The scheduled send times of `total` calls, `interval` apart from now.
fn schedule(total: u64, interval: Duration) -> impl Iterator<Item = Instant> {
    let start = Instant::now() + Duration::from_millis(10);
    (0..total).map(move |i| start + interval.mul_f64(i as f64))
}

async fn unary_ws(
    url: &str,
    path: &str,
    total: u64,
    interval: Duration,
    connections: usize,
) -> Vec<u64> {
    let mut senders = Vec::new();
    let (done, mut latencies) = mpsc::channel::<u64>(65_536);
    for _ in 0..connections {
        let mut socket = open(url).await.expect("the endpoint opens");
        let (calls, mut queued) = mpsc::channel::<(u64, Instant)>(4096);
        senders.push(calls);
        let done = done.clone();
        let path = path.to_owned();
        tokio::spawn(async move {
            let mut pending: HashMap<u64, Instant> = HashMap::new();
            let mut sending = true;
            loop {
                tokio::select! {
                    call = queued.recv(), if sending => match call {
                        Some((id, scheduled)) => {
                            pending.insert(id, scheduled);
                            let frame = json!({"type": "call", "id": id.to_string(), "method": "GET", "path": path});
                            if socket.send(Message::text(frame.to_string())).await.is_err() {
                                return;
                            }
                        }
                        None => sending = false,
                    },
                    frame = socket.next() => {
                        let Some(Ok(Message::Text(text))) = frame else { return };
                        if text.starts_with(r#"{"type":"next""#) {
                            let parsed: Value = serde_json::from_str(&text).unwrap_or_default();
                            let id = parsed["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0);
                            if let Some(scheduled) = pending.remove(&id) {
                                let _ = done.send(scheduled.elapsed().as_micros() as u64).await;
                            }
                        }
                    }
                }
                if !sending && pending.is_empty() {
                    return;
                }
            }
        });
    }
    drop(done);
    let collector = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(latency) = latencies.recv().await {
            all.push(latency);
        }
        all
    });
    for (i, at) in schedule(total, interval).enumerate() {
        tokio::time::sleep_until(at.into()).await;
        let _ = senders[i % senders.len()].send((i as u64, at)).await;
    }
    drop(senders);
    collector.await.unwrap_or_default()
}

async fn unary_rest(
    base: &str,
    path: &str,
    total: u64,
    interval: Duration,
    connections: usize,
) -> Vec<u64> {
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build_http();
    let uri: http::Uri = format!("{base}{path}").parse().expect("a URL");
    let (done, mut latencies) = mpsc::channel::<u64>(65_536);
    let gate = Arc::new(Semaphore::new(connections));
    let collector = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(latency) = latencies.recv().await {
            all.push(latency);
        }
        all
    });
    for at in schedule(total, interval) {
        tokio::time::sleep_until(at.into()).await;
        let permit = gate.clone().acquire_owned().await.expect("open");
        let (client, uri, done) = (client.clone(), uri.clone(), done.clone());
        #[allow(
            clippy::disallowed_methods,
            reason = "the benchmark's answers are ~500 bytes of JSON from the bench backend"
        )]
        tokio::spawn(async move {
            if let Ok(response) = client.get(uri).await {
                if response.status().is_success() && response.into_body().collect().await.is_ok() {
                    let _ = done.send(at.elapsed().as_micros() as u64).await;
                }
            }
            drop(permit);
        });
    }
    drop(done);
    collector.await.unwrap_or_default()
}
