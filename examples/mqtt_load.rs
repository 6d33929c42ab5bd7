//! The MQTT load client of `benches/load` (driver `harness/drivers/mqtt.py`), in a process of
//! its own so that the gateway's CPU and memory are its own.
//!
//! `run`: serves the benchmark backend's `bench.v1.Bench/Echo` (gRPC, h2c) on
//! `--backend-listen`, waits for a line on stdin (the driver sends it once polygate's bridge
//! is ready), then `--devices` MQTT 5 devices publish `--messages` QoS 1 messages in all to
//! `bench/{device}/echo` with at most `--inflight` unacknowledged each. The backend records
//! when each arrives; the message carries its send time, so the latency is publish → backend
//! call. With `--rate`, messages are sent at that total rate (latency at a constant load);
//! without, as fast as the in-flight windows allow (throughput). Prints one JSON line:
//! messages, seconds (first publish to last arrival), msg/s, p50/p99/max latency in µs, missing
//! and duplicates.
//!
//! `idle`: connects `--connections` MQTT 5 devices (keep-alive 60 s), prints
//! `connected N`, and holds them until stdin closes.
//!
//! Run with `cargo run --release --example mqtt_load -- run --help`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;
use tonic::server::Grpc;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

#[path = "common/bench_echo.rs"]
mod bench_echo;

use bench_echo::{unix_nanos_now, EchoRequest, EchoResponse};

/// Command line of the MQTT load client.
#[derive(Debug, Parser)]
#[command(
    name = "mqtt_load",
    about = "MQTT load client for polygate's load benchmarks"
)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Publish QoS 1 messages through polygate into this process's gRPC backend.
    Run {
        /// Where the backend serves gRPC.
        #[arg(long, default_value = "127.0.0.1:50071")]
        backend_listen: String,
        /// The broker devices connect to.
        #[arg(long)]
        broker: String,
        /// Messages in all.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Devices (connections) publishing.
        #[arg(long, default_value_t = 8)]
        devices: u64,
        /// Unacknowledged messages per device.
        #[arg(long, default_value_t = 100)]
        inflight: u16,
        /// Give up waiting for the backend after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Publish at this many messages per second in all (0: as fast as the in-flight
        /// windows allow), for latency at a constant rate.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Hold idle MQTT connections.
    Idle {
        /// The broker devices connect to.
        #[arg(long)]
        broker: String,
        /// Connections.
        #[arg(long, default_value_t = 10_000)]
        connections: u64,
    },
}

fn unix_nanos() -> u64 {
    u64::try_from(unix_nanos_now()).unwrap_or(0)
}

/// What the backend saw: per sequence number, how often it arrived, and the latencies.
struct Arrivals {
    seen: Vec<u8>,
    latencies_us: Vec<u32>,
    last: Option<Instant>,
}

struct Backend {
    arrivals: Mutex<Arrivals>,
    count: AtomicU64,
}

async fn serve_backend(listener: TcpListener, backend: Arc<Backend>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let backend = backend.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let backend = backend.clone();
                async move { Ok::<_, Infallible>(echo(request, backend).await) }
            });
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn echo(
    request: http::Request<hyper::body::Incoming>,
    backend: Arc<Backend>,
) -> http::Response<tonic::body::Body> {
    let service = tower::service_fn(move |call: Request<EchoRequest>| {
        let backend = backend.clone();
        async move {
            let echo = call.into_inner();
            let now = unix_nanos();
            let sent: u64 = echo.message.parse().unwrap_or(now);
            if let Ok(mut arrivals) = backend.arrivals.lock() {
                let index = usize::try_from(echo.sequence).unwrap_or(usize::MAX);
                if let Some(slot) = arrivals.seen.get_mut(index) {
                    *slot = slot.saturating_add(1);
                }
                let micros = u32::try_from(now.saturating_sub(sent) / 1000).unwrap_or(u32::MAX);
                arrivals.latencies_us.push(micros);
                arrivals.last = Some(Instant::now());
            }
            backend.count.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Status>(Response::new(EchoResponse {
                message: String::new(),
                sequence: echo.sequence,
                received_unix_nanos: i64::try_from(now).unwrap_or(i64::MAX),
            }))
        }
    });
    Grpc::new(ProstCodec::<EchoResponse, EchoRequest>::default())
        .unary(service, request)
        .await
}

