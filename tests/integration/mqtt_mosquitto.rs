//! The MQTT frontend against a real Mosquitto (installed by .ci/run, started by each test on
//! a free loopback port): the bridge over MQTT 3.1.1 and 5, no loss while the backend is
//! down, none across SIGTERM and SIGKILL of the real binary, SIGTERM with a message in work
//! and a backlog at the broker, and two instances splitting a shared subscription. Duplicates
//! are counted apart from loss.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Semaphore;

use crate::support::mqtt::{
    eventually, external_config, publish_sequence, tally, Device, GatewayProcess, Mosquitto,
    MqttGateway, SequenceBackend,
};
use crate::support::{scratch_dir, test_backend, to_json, GrpcServer, Reply};

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

/// A backend whose `Echo` records every call's `int32Value` and holds the first call with
/// value 1 until `gate` gets a permit (a redelivery of it passes, to be counted).
async fn held_sequence_backend() -> (GrpcServer, Arc<Mutex<Vec<i64>>>, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(0));
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let first = Arc::new(AtomicBool::new(true));
    let (held, record) = (gate.clone(), seen.clone());
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Echo", move |call| {
            let (held, record, first) = (held.clone(), record.clone(), first.clone());
            async move {
                let seq = call
                    .message()
                    .get_field_by_name("int32_value")
                    .and_then(|v| v.as_i32())
                    .unwrap_or(-1);
                if seq == 1 && first.swap(false, Ordering::SeqCst) {
                    if let Ok(permit) = held.acquire().await {
                        permit.forget();
                    }
                }
                record.lock().unwrap().push(i64::from(seq));
                Ok(Reply::one(call.message().clone()))
            }
        })
        .start()
        .await;
    (backend, seen, gate)
}

#[tokio::test]
async fn polygate_exits_in_time_on_sigterm_with_one_message_in_flight_and_a_backlog() {
    const BACKLOG: i64 = 200;
    const DRAIN: Duration = Duration::from_secs(10);
    let mosquitto = Mosquitto::start().await;
    let (backend, seen, gate) = held_sequence_backend().await;
    let dir = scratch_dir();
    std::fs::write(dir.join("seq.yaml"), SEQUENCE).unwrap();
    // One message in work at a time: while the first is held, the backlog waits.
    let config = external_config(
        &backend.url(),
        &format!("mqtt://{}", mosquitto.addr),
        "pg-drain",
        "mappings: [seq.yaml]\n",
    )
    .replace(
        "  client_id: pg-drain\n",
        &format!(
            "  client_id: pg-drain\n  max_in_flight: 1\n  drain_timeout: {}s\n",
            DRAIN.as_secs()
        ),
    );
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config).unwrap();

    let mut gateway = GatewayProcess::start(&path);
    gateway.wait_ready().await;
    let device = Device::v5(mosquitto.addr, "drain-device").await;
    publish_sequence(&device, "seq/d-1", 1..=1).await;
    eventually(
        || backend.calls().len() == 1,
        "the first message reaches the backend",
    )
    .await;
    publish_sequence(&device, "seq/d-1", 2..=BACKLOG + 1).await;
    device
        .wait_acked(usize::try_from(BACKLOG + 1).unwrap())
        .await;

    let signalled = Instant::now();
    gateway.signal_terminate();
    gateway.wait_draining().await;
    gate.add_permits(1);
    let status = gateway.wait_exit().await;
    let took = signalled.elapsed();
    assert!(
        status.success(),
        "polygate exits cleanly on SIGTERM: {status}"
    );
    assert!(
        took < DRAIN,
        "polygate exits within its drain timeout ({DRAIN:?}), the message in work having finished: it took {took:?}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![1],
        "only the message in work was worked on while draining"
    );

    // The next start with the same client id gets the whole backlog. The message that finished
    // during the drain may come again first: its acknowledgement goes out only if the bridge's
    // connection still polls, and it waits for room while the broker's backlog fills it.
    let mut gateway = GatewayProcess::start(&path);
    gateway.wait_ready().await;
    eventually(
        || seen.lock().unwrap().last() == Some(&(BACKLOG + 1)),
        "the backlog arrives after the restart",
    )
    .await;
    gateway.terminate().await;
    let seen = seen.lock().unwrap().clone();
    let again = usize::from(seen.get(1) == Some(&1));
    assert_eq!(
        seen[1 + again..],
        (2..=BACKLOG + 1).collect::<Vec<i64>>()[..],
        "after the message in work (and its redelivery, if any), the backlog in order, each once"
    );
    device.disconnect().await;
    backend.stop().await;
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

