//! MQTT test peers: devices (real rumqttc clients, MQTT 3.1.1 or 5), a real Mosquitto started
//! on a free loopback port with a generated config, and polygate's MQTT frontend started
//! through the library's serve path, ready once every subscription is acknowledged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::mpsc;

use super::scratch_dir;

/// How long any wait in an MQTT test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A message a device received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Bytes,
    pub properties: Option<PublishProperties>,
}

impl Received {
    /// The payload as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("a JSON payload")
    }
}

/// A device: one MQTT client with its event loop polled in the background.
pub struct Device {
    client: DeviceClient,
    received: mpsc::Receiver<Received>,
    acked: Arc<Acks>,
    task: tokio::task::JoinHandle<()>,
}

/// The broker's acknowledgements of a device's publishes.
#[derive(Default)]
struct Acks {
    /// Every PUBACK and PUBCOMP.
    all: AtomicUsize,
    /// MQTT 5 PUBACKs with reason 0x10, No matching subscribers.
    unmatched: AtomicUsize,
}

enum DeviceClient {
    V5(AsyncClient),
    V311(rumqttc::AsyncClient),
}

fn qos_v311(qos: u8) -> rumqttc::QoS {
    match qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos_v5(qos: u8) -> QoS {
    match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

impl Device {
    /// An MQTT 5 device connected (clean start) to `addr`, anonymous.
    pub async fn v5(addr: SocketAddr, id: &str) -> Self {
        Self::v5_with(addr, id, None).await
    }

    /// An MQTT 5 device logging in with `credentials`.
    pub async fn v5_with(addr: SocketAddr, id: &str, credentials: Option<(&str, &str)>) -> Self {
        let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(Some(1 << 20));
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, events) = AsyncClient::new(options, 1024);
        Self::connect(DeviceClient::V5(client), |sink, acked, connected| {
            tokio::spawn(poll_v5(events, sink, acked, connected))
        })
        .await
    }

    /// An MQTT 3.1.1 device connected (clean session) to `addr`, anonymous.
    pub async fn v311(addr: SocketAddr, id: &str) -> Self {
        let mut options = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, events) = rumqttc::AsyncClient::new(options, 1024);
        Self::connect(DeviceClient::V311(client), |sink, acked, connected| {
            tokio::spawn(poll_v311(events, sink, acked, connected))
        })
        .await
    }

    /// Starts the device's poller and waits for its CONNACK.
    async fn connect(
        client: DeviceClient,
        poller: impl FnOnce(
            mpsc::Sender<Received>,
            Arc<Acks>,
            tokio::sync::oneshot::Sender<()>,
        ) -> tokio::task::JoinHandle<()>,
    ) -> Self {
        let (sink, received) = mpsc::channel(100_000);
        let acked = Arc::new(Acks::default());
        let (connected_in, connected) = tokio::sync::oneshot::channel();
        let task = poller(sink, acked.clone(), connected_in);
        let device = Self {
            client,
            received,
            acked,
            task,
        };
        tokio::time::timeout(DEADLINE, connected)
            .await
            .expect("the device connects in time")
            .expect("the device connects");
        device
    }

    /// Publishes `payload` to `topic` (queued; see [`Device::wait_acked`]).
    pub async fn publish(&self, topic: &str, payload: impl Into<Bytes>, qos: u8) {
        let payload: Bytes = payload.into();
        match &self.client {
            DeviceClient::V5(client) => client
                .publish_bytes(topic, qos_v5(qos), false, payload)
                .await
                .expect("the publish is queued"),
            DeviceClient::V311(client) => client
                .publish_bytes(topic, qos_v311(qos), false, payload)
                .await
                .expect("the publish is queued"),
        }
    }

    /// Publishes with MQTT 5 properties.
    pub async fn publish_with(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: u8,
        properties: PublishProperties,
    ) {
        let DeviceClient::V5(client) = &self.client else {
            panic!("properties need an MQTT 5 device");
        };
        client
            .publish_bytes_with_properties(topic, qos_v5(qos), false, payload.into(), properties)
            .await
            .expect("the publish is queued");
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: u8) {
        match &self.client {
            DeviceClient::V5(client) => client
                .subscribe(filter, qos_v5(qos))
                .await
                .expect("the subscribe is queued"),
            DeviceClient::V311(client) => client
                .subscribe(filter, qos_v311(qos))
                .await
                .expect("the subscribe is queued"),
        }
        // The poller turns the SUBACK into an empty marker message on the `$suback` topic.
        let marker = self.next().await;
        assert_eq!(marker.topic, "$suback", "expected the SUBACK first");
    }

    /// The next message received, within the deadline.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(DEADLINE, self.received.recv())
            .await
            .expect("a message arrives in time")
            .expect("the device is connected")
    }

    /// The next message received on `topic`, skipping others, within the deadline.
    pub async fn next_on(&mut self, topic: &str) -> Received {
        loop {
            let message = self.next().await;
            if message.topic == topic {
                return message;
            }
        }
    }

    /// How many of its QoS 1/2 publishes the broker acknowledged.
    pub fn acked(&self) -> usize {
        self.acked.all.load(Ordering::SeqCst)
    }

    /// How many of its QoS 1 publishes the broker acknowledged with MQTT 5 reason 0x10, No
    /// matching subscribers: no client subscribed to the topic when the broker took it.
    pub fn acked_unmatched(&self) -> usize {
        self.acked.unmatched.load(Ordering::SeqCst)
    }

    /// Waits until the broker acknowledged `count` publishes.
    pub async fn wait_acked(&self, count: usize) {
        eventually(
            || self.acked() >= count,
            "the broker acknowledges the publishes",
        )
        .await;
    }

    /// Disconnects.
    pub async fn disconnect(self) {
        match &self.client {
            DeviceClient::V5(client) => {
                let _ = client.disconnect().await;
            }
            DeviceClient::V311(client) => {
                let _ = client.disconnect().await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// What a device's event loop reported, in either protocol version.
enum DeviceEvent {
    Connected,
    Message(Received),
    Subscribed,
    Acked,
    AckedUnmatched,
    Closed,
    Other,
    Failed,
}

/// Handles one event; false when the device is done.
async fn on_event(
    event: DeviceEvent,
    sink: &mpsc::Sender<Received>,
    acked: &Acks,
    connected: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> bool {
    let suback = || Received {
        topic: "$suback".into(),
        payload: Bytes::new(),
        properties: None,
    };
    match event {
        DeviceEvent::Connected => {
            if let Some(connected) = connected.take() {
                let _ = connected.send(());
            }
            true
        }
        DeviceEvent::Message(received) => sink.send(received).await.is_ok(),
        DeviceEvent::Subscribed => sink.send(suback()).await.is_ok(),
        DeviceEvent::Acked => {
            acked.all.fetch_add(1, Ordering::SeqCst);
            true
        }
        DeviceEvent::AckedUnmatched => {
            acked.unmatched.fetch_add(1, Ordering::SeqCst);
            acked.all.fetch_add(1, Ordering::SeqCst);
            true
        }
        DeviceEvent::Closed => false,
        DeviceEvent::Other => true,
        DeviceEvent::Failed => {
            if connected.is_none() && sink.is_closed() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            true
        }
    }
}

async fn poll_v5(
    mut events: EventLoop,
    sink: mpsc::Sender<Received>,
    acked: Arc<Acks>,
    connected: tokio::sync::oneshot::Sender<()>,
) {
    let mut connected = Some(connected);
    loop {
        let event = match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => DeviceEvent::Connected,
            Ok(Event::Incoming(Packet::Publish(publish))) => DeviceEvent::Message(Received {
                topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                payload: publish.payload,
                properties: publish.properties,
            }),
            Ok(Event::Incoming(Packet::SubAck(_))) => DeviceEvent::Subscribed,
            Ok(Event::Incoming(Packet::PubAck(ack)))
                if ack.reason == PubAckReason::NoMatchingSubscribers =>
            {
                DeviceEvent::AckedUnmatched
            }
            Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) => DeviceEvent::Acked,
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => DeviceEvent::Closed,
            Ok(_) => DeviceEvent::Other,
            Err(_) => DeviceEvent::Failed,
        };
        if !on_event(event, &sink, &acked, &mut connected).await {
            return;
        }
    }
}

async fn poll_v311(
    mut events: rumqttc::EventLoop,
    sink: mpsc::Sender<Received>,
    acked: Arc<Acks>,
    connected: tokio::sync::oneshot::Sender<()>,
) {
    use rumqttc::{Event as E, Packet as P};
    let mut connected = Some(connected);
    loop {
        let event = match events.poll().await {
            Ok(E::Incoming(P::ConnAck(_))) => DeviceEvent::Connected,
            Ok(E::Incoming(P::Publish(publish))) => DeviceEvent::Message(Received {
                topic: publish.topic,
                payload: publish.payload,
                properties: None,
            }),
            Ok(E::Incoming(P::SubAck(_))) => DeviceEvent::Subscribed,
            Ok(E::Incoming(P::PubAck(_) | P::PubComp(_))) => DeviceEvent::Acked,
            Ok(E::Outgoing(rumqttc::Outgoing::Disconnect)) => DeviceEvent::Closed,
            Ok(_) => DeviceEvent::Other,
            Err(_) => DeviceEvent::Failed,
        };
        if !on_event(event, &sink, &acked, &mut connected).await {
            return;
        }
    }
}

/// Polls `condition` every 10 ms until it holds; fails the test after [`DEADLINE`].
pub async fn eventually(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A free loopback port (bound, then released for a server that needs an explicit port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A real Mosquitto on a free loopback port, anonymous, persistence in a scratch directory.
pub struct Mosquitto {
    pub addr: SocketAddr,
    child: Child,
    pub dir: PathBuf,
}

impl Mosquitto {
    /// Starts Mosquitto and waits until it accepts connections.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts Mosquitto with `files` (name, contents) written into its directory and an
    /// `acl_file` line naming the one called `acl`, if any.
    pub async fn start_with(files: &[(&str, &str)]) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let dir = scratch_dir();
            let config = dir.join("mosquitto.conf");
            let mut extra = String::new();
            for (name, contents) in files {
                std::fs::write(dir.join(name), contents).expect("a mosquitto file is written");
                if *name == "acl" {
                    extra.push_str(&format!("acl_file {}\n", dir.join(name).display()));
                }
            }
            std::fs::write(
                &config,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_inflight_messages 20\nmax_queued_messages 100000\n{extra}",
                    dir.display()
                ),
            )
            .expect("the mosquitto config is written");
            let child = Command::new(mosquitto_binary())
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto starts (installed by .ci/run)");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut mosquitto = Self { addr, child, dir };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while tokio::time::Instant::now() < deadline {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return mosquitto;
                }
                if let Ok(Some(_)) = mosquitto.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = mosquitto.child.kill();
        }
        panic!("mosquitto did not start");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto_binary() -> PathBuf {
    for candidate in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    "mosquitto".into()
}

/// A config for the test protos' backend `test` with an MQTT frontend on an embedded broker
/// (anonymous, port 0, storage in `dir`), then `extra`.
pub fn embedded_config(backend_url: &str, dir: &std::path::Path, extra: &str) -> String {
    let protos = super::root().join("tests/protos");
    format!(
        "mqtt:\n  embedded:\n    listen: 127.0.0.1:0\n    storage_dir: {}\n    allow_anonymous: true\nbackends:\n  test:\n    grpc:\n      url: {backend_url}\n      schema:\n        protos: [polygate/test/v1/testing.proto]\n        proto_paths: [{}]\n{extra}",
        dir.join("broker").display(),
        protos.display()
    )
}

/// A config for the test protos' backend `test` with an MQTT frontend bridging the broker at
/// `broker` (`mqtt://…`), client id `client_id`, then `extra`.
pub fn external_config(backend_url: &str, broker: &str, client_id: &str, extra: &str) -> String {
    let protos = super::root().join("tests/protos");
    format!(
        "mqtt:\n  broker:\n    url: {broker}\n  client_id: {client_id}\nbackends:\n  test:\n    grpc:\n      url: {backend_url}\n      schema:\n        protos: [polygate/test/v1/testing.proto]\n        proto_paths: [{}]\n{extra}",
        protos.display()
    )
}

/// polygate serving `config` (written with `files` into `dir`) in this process, its MQTT
/// bridge ready.
pub struct MqttGateway {
    pub running: polygate::app::Running,
    pub dir: PathBuf,
}

impl MqttGateway {
    /// Starts polygate in `dir` and waits until the MQTT frontend is ready.
    pub async fn start_in(dir: PathBuf, config: &str, files: &[(&str, &str)]) -> Self {
        polygate::install_crypto_provider();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).expect("file written");
        }
        let path = dir.join("polygate.yaml");
        std::fs::write(&path, config).expect("config written");
        let running = super::serve(&path).await;
        let ready = tokio::time::timeout(DEADLINE, running.wait_ready("mqtt"))
            .await
            .expect("the MQTT bridge is ready in time");
        assert!(ready, "the MQTT bridge became ready");
        Self { running, dir }
    }

    /// Starts polygate in a fresh scratch directory.
    pub async fn start(
        config: impl FnOnce(&std::path::Path) -> String,
        files: &[(&str, &str)],
    ) -> Self {
        let dir = scratch_dir();
        let text = config(&dir);
        Self::start_in(dir, &text, files).await
    }

    /// Where devices connect (the embedded broker).
    pub fn broker(&self) -> SocketAddr {
        self.running.local_addr("mqtt").expect("an MQTT frontend")
    }

    /// Stops polygate gracefully.
    pub async fn stop(self) -> PathBuf {
        self.running.shutdown().await;
        self.dir
    }
}

