//! The MQTT frontend with its embedded broker: devices (MQTT 5 and 3.1.1) publish telemetry
//! that reaches a gRPC backend with the topic's variables bound.

use serde_json::json;

use crate::support::mqtt::{embedded_config, eventually, Device, MqttGateway};
use crate::support::{test_backend, to_json};

const TELEMETRY: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.EchoNested\n      topic: devices/{name}/telemetry/{nested.label}\n";

#[tokio::test]
async fn telemetry_from_mqtt_5_and_3_1_1_devices_reaches_the_backend_with_topic_variables() {
    let backend = test_backend().start().await;
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [telemetry.yaml]\n"),
        &[("telemetry.yaml", TELEMETRY)],
    )
    .await;

    let v5 = Device::v5(gateway.broker(), "device-5").await;
    v5.publish(
        "devices/d-7/telemetry/boiler",
        r#"{"int32Value": 21, "name": "from-the-payload"}"#,
        1,
    )
    .await;
    v5.wait_acked(1).await;
    eventually(|| backend.calls().len() == 1, "the backend gets the MQTT 5 message").await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "d-7", "int32Value": 21, "nested": {"label": "boiler"}})
    );
    let metadata = backend.last_call().metadata;
    assert_eq!(
        metadata.get("mqtt-topic").unwrap(),
        "devices/d-7/telemetry/boiler"
    );

    let v311 = Device::v311(gateway.broker(), "device-311").await;
    v311.publish("devices/d-8/telemetry/pump", r#"{"int32Value": 3}"#, 1)
        .await;
    v311.wait_acked(1).await;
    eventually(|| backend.calls().len() == 2, "the backend gets the 3.1.1 message").await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "d-8", "int32Value": 3, "nested": {"label": "pump"}})
    );

    v5.disconnect().await;
    v311.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}
