//! Delivery under stress: a graceful restart of polygate with its embedded broker loses
//! nothing (the broker keeps the bridge's session and queued messages in its storage), and a
//! flood of large messages against a slow backend keeps concurrent calls and the gateway's
//! memory within their configured bounds.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::support::mqtt::{
    embedded_config, eventually, external_config, publish_sequence, tally, Device, GatewayProcess,
    Mosquitto, MqttGateway, SequenceBackend,
};
use crate::support::scratch_dir;

const SEQUENCE: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: seq/{name}\n      retry: {max_attempts: 0, initial_backoff: 20ms, max_backoff: 200ms}\n";

#[tokio::test]
async fn a_graceful_restart_with_the_embedded_broker_loses_nothing() {
    let backend = SequenceBackend::start_slow(
        "127.0.0.1:0",
        Arc::default(),
        Duration::from_millis(2),
        Arc::default(),
    )
    .await;
    let dir = scratch_dir();
    let config = embedded_config(
        &backend.url(),
        &dir,
        "mappings: [seq.yaml]\nmqtt_placeholder: 0\n",
    )
    .replace("mqtt_placeholder: 0\n", "")
    .replace(
        "    allow_anonymous: true\n",
        "    allow_anonymous: true\n  max_in_flight: 4\n",
    );
    let gateway = MqttGateway::start_in(dir.clone(), &config, &[("seq.yaml", SEQUENCE)]).await;
    let device = Device::v5(gateway.broker(), "streamer").await;
    publish_sequence(&device, "seq/s-1", 1..=500).await;
    device.wait_acked(500).await;
    eventually(|| backend.distinct() >= 100, "part of the stream arrives").await;
    device.disconnect().await;
    let dir = gateway.stop().await;
    let arrived_before = backend.distinct();
    assert!(
        arrived_before < 500,
        "messages were still queued at the stop: {arrived_before}"
    );

    let gateway = MqttGateway::start_in(dir, &config, &[]).await;
    let device = Device::v5(gateway.broker(), "streamer").await;
    publish_sequence(&device, "seq/s-1", 501..=1000).await;
    device.wait_acked(500).await;
    eventually(
        || backend.distinct() == 1000,
        "every number arrives after the restart",
    )
    .await;
    let (missing, duplicates) = tally(&backend.seen(), 1000);
    assert_eq!(missing, Vec::<i64>::new());
    eprintln!("duplicates across the graceful restart: {duplicates}");
    device.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

#[tokio::test]
async fn a_flood_against_a_slow_backend_stays_within_the_in_flight_and_memory_bounds() {
    let mosquitto = Mosquitto::start().await;
    let load: Arc<(
        std::sync::atomic::AtomicUsize,
        std::sync::atomic::AtomicUsize,
    )> = Arc::default();
    let backend = SequenceBackend::start_slow(
        "127.0.0.1:0",
        Arc::default(),
        Duration::from_millis(1),
        load.clone(),
    )
    .await;
    let dir = scratch_dir();
    std::fs::write(dir.join("seq.yaml"), SEQUENCE).unwrap();
    let config = external_config(
        &backend.url(),
        &format!("mqtt://{}", mosquitto.addr),
        "pg-flood",
        "mappings: [seq.yaml]\n",
    )
    .replace(
        "  client_id: pg-flood\n",
        "  client_id: pg-flood\n  max_in_flight: 16\n  receive_maximum: 16\n",
    );
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config).unwrap();
    let mut gateway = GatewayProcess::start(&path);
    gateway.wait_ready().await;
    let baseline = gateway.memory_kib("VmRSS");

    let device = Device::v5(mosquitto.addr, "flood").await;
    let filler = "x".repeat(4096);
    for n in 1..=10_000 {
        device
            .publish(
                "seq/f-1",
                format!("{{\"int32Value\": {n}, \"name\": \"{filler}\"}}"),
                1,
            )
            .await;
    }
    device.wait_acked(10_000).await;
    eventually(|| backend.distinct() == 10_000, "every message arrives").await;
    let peak = gateway.memory_kib("VmHWM");
    let (missing, _) = tally(&backend.seen(), 10_000);
    assert_eq!(missing, Vec::<i64>::new());
    assert_eq!(
        load.1.load(Ordering::SeqCst),
        16,
        "at most max_in_flight calls at once, and the bound was reached"
    );
    // 10,000 × 4 KiB is 40 MiB of payload; the gateway holds at most its in-flight messages
    // and a bounded overflow, so its peak stays far below that.
    assert!(
        peak.saturating_sub(baseline) < 16 * 1024,
        "peak RSS {peak} KiB vs {baseline} KiB after start"
    );
    eprintln!("flood: RSS after start {baseline} KiB, peak {peak} KiB");
    gateway.terminate().await;
    device.disconnect().await;
    backend.stop().await;
}
