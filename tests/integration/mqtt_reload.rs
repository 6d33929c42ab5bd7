//! Hot reload of topic routes (issue 14): the real binary, started with one topic route, is
//! given a config that drops it and adds another; the bridge subscribes the new filter and
//! unsubscribes the old one on its live connection, with the embedded broker and with a real
//! Mosquitto. A message the old subscription had already delivered gets the removed route's
//! error; one published to the removed topic after the reload never reaches polygate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Semaphore;

use crate::support::binary::Serving;
use crate::support::mqtt::{embedded_config, eventually, external_config, Device, Mosquitto};
use crate::support::{bounded, scratch_dir, test_backend, to_json, Client, GrpcServer, Reply};

/// The first configuration's route; its failures go to `errors/{name}`.
const OLD_ROUTE: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.EchoNested\n      topic: plant/{name}/old/{nested.label}\n      error_topic: errors/{name}\n";

/// The route the reload brings instead.
const NEW_ROUTE: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.EchoNested\n      topic: devices/{name}/telemetry/{nested.label}\n      qos: 1\n";

/// A REST and an admin listener, reloads on SIGHUP only, the routes of `mapping`; one
/// message worked on at a time, so a second one waits in polygate while the first is held.
fn sections(mapping: &str) -> String {
    format!("http:\n  listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nreload:\n  watch: false\nmappings: [{mapping}]\n")
}

fn one_at_a_time(config: String) -> String {
    config.replacen("\nbackends:", "\n  max_in_flight: 1\nbackends:", 1)
}

/// A test backend whose `EchoNested` holds the call with `int32Value` 1 until `gate` gets a
/// permit, and echoes every call.
async fn held_backend() -> (GrpcServer, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(0));
    let held = gate.clone();
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/EchoNested", move |call| {
            let held = held.clone();
            async move {
                let first = call
                    .message()
                    .get_field_by_name("int32_value")
                    .and_then(|v| v.as_i32())
                    == Some(1);
                if first {
                    if let Ok(permit) = held.acquire().await {
                        permit.forget();
                    }
                }
                Ok(Reply::one(call.message().clone()))
            }
        })
        .start()
        .await;
    (backend, gate)
}

