//! The MQTT frontend against a real Mosquitto (installed by .ci/run, started by each test on
//! a free loopback port): the bridge over MQTT 3.1.1 and 5, no loss while the backend is
//! down, none across SIGTERM and SIGKILL of the real binary, and two instances splitting a
//! shared subscription. Duplicates are counted apart from loss.

use serde_json::json;

use crate::support::mqtt::{
    eventually, external_config, publish_sequence, tally, Device, GatewayProcess, Mosquitto,
    MqttGateway, SequenceBackend,
};
use crate::support::{scratch_dir, test_backend, to_json};

const TELEMETRY: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.EchoNested\n      topic: devices/{name}/telemetry/{nested.label}\n";

/// The no-loss route: unlimited retries with a short backoff, so nothing is dead-lettered.
const SEQUENCE: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: seq/{name}\n      retry: {max_attempts: 0, initial_backoff: 20ms, max_backoff: 200ms}\n";

#[tokio::test]
async fn a_3_1_1_bridge_and_a_5_bridge_both_deliver_through_mosquitto() {
    let mosquitto = Mosquitto::start().await;
    let backend = test_backend().start().await;
    for (protocol, client_id) in [("\"3.1.1\"", "pg-311"), ("5", "pg-5")] {
        let broker = format!("mqtt://{}\n    protocol: {protocol}", mosquitto.addr);
        let url = backend.url();
        let gateway = MqttGateway::start(
            |_| external_config(&url, &broker, client_id, "mappings: [telemetry.yaml]\n"),
            &[("telemetry.yaml", TELEMETRY)],
        )
        .await;
        let before = backend.calls().len();
        let device = Device::v5(mosquitto.addr, &format!("dev-{client_id}")).await;
        device
            .publish("devices/d-1/telemetry/tank", r#"{"int32Value": 4}"#, 1)
            .await;
        eventually(
            || backend.calls().len() == before + 1,
            "the message arrives",
        )
        .await;
        assert_eq!(
            to_json(backend.last_call().message()),
            json!({"name": "d-1", "int32Value": 4, "nested": {"label": "tank"}})
        );
        device.disconnect().await;
        gateway.stop().await;
    }
    backend.stop().await;
}

#[tokio::test]
async fn messages_published_while_the_backend_is_down_all_arrive_once_it_is_back() {
    let mosquitto = Mosquitto::start().await;
    // Reserve the backend's address, then leave it down.
    let backend = SequenceBackend::start().await;
    let url = backend.url();
    let (addr, seen) = backend.stop().await;
    let broker = format!("mqtt://{}", mosquitto.addr);
    let gateway = MqttGateway::start(
        |_| external_config(&url, &broker, "pg-down", "mappings: [seq.yaml]\n"),
        &[("seq.yaml", SEQUENCE)],
    )
    .await;
    let device = Device::v5(mosquitto.addr, "counter").await;
    publish_sequence(&device, "seq/c-1", 1..=1000).await;
    device.wait_acked(1000).await;
    assert!(seen.lock().unwrap().is_empty());

    let backend = SequenceBackend::start_on(&addr.to_string(), seen).await;
    eventually(|| backend.distinct() == 1000, "every number arrives").await;
    let (missing, duplicates) = tally(&backend.seen(), 1000);
    assert_eq!(missing, Vec::<i64>::new());
    assert!(
        duplicates <= 1000,
        "duplicates are counted, not lost: {duplicates}"
    );

    device.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

/// Stops the real binary mid-stream with `signal` and restarts it: none of 1,000 missing.
async fn survives_a_stop(kill: bool) {
    let mosquitto = Mosquitto::start().await;
    let backend = SequenceBackend::start().await;
    let dir = scratch_dir();
    std::fs::write(dir.join("seq.yaml"), SEQUENCE).unwrap();
    let config = external_config(
        &backend.url(),
        &format!("mqtt://{}", mosquitto.addr),
        "pg-restart",
        "mappings: [seq.yaml]\n",
    );
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config).unwrap();

    let mut gateway = GatewayProcess::start(&path);
    gateway.wait_ready().await;
    let device = Device::v5(mosquitto.addr, "streamer").await;
    publish_sequence(&device, "seq/s-1", 1..=500).await;
    eventually(|| backend.distinct() >= 200, "part of the stream arrives").await;
    if kill {
        gateway.kill().await;
    } else {
        gateway.terminate().await;
    }
    publish_sequence(&device, "seq/s-1", 501..=1000).await;
    device.wait_acked(1000).await;

    let mut gateway = GatewayProcess::start(&path);
    gateway.wait_ready().await;
    eventually(
        || backend.distinct() == 1000,
        "every number arrives after the restart",
    )
    .await;
    let (missing, duplicates) = tally(&backend.seen(), 1000);
    assert_eq!(missing, Vec::<i64>::new());
    eprintln!(
        "duplicates after {}: {duplicates}",
        if kill { "SIGKILL" } else { "SIGTERM" }
    );
    gateway.terminate().await;
    device.disconnect().await;
    backend.stop().await;
}

#[tokio::test]
async fn nothing_is_lost_when_polygate_is_terminated_mid_stream() {
    survives_a_stop(false).await;
}

#[tokio::test]
async fn nothing_is_lost_when_polygate_is_killed_mid_stream() {
    survives_a_stop(true).await;
}

#[tokio::test]
async fn two_instances_on_a_shared_subscription_split_the_stream_and_lose_nothing() {
    let mosquitto = Mosquitto::start().await;
    let backend = SequenceBackend::start().await;
    let shared = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: seq/{name}\n      shared_group: workers\n      retry: {max_attempts: 0, initial_backoff: 20ms, max_backoff: 200ms}\n";
    let broker = format!("mqtt://{}", mosquitto.addr);
    let url = backend.url();
    let mut instances = Vec::new();
    for id in ["pg-a", "pg-b"] {
        instances.push(
            MqttGateway::start(
                |_| {
                    external_config(
                        &url,
                        &broker,
                        id,
                        "mappings: [shared.yaml]\nroutes:\n  metadata: {x-instance: INSTANCE}\n"
                            .replace("INSTANCE", id)
                            .as_str(),
                    )
                },
                &[("shared.yaml", shared)],
            )
            .await,
        );
    }
    let device = Device::v5(mosquitto.addr, "producer").await;
    publish_sequence(&device, "seq/p-1", 1..=1000).await;
    eventually(|| backend.distinct() == 1000, "every number arrives").await;
    let (missing, duplicates) = tally(&backend.seen(), 1000);
    assert_eq!(missing, Vec::<i64>::new());
    assert_eq!(
        duplicates, 0,
        "a shared subscription delivers each message once"
    );
    let by_instance = |id: &str| {
        backend
            .server
            .calls()
            .iter()
            .filter(|c| c.metadata.get("x-instance").is_some_and(|v| v == id))
            .count()
    };
    let (a, b) = (by_instance("pg-a"), by_instance("pg-b"));
    assert_eq!(a + b, 1000);
    assert!(a > 0 && b > 0, "both instances take a share: {a} and {b}");
    device.disconnect().await;
    for instance in instances {
        instance.stop().await;
    }
    backend.stop().await;
}