/// Mosquitto ties the second level of `devices/…` to the publisher's client id; polygate logs
/// in as `polygate` and a watcher may read everything.
const ACL: &str = "pattern write devices/%c/#\n\nuser polygate\ntopic readwrite #\n\nuser watcher\ntopic read #\n";

const PUBLISHERS: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: devices/{name}/telemetry\n      error_topic: errors/{name}\n      publishers: {client_id_from: name, allow: [dev-1, sensor-*]}\n";

#[tokio::test]
async fn a_route_takes_only_the_publishers_it_allows_by_the_client_id_the_broker_ties_to_the_topic()
{
    let mosquitto = Mosquitto::start_with(&[("acl", ACL)]).await;
    let backend = test_backend().start().await;
    let url = backend.url();
    let broker = format!(
        "mqtt://{}\n    username: polygate\n    password: unused",
        mosquitto.addr
    );
    let gateway = MqttGateway::start(
        |_| {
            external_config(
                &url,
                &broker,
                "pg-publishers",
                "mappings: [publishers.yaml]\n",
            )
        },
        &[("publishers.yaml", PUBLISHERS)],
    )
    .await;
    let mut watcher = Device::v5_with(mosquitto.addr, "watcher", Some(("watcher", "unused"))).await;
    watcher.subscribe("errors/#", 1).await;
    watcher.subscribe("devices/#", 1).await;

    // An allowed device reaches the backend.
    let allowed = Device::v5(mosquitto.addr, "sensor-7").await;
    allowed
        .publish("devices/sensor-7/telemetry", r#"{"int32Value": 1}"#, 1)
        .await;
    assert_eq!(watcher.next().await.topic, "devices/sensor-7/telemetry");
    eventually(|| backend.calls().len() == 1, "the allowed message arrives").await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "sensor-7", "int32Value": 1})
    );

    // A device the route does not list: its message lands on the error topic with code 7.
    let other = Device::v5(mosquitto.addr, "dev-2").await;
    other
        .publish("devices/dev-2/telemetry", r#"{"int32Value": 2}"#, 1)
        .await;
    assert_eq!(watcher.next().await.topic, "devices/dev-2/telemetry");
    let error = watcher.next_on("errors/dev-2").await;
    assert_eq!(
        error.json(),
        json!({"code": 7, "message": "the publisher 'dev-2' may not publish to this route", "details": []})
    );

    // A device publishing under another's id is refused by Mosquitto itself: only its own
    // topic's message, sent after, is delivered.
    other
        .publish("devices/dev-1/telemetry", r#"{"int32Value": 3}"#, 1)
        .await;
    other
        .publish("devices/dev-2/telemetry", r#"{"int32Value": 4}"#, 1)
        .await;
    assert_eq!(watcher.next().await.topic, "devices/dev-2/telemetry");
    let error = watcher.next_on("errors/dev-2").await;
    assert_eq!(error.json()["code"], 7);
    assert_eq!(backend.calls().len(), 1, "nothing but sensor-7's message");

    // dev-1 itself, listed, gets through.
    let listed = Device::v5(mosquitto.addr, "dev-1").await;
    listed
        .publish("devices/dev-1/telemetry", r#"{"int32Value": 5}"#, 1)
        .await;
    eventually(|| backend.calls().len() == 2, "dev-1's message arrives").await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "dev-1", "int32Value": 5})
    );

    allowed.disconnect().await;
    other.disconnect().await;
    listed.disconnect().await;
    watcher.disconnect().await;
    gateway.stop().await;
}