/// Polls `/metrics` until it holds `line`; the whole page.
async fn until_metric(admin: &Client, line: &str) -> String {
    bounded(&format!("the metric {line}"), async {
        loop {
            let metrics = admin.get("/metrics").await.text();
            if metrics.lines().any(|l| l == line) {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

fn has(metrics: &str, line: &str) {
    assert!(
        metrics.lines().any(|l| l == line),
        "{line} missing:\n{metrics}"
    );
}

/// The story both brokers go through; `config` is the file polygate serves, rewritten to
/// `reloaded`. With `unmatched`, the broker says so when nobody subscribed to a topic
/// (Mosquitto's PUBACK reason 0x10; the embedded broker answers Success).
#[allow(clippy::too_many_arguments)]
async fn reload_moves_the_subscriptions(
    serving: &Serving,
    devices: SocketAddr,
    backend: &GrpcServer,
    gate: &Semaphore,
    config: &Path,
    reloaded: &str,
    unmatched: bool,
) {
    let admin = serving.admin.clone().expect("an admin listener");
    let mut device = Device::v5(devices, "reload-device").await;
    device.subscribe("errors/+", 1).await;

    // The old route serves; its first message is held at the backend, the second waits in
    // polygate (one message at a time), delivered under the old subscription.
    device
        .publish("plant/d-1/old/boiler", r#"{"int32Value": 1}"#, 1)
        .await;
    eventually(
        || backend.calls().len() == 1,
        "the first message reaches the backend",
    )
    .await;
    device
        .publish("plant/d-2/old/boiler", r#"{"int32Value": 2}"#, 1)
        .await;
    device.wait_acked(2).await;

    std::fs::write(config, reloaded).expect("the config is rewritten");
    serving.hangup();
    until_metric(
        &admin,
        "polygate_config_reloads_total{result=\"success\"} 1",
    )
    .await;
    // The new filter is subscribed before the old one goes: once the UNSUBACK is counted,
    // both answers are in.
    let metrics = until_metric(&admin, "polygate_mqtt_unsubscribes_total 1").await;
    has(
        &metrics,
        "polygate_mqtt_subscribes_total{result=\"granted\"} 2",
    );
    has(
        &metrics,
        "polygate_mqtt_subscribes_total{result=\"refused\"} 0",
    );
    has(&metrics, "polygate_mqtt_subscriptions 1");
    let ready = admin.get("/readyz").await;
    assert_eq!(
        ready.status,
        200,
        "ready after the reload: {}",
        ready.text()
    );

    // The held message ends on the table it started with; the one waiting behind it finds
    // its route removed: the removed route's error topic gets NOT_FOUND, nothing is called.
    gate.add_permits(1);
    let error = device.next_on("errors/d-2").await;
    assert_eq!(
        error.json(),
        json!({"code": 5, "message": "no route for topic plant/d-2/old/boiler: a configuration reload removed it", "details": []})
    );
    assert_eq!(backend.calls().len(), 1);

    // After the UNSUBACK the broker delivers nothing more on the old filter. A message to
    // the removed topic, then one to the new topic: the bridge counts messages in the order
    // they arrive, and a broker delivers one publisher's messages to a subscriber in the
    // order it took them, so had the first reached polygate it would be counted before the
    // second reached the backend.
    device
        .publish("plant/d-3/old/boiler", r#"{"int32Value": 3}"#, 1)
        .await;
    device.wait_acked(3).await;
    if unmatched {
        assert_eq!(
            device.acked_unmatched(),
            1,
            "the broker had no subscriber for the removed topic"
        );
    }
    device
        .publish("devices/d-9/telemetry/boiler", r#"{"int32Value": 4}"#, 1)
        .await;
    device.wait_acked(4).await;
    eventually(
        || backend.calls().len() == 2,
        "the new route's message reaches the backend",
    )
    .await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "d-9", "int32Value": 4, "nested": {"label": "boiler"}})
    );
    let metrics = until_metric(&admin, "polygate_mqtt_acks_total 3").await;
    has(&metrics, "polygate_mqtt_messages_total{direction=\"in\"} 3");
    has(
        &metrics,
        "polygate_requests_total{frontend=\"mqtt\",method=\"PUBLISH\",route=\"devices/{name}/telemetry/{nested.label}\",backend=\"test\",code=\"OK\"} 1",
    );
    device.disconnect().await;
}

#[tokio::test]
async fn a_reload_subscribes_the_new_topic_route_and_unsubscribes_the_removed_one_on_the_embedded_broker(
) {
    let (backend, gate) = held_backend().await;
    let dir = scratch_dir();
    std::fs::write(dir.join("old.yaml"), OLD_ROUTE).unwrap();
    std::fs::write(dir.join("new.yaml"), NEW_ROUTE).unwrap();
    let url = backend.url();
    let config = |mapping| one_at_a_time(embedded_config(&url, &dir, &sections(mapping)));
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config("old.yaml")).unwrap();
    let serving = Serving::config_mqtt(&path).await;
    let broker = serving.mqtt.expect("the embedded broker's address");

    reload_moves_the_subscriptions(
        &serving,
        broker,
        &backend,
        &gate,
        &path,
        &config("new.yaml"),
        false,
    )
    .await;

    serving.terminate();
    assert_eq!(bounded("the exit", serving.exited()).await, Some(0));
    backend.stop().await;
}

#[tokio::test]
async fn a_reload_subscribes_the_new_topic_route_and_unsubscribes_the_removed_one_on_mosquitto() {
    let mosquitto = Mosquitto::start().await;
    let (backend, gate) = held_backend().await;
    let dir = scratch_dir();
    std::fs::write(dir.join("old.yaml"), OLD_ROUTE).unwrap();
    std::fs::write(dir.join("new.yaml"), NEW_ROUTE).unwrap();
    let url = backend.url();
    let broker = format!("mqtt://{}", mosquitto.addr);
    let config = |mapping| {
        one_at_a_time(external_config(
            &url,
            &broker,
            "pg-reload",
            &sections(mapping),
        ))
    };
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config("old.yaml")).unwrap();
    let serving = Serving::config_mqtt(&path).await;

    reload_moves_the_subscriptions(
        &serving,
        mosquitto.addr,
        &backend,
        &gate,
        &path,
        &config("new.yaml"),
        true,
    )
    .await;

    serving.terminate();
    assert_eq!(bounded("the exit", serving.exited()).await, Some(0));
    backend.stop().await;
}

/// A downlink: `List`'s stream goes to the devices' command topics.
const DOWNLINK: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.List\n      topic: downlinks/commands\n      stream_to: devices/{name}/commands\n";

#[tokio::test]
async fn a_reload_opens_an_added_downlink_and_closes_a_removed_one_leaving_subscriptions_alone() {
    use futures_util::StreamExt;
    // `List` streams what the test sends, in one call that stays open.
    let (held, receiver) = tokio::sync::mpsc::channel(16);
    let receiver = std::sync::Mutex::new(Some(receiver));
    let backend = test_backend()
        .handle_live("polygate.test.v1.Testing/List", move |_call| {
            let receiver = receiver.lock().unwrap().take().expect("one List call");
            futures_util::stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|item| (item, receiver))
            })
            .boxed()
        })
        .start()
        .await;
    let dir = scratch_dir();
    std::fs::write(dir.join("old.yaml"), OLD_ROUTE).unwrap();
    std::fs::write(dir.join("downlink.yaml"), DOWNLINK).unwrap();
    let url = backend.url();
    let config = |mappings| embedded_config(&url, &dir, &sections(mappings));
    let path = dir.join("polygate.yaml");
    std::fs::write(&path, config("old.yaml")).unwrap();
    let serving = Serving::config_mqtt(&path).await;
    let admin = serving.admin.clone().expect("an admin listener");
    let mut device = Device::v5(serving.mqtt.expect("the broker"), "fleet").await;
    device.subscribe("devices/+/commands", 1).await;

    std::fs::write(&path, config("old.yaml, downlink.yaml")).unwrap();
    serving.hangup();
    until_metric(
        &admin,
        "polygate_config_reloads_total{result=\"success\"} 1",
    )
    .await;
    held.send(Ok(crate::support::message(
        "polygate.test.v1.Everything",
        json!({"name": "d-1", "int32Value": 7}),
    )))
    .await
    .unwrap();
    let command = device.next_on("devices/d-1/commands").await;
    assert_eq!(command.json(), json!({"name": "d-1", "int32Value": 7}));

    std::fs::write(&path, config("old.yaml")).unwrap();
    serving.hangup();
    until_metric(
        &admin,
        "polygate_config_reloads_total{result=\"success\"} 2",
    )
    .await;
    // The backend sees the call cancelled once the gRPC backend's stall watcher next looks
    // (every quarter of `stalled_reader_timeout`, 30 s by default): up to 7.5 s.
    bounded("the removed downlink's stream is closed", held.closed()).await;

    // The topic route was the same in every table: subscribed once, never again.
    let metrics = admin.get("/metrics").await.text();
    has(
        &metrics,
        "polygate_mqtt_subscribes_total{result=\"granted\"} 1",
    );
    has(&metrics, "polygate_mqtt_unsubscribes_total 0");
    has(&metrics, "polygate_mqtt_subscriptions 1");
    assert_eq!(admin.get("/readyz").await.status, 200);

    device.disconnect().await;
    serving.terminate();
    assert_eq!(bounded("the exit", serving.exited()).await, Some(0));
    backend.stop().await;
}