fn device_options(broker: &str, id: String, inflight: u16) -> anyhow::Result<MqttOptions> {
    let (host, port) = broker
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--broker is HOST:PORT"))?;
    let mut options = MqttOptions::new(id, host, port.parse()?);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_outgoing_inflight_upper_limit(inflight.max(1));
    Ok(options)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    backend_listen: String,
    broker: String,
    messages: u64,
    devices: u64,
    inflight: u16,
    timeout: u64,
    rate: u64,
) -> anyhow::Result<()> {
    let backend = Arc::new(Backend {
        arrivals: Mutex::new(Arrivals {
            seen: vec![0; usize::try_from(messages)?],
            latencies_us: Vec::with_capacity(usize::try_from(messages)?),
            last: None,
        }),
        count: AtomicU64::new(0),
    });
    let listener = TcpListener::bind(&backend_listen).await?;
    tokio::spawn(serve_backend(listener, backend.clone()));
    println!("backend ready");
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await?;

    let started = Instant::now();
    let mut publishers = Vec::new();
    for device in 0..devices {
        let options = device_options(&broker, format!("bench-{device}"), inflight)?;
        let (client, mut events) = AsyncClient::new(options, usize::from(inflight) * 2);
        // Each device polls its own event loop; QoS 1 acks free its in-flight window.
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(Event::Incoming(Packet::Disconnect(_))) => return,
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        let topic = format!("bench/d{device}/echo");
        // At a constant rate, device d sends message n at start + n / rate.
        let period = (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64));
        let start = tokio::time::Instant::now();
        publishers.push(tokio::spawn(async move {
            let mut sequence = device;
            while sequence < messages {
                if let Some(period) = period {
                    let at = period.mul_f64(sequence as f64);
                    tokio::time::sleep_until(start + at).await;
                }
                let payload = format!(
                    "{{\"message\":\"{}\",\"sequence\":{sequence}}}",
                    unix_nanos()
                );
                if client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, payload)
                    .await
                    .is_err()
                {
                    return client;
                }
                sequence += devices;
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for publisher in publishers {
        clients.push(publisher.await?);
    }
    let deadline = Instant::now() + Duration::from_secs(timeout);
    while backend.count.load(Ordering::Relaxed) < messages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The report is written under the lock, which is released before any await.
    {
        let arrivals = backend
            .arrivals
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        let seconds = arrivals
            .last
            .map_or(0.0, |last| last.duration_since(started).as_secs_f64());
        let missing = arrivals.seen.iter().filter(|n| **n == 0).count();
        let duplicates: u64 = arrivals
            .seen
            .iter()
            .map(|n| u64::from(n.saturating_sub(1)))
            .sum();
        let mut latencies = arrivals.latencies_us.clone();
        latencies.sort_unstable();
        let quantile = |q: f64| -> u32 {
            if latencies.is_empty() {
                return 0;
            }
            let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies[index.min(latencies.len() - 1)]
        };
        let arrived = backend.count.load(Ordering::Relaxed);
        println!(
            "{{\"messages\":{arrived},\"seconds\":{seconds:.3},\"rate\":{:.0},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"missing\":{missing},\"duplicates\":{duplicates}}}",
            if seconds > 0.0 { arrived as f64 / seconds } else { 0.0 },
            quantile(0.5),
            quantile(0.99),
            latencies.last().copied().unwrap_or(0)
        );
    }
    for client in clients {
        let _ = client.disconnect().await;
    }
    Ok(())
}

async fn idle(broker: String, connections: u64) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    let connected = Arc::new(AtomicU64::new(0));
    for n in 0..connections {
        let options = device_options(&broker, format!("idle-{n}"), 1)?;
        let (client, mut events) = AsyncClient::new(options, 4);
        let connected = connected.clone();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        clients.push(client);
        // Pace the handshakes a little, as a fleet of devices would.
        if n % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while connected.load(Ordering::Relaxed) < connections && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("connected {}", connected.load(Ordering::Relaxed));
    let mut line = String::new();
    let _ = tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
    for client in clients {
        let _ = client.try_disconnect();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().mode {
        Mode::Run {
            backend_listen,
            broker,
            messages,
            devices,
            inflight,
            timeout,
            rate,
        } => {
            run(
                backend_listen,
                broker,
                messages,
                devices,
                inflight,
                timeout,
                rate,
            )
            .await
        }
        Mode::Idle {
            broker,
            connections,
        } => idle(broker, connections).await,
    }
}