/// A gRPC backend whose `Echo` records the `int32Value` of every call (a sequence number),
/// so no-loss tests count arrivals without copying whole calls.
pub struct SequenceBackend {
    pub server: super::GrpcServer,
    seen: Arc<std::sync::Mutex<Vec<i64>>>,
}

impl SequenceBackend {
    /// Starts on an ephemeral port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0", Arc::default()).await
    }

    /// Starts on `addr`, recording into `seen` (kept across restarts).
    pub async fn start_on(addr: &str, seen: Arc<std::sync::Mutex<Vec<i64>>>) -> Self {
        Self::start_slow(addr, seen, Duration::ZERO, Arc::default()).await
    }

    /// Starts on `addr`; every call takes `delay`, and `load` tracks (calls now, most at once).
    pub async fn start_slow(
        addr: &str,
        seen: Arc<std::sync::Mutex<Vec<i64>>>,
        delay: Duration,
        load: Arc<(AtomicUsize, AtomicUsize)>,
    ) -> Self {
        let record = seen.clone();
        let server = super::test_backend()
            .handle("polygate.test.v1.Testing/Echo", move |call| {
                let record = record.clone();
                let load = load.clone();
                async move {
                    let now = load.0.fetch_add(1, Ordering::SeqCst) + 1;
                    load.1.fetch_max(now, Ordering::SeqCst);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    load.0.fetch_sub(1, Ordering::SeqCst);
                    let seq = call
                        .message()
                        .get_field_by_name("int32_value")
                        .and_then(|v| v.as_i32())
                        .unwrap_or(-1);
                    record.lock().unwrap().push(i64::from(seq));
                    Ok(super::Reply::one(call.message().clone()))
                }
            })
            .start_on(addr)
            .await
            .expect("the backend binds");
        Self { server, seen }
    }

    /// Stops it; `restart` brings it back on the same port with the same record.
    pub async fn stop(self) -> (SocketAddr, Arc<std::sync::Mutex<Vec<i64>>>) {
        let addr = self.server.addr;
        self.server.stop().await;
        (addr, self.seen)
    }

    /// Every sequence number received, in arrival order.
    pub fn seen(&self) -> Vec<i64> {
        self.seen.lock().unwrap().clone()
    }

    /// How many distinct numbers arrived.
    pub fn distinct(&self) -> usize {
        let mut seen = self.seen();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// The backend's URL.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// Loss and duplicates of the numbers `1..=count` in `seen`.
pub fn tally(seen: &[i64], count: i64) -> (Vec<i64>, usize) {
    let mut sorted = seen.to_vec();
    sorted.sort_unstable();
    let total = sorted.len();
    sorted.dedup();
    let missing = (1..=count)
        .filter(|n| sorted.binary_search(n).is_err())
        .collect();
    (missing, total - sorted.len())
}

/// Publishes `{"int32Value": n}` for every `n` in `numbers` to `topic` at QoS 1.
pub async fn publish_sequence(
    device: &Device,
    topic: &str,
    numbers: std::ops::RangeInclusive<i64>,
) {
    for n in numbers {
        device
            .publish(topic, format!("{{\"int32Value\": {n}}}"), 1)
            .await;
    }
}

/// How long polygate may take to exit after SIGTERM before the test fails: far beyond any
/// drain timeout the tests configure, so only a hang reaches it.
pub const EXIT_DEADLINE: Duration = Duration::from_secs(60);

/// polygate as a separate process (the real binary), serving `config`.
pub struct GatewayProcess {
    child: Option<Child>,
    ready: mpsc::Receiver<()>,
    draining: mpsc::Receiver<()>,
}

impl GatewayProcess {
    /// Starts the binary with `config` (a file path) and waits for the bridge's ready line.
    pub fn start(config: &std::path::Path) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_polygate"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("polygate starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tell_ready, ready) = mpsc::channel(4);
        let (tell_draining, draining) = mpsc::channel(4);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if line.contains("MQTT bridge ready") {
                    let _ = tell_ready.try_send(());
                } else if line.contains("bridge draining") {
                    let _ = tell_draining.try_send(());
                }
            }
        });
        Self {
            child: Some(child),
            ready,
            draining,
        }
    }

    /// Waits until the bridge said it is ready.
    pub async fn wait_ready(&mut self) {
        tokio::time::timeout(DEADLINE, self.ready.recv())
            .await
            .expect("polygate's MQTT bridge becomes ready in time")
            .expect("polygate's MQTT bridge becomes ready");
    }

    /// Sends SIGTERM and returns at once (see [`GatewayProcess::wait_draining`] and
    /// [`GatewayProcess::wait_exit`]).
    pub fn signal_terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM is sent: {status}");
    }

    /// Waits until the bridge said it is draining (it took the SIGTERM).
    pub async fn wait_draining(&mut self) {
        tokio::time::timeout(DEADLINE, self.draining.recv())
            .await
            .expect("polygate's MQTT bridge starts draining in time")
            .expect("polygate's MQTT bridge starts draining");
    }

    /// Waits for the process to exit, at most [`EXIT_DEADLINE`]; past that it is killed and the
    /// test fails, instead of hanging the suite.
    pub async fn wait_exit(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id();
        let waited = tokio::task::spawn_blocking(move || child.wait());
        match tokio::time::timeout(EXIT_DEADLINE, waited).await {
            Ok(status) => status
                .expect("the wait runs")
                .expect("polygate's exit status is read"),
            Err(_) => {
                // The blocking wait reaps the process once it is killed.
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                panic!(
                    "polygate (pid {pid}) was still running {EXIT_DEADLINE:?} after SIGTERM; killed it"
                );
            }
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// A line of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, key: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| {
                line.strip_prefix(key)?
                    .trim_start_matches(':')
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the process to exit cleanly, within [`EXIT_DEADLINE`].
    pub async fn terminate(self) {
        self.signal_terminate();
        let status = self.wait_exit().await;
        assert!(
            status.success(),
            "polygate exits cleanly on SIGTERM: {status}"
        );
    }

    /// Sends SIGKILL.
    pub async fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
