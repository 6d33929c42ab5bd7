//! The MQTT frontend with its embedded broker: devices (MQTT 5 and 3.1.1) publish telemetry
//! that reaches a gRPC backend with the topic's variables bound.

use rumqttc::v5::mqttbytes::v5::PublishProperties;
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
    eventually(
        || backend.calls().len() == 1,
        "the backend gets the MQTT 5 message",
    )
    .await;
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
    eventually(
        || backend.calls().len() == 2,
        "the backend gets the 3.1.1 message",
    )
    .await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "d-8", "int32Value": 3, "nested": {"label": "pump"}})
    );

    v5.disconnect().await;
    v311.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

const RPC: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.EchoNested\n      topic: rpc/{name}/requests/{id}\n      reply_topic: rpc/{name}/replies/{id}\n";

#[tokio::test]
async fn mqtt_5_request_response_keeps_the_correlation_bytes_and_templates_serve_3_1_1() {
    let backend = test_backend().start().await;
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [rpc.yaml]\n"),
        &[("rpc.yaml", RPC)],
    )
    .await;

    let mut v5 = Device::v5(gateway.broker(), "requester").await;
    v5.subscribe("inbox/requester", 1).await;
    let correlation = bytes::Bytes::from_static(b"\x00\x01\xfe\xffcorr");
    v5.publish_with(
        "rpc/d-1/requests/7",
        r#"{"int32Value": 5}"#,
        1,
        PublishProperties {
            response_topic: Some("inbox/requester".into()),
            correlation_data: Some(correlation.clone()),
            ..Default::default()
        },
    )
    .await;
    let reply = v5.next().await;
    assert_eq!(reply.topic, "inbox/requester");
    assert_eq!(
        reply.json(),
        json!({"name": "d-1", "id": "7", "int32Value": 5})
    );
    let properties = reply.properties.expect("MQTT 5 properties");
    assert_eq!(properties.correlation_data, Some(correlation));
    assert_eq!(properties.content_type.as_deref(), Some("application/json"));

    let mut v311 = Device::v311(gateway.broker(), "old-device").await;
    v311.subscribe("rpc/d-2/replies/+", 1).await;
    v311.publish("rpc/d-2/requests/42", r#"{"int32Value": 6}"#, 1)
        .await;
    let reply = v311.next().await;
    assert_eq!(reply.topic, "rpc/d-2/replies/42");
    assert_eq!(
        reply.json(),
        json!({"name": "d-2", "id": "42", "int32Value": 6})
    );

    v5.disconnect().await;
    v311.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

const SENSORS: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: sensors/{name}/data\n      error_topic: sensors/{name}/errors\n      json: {unknown_fields: reject}\n";

#[tokio::test]
async fn malformed_and_mistyped_payloads_get_code_3_on_the_error_topic_and_the_next_gets_through() {
    let backend = test_backend().start().await;
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [sensors.yaml]\n"),
        &[("sensors.yaml", SENSORS)],
    )
    .await;
    let mut device = Device::v5(gateway.broker(), "sensor").await;
    device.subscribe("sensors/s-1/errors", 1).await;

    device.publish("sensors/s-1/data", "{not json", 1).await;
    let error = device.next().await;
    assert_eq!(error.json()["code"], 3);
    assert_eq!(
        error.json()["message"],
        "invalid JSON body: invalid JSON: key must be a string at line 1 column 2"
    );
    let properties = error.properties.expect("properties");
    // The embedded broker appends x-mqtt-sender and x-mqtt-client-id to what it forwards.
    assert_eq!(
        properties.user_properties[..2],
        [
            ("grpc-status".to_owned(), "3".to_owned()),
            ("reason-code".to_owned(), "0x99".to_owned())
        ]
    );

    device
        .publish("sensors/s-1/data", r#"{"int32Value": "many"}"#, 1)
        .await;
    let error = device.next().await;
    assert_eq!(error.json()["code"], 3);
    assert_eq!(
        error.json()["message"],
        "invalid JSON body: invalid value for field 'int32Value': the string \"many\" is not a valid int32"
    );

    device
        .publish("sensors/s-1/data", r#"{"extra": 1}"#, 1)
        .await;
    let error = device.next().await;
    assert_eq!(error.json()["code"], 3, "{:?}", error.json());

    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(300 << 10));
    device.publish("sensors/s-1/data", big, 1).await;
    let error = device.next().await;
    assert_eq!(
        error.json(),
        json!({"code": 3, "message": format!("the payload of {} bytes exceeds the limit of 262144 bytes", (300 << 10) + 11), "details": []})
    );

    device
        .publish("sensors/s-1/data", r#"{"int32Value": 9}"#, 1)
        .await;
    eventually(
        || backend.calls().len() == 1,
        "the good message reaches the backend",
    )
    .await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "s-1", "int32Value": 9})
    );

    device.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

const JOBS: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Fail\n      topic: jobs/{name}\n      retry: {max_attempts: 3, initial_backoff: 10ms, max_backoff: 20ms}\n      dead_letter_topic: dead/{name}\n      error_topic: failed/{name}\n";

#[tokio::test]
async fn retryable_errors_are_retried_then_dead_lettered_and_others_go_to_the_error_topic_at_once()
{
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Fail", |call| async move {
            let code = call
                .message()
                .get_field_by_name("int32_value")
                .map_or(0, |v| v.as_i32().unwrap_or(0));
            Err(tonic::Status::new(
                tonic::Code::from(code),
                "backend says no",
            ))
        })
        .start()
        .await;
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [jobs.yaml]\n"),
        &[("jobs.yaml", JOBS)],
    )
    .await;
    let mut device = Device::v5(gateway.broker(), "worker").await;
    device.subscribe("dead/+", 1).await;
    device.subscribe("failed/+", 1).await;

    device.publish("jobs/j-1", r#"{"int32Value": 14}"#, 1).await;
    let letter = device.next().await;
    assert_eq!(letter.topic, "dead/j-1");
    let mut envelope = letter.json();
    assert_eq!(
        envelope["clientId"], "worker",
        "the embedded broker names the device"
    );
    envelope["clientId"] = serde_json::Value::Null;
    assert_eq!(
        envelope,
        json!({
            "route": "PUBLISH jobs/{name}",
            "topic": "jobs/j-1",
            "clientId": null,
            "gateway": "polygate",
            "payload": "eyJpbnQzMlZhbHVlIjogMTR9",
            "status": {"code": 14, "message": "backend says no", "details": []},
            "attempts": 3
        })
    );
    assert_eq!(backend.calls().len(), 3);

    device.publish("jobs/j-2", r#"{"int32Value": 5}"#, 1).await;
    let error = device.next().await;
    assert_eq!(error.topic, "failed/j-2");
    assert_eq!(
        error.json(),
        json!({"code": 5, "message": "backend says no", "details": []})
    );
    assert_eq!(
        backend.calls().len(),
        4,
        "a non-retryable error is not retried"
    );

    device.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

const ONCE: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: meters/{name}/reading\n      qos: 2\n";

#[tokio::test]
async fn qos_2_messages_reach_the_backend_exactly_once() {
    let backend = test_backend().start().await;
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [once.yaml]\n"),
        &[("once.yaml", ONCE)],
    )
    .await;
    let device = Device::v5(gateway.broker(), "meter").await;
    for seq in 0..50 {
        device
            .publish(
                "meters/m-1/reading",
                format!("{{\"int32Value\": {seq}}}"),
                2,
            )
            .await;
    }
    device.wait_acked(50).await;
    eventually(
        || backend.calls().len() >= 50,
        "every reading reaches the backend",
    )
    .await;
    let mut seen: Vec<i64> = backend
        .calls()
        .iter()
        .map(|call| to_json(call.message())["int32Value"].as_i64().unwrap_or(0))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..50).collect::<Vec<i64>>());

    device.disconnect().await;
    gateway.stop().await;
    assert_eq!(backend.calls().len(), 50, "no reading arrived twice");
    backend.stop().await;
}

const DOWNLINK: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.List\n      topic: downlinks/commands\n      stream_to: devices/{name}/commands\n";

#[tokio::test]
async fn a_streaming_method_publishes_each_message_to_its_device_topic() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            let commands = ["d-1", "d-2", "d-1"]
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    crate::support::message(
                        "polygate.test.v1.Everything",
                        json!({"name": name, "int32Value": i}),
                    )
                })
                .collect();
            Ok(crate::support::Reply::stream(commands, None))
        })
        .start()
        .await;
    let url = backend.url();
    let dir = crate::support::scratch_dir();
    // The device subscribes before the downlink opens: start the broker-only gateway first.
    let config = embedded_config(&url, &dir, "mappings: [downlink.yaml]\n");
    std::fs::write(dir.join("downlink.yaml"), DOWNLINK).unwrap();
    let gateway = MqttGateway::start_in(dir, &config, &[]).await;
    let mut device = Device::v5(gateway.broker(), "fleet").await;
    device.subscribe("devices/+/commands", 1).await;
    // The stream ends after three messages and is opened again: the first full round after
    // the subscription holds all three in order.
    let mut round = Vec::new();
    while round.len() < 3 {
        let message = device.next().await;
        let index = message.json()["int32Value"].as_i64().unwrap_or(0);
        if index == 0 {
            round.clear();
        }
        if index as usize == round.len() {
            round.push((message.topic.clone(), message.json()));
        }
    }
    assert_eq!(
        round,
        vec![
            ("devices/d-1/commands".to_owned(), json!({"name": "d-1"})),
            (
                "devices/d-2/commands".to_owned(),
                json!({"name": "d-2", "int32Value": 1})
            ),
            (
                "devices/d-1/commands".to_owned(),
                json!({"name": "d-1", "int32Value": 2})
            ),
        ]
    );
    device.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

#[tokio::test]
async fn a_rest_route_publishes_to_a_device_and_answers_once_the_broker_took_it() {
    let backend = test_backend().start().await;
    let url = backend.url();
    let closed = crate::support::mqtt::free_port();
    let routes = "routes:\n  - post: /v1/sites/{site}/devices/{device_id}/commands\n    backend: devices\n    publish: {topic: \"sites/{site}/devices/{device_id}/commands\"}\n  - post: /v1/offline/{device_id}\n    backend: nowhere\n    publish: {topic: \"offline/{device_id}\"}\n";
    let extra = format!(
        "  devices:\n    mqtt:\n      broker: {{url: embedded}}\n      qos: 1\n  nowhere:\n    mqtt:\n      broker: {{url: \"mqtt://127.0.0.1:{closed}\"}}\nhttp:\n  listen: 127.0.0.1:0\nmappings: [commands.yaml]\n"
    );
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, &extra),
        &[("commands.yaml", routes)],
    )
    .await;
    let mut device = Device::v5(gateway.broker(), "d-9").await;
    device.subscribe("sites/s-1/devices/d-9/commands", 1).await;
    let client = crate::support::Client::new(format!(
        "http://{}",
        gateway.running.local_addr("http").unwrap()
    ));
    let answer = client
        .json(
            "POST",
            "/v1/sites/s-1/devices/d-9/commands",
            json!({"action": "reboot"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.json(),
        json!({"topic": "sites/s-1/devices/d-9/commands", "qos": 1})
    );
    let command = device.next().await;
    assert_eq!(command.topic, "sites/s-1/devices/d-9/commands");
    assert_eq!(command.json(), json!({"action": "reboot"}));

    let unreachable = client.json("POST", "/v1/offline/d-9", json!({})).await;
    assert_eq!(unreachable.status, 503, "{}", unreachable.text());
    assert_eq!(unreachable.json()["code"], 14);

    device.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

const FORMATS: &str = "http:\n  rules:\n    - selector: polygate.test.v1.Testing.Echo\n      topic: bin/{name}\n      payload: protobuf\n    - selector: polygate.test.v1.Testing.EchoPath\n      topic: raw/{name}\n      body: bytes_value\n      payload: raw\n";

#[tokio::test]
async fn protobuf_payloads_and_raw_bytes_bind_with_the_topic_variables() {
    use prost::Message as _;
    let backend = test_backend().start().await;
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [formats.yaml]\n"),
        &[("formats.yaml", FORMATS)],
    )
    .await;
    let device = Device::v5(gateway.broker(), "binary").await;
    let encoded = crate::support::message(
        "polygate.test.v1.Everything",
        json!({"int32Value": 7, "name": "from-the-payload"}),
    )
    .encode_to_vec();
    device.publish("bin/b-1", encoded, 1).await;
    eventually(
        || backend.calls().len() == 1,
        "the protobuf message arrives",
    )
    .await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "b-1", "int32Value": 7})
    );

    device
        .publish("raw/r-1", bytes::Bytes::from_static(b"\x00\xffraw"), 1)
        .await;
    eventually(|| backend.calls().len() == 2, "the raw message arrives").await;
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "r-1", "bytesValue": "AP9yYXc="})
    );
    device.disconnect().await;
    gateway.stop().await;
    backend.stop().await;
}

#[tokio::test]
async fn a_topic_route_reaches_a_rest_backend_with_static_metadata() {
    use crate::support::http_server::{Answer, HttpServer, Recorded};
    let upstream =
        HttpServer::start(
            |_request: Recorded| async move { Answer::json(json!({"stored": true})) },
        )
        .await;
    let routes = "routes:\n  - topic: meters/{meter}/reading\n    backend: billing\n    body: \"*\"\n    rest: {method: PUT, path: \"/readings/{meter}\"}\n    metadata: {x-source: mqtt-bridge}\n";
    let extra = format!(
        "  billing:\n    rest:\n      url: {}/api\nmappings: [meters.yaml]\n",
        upstream.url()
    );
    let gateway = MqttGateway::start(
        |dir| embedded_config("http://127.0.0.1:1", dir, &extra),
        &[("meters.yaml", routes)],
    )
    .await;
    let device = Device::v5(gateway.broker(), "meter-7").await;
    device
        .publish("meters/m-7/reading", r#"{"kwh": 12.5}"#, 1)
        .await;
    eventually(
        || upstream.requests().len() == 1,
        "the REST backend gets the reading",
    )
    .await;
    let request = &upstream.requests()[0];
    assert_eq!(request.method, http::Method::PUT);
    assert_eq!(request.target, "/api/readings/m-7");
    assert_eq!(request.header("x-source"), Some("mqtt-bridge"));
    assert_eq!(request.header("mqtt-topic"), Some("meters/m-7/reading"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(request.text()).unwrap(),
        json!({"kwh": 12.5})
    );
    device.disconnect().await;
    gateway.stop().await;
}

/// Guards the vendored broker's buffers (vendor/mqtt5/POLYGATE.md): they start empty and grow,
/// and a read chunk lives for one poll only, so a packet far larger than any initial buffer
/// must still cross intact, in both directions, to every subscriber, and the next packet after
/// it too.
#[tokio::test]
async fn the_embedded_broker_carries_packets_larger_than_its_buffers_to_many_subscribers() {
    let backend = test_backend().start().await;
    let url = backend.url();
    let gateway = MqttGateway::start(
        |dir| embedded_config(&url, dir, "mappings: [telemetry.yaml]\n"),
        &[("telemetry.yaml", TELEMETRY)],
    )
    .await;
    let mut subscribers = Vec::new();
    for n in 0..4 {
        let mut subscriber = if n % 2 == 0 {
            Device::v5(gateway.broker(), &format!("reader-{n}")).await
        } else {
            Device::v311(gateway.broker(), &format!("reader-{n}")).await
        };
        subscriber.subscribe("bulk/#", 1).await;
        subscribers.push(subscriber);
    }
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let small = b"after".to_vec();

    let publisher = Device::v5(gateway.broker(), "writer").await;
    publisher.publish("bulk/large", large.clone(), 1).await;
    publisher.publish("bulk/small", small.clone(), 1).await;
    publisher.wait_acked(2).await;

    for subscriber in &mut subscribers {
        let first = subscriber.next().await;
        assert_eq!(first.topic, "bulk/large");
        assert_eq!(first.payload.len(), large.len());
        assert!(
            first.payload == large,
            "the large payload arrives byte for byte"
        );
        let second = subscriber.next().await;
        assert_eq!(second.topic, "bulk/small");
        assert_eq!(second.payload, small);
    }

    publisher.disconnect().await;
    for subscriber in subscribers {
        subscriber.disconnect().await;
    }
    gateway.stop().await;
    backend.stop().await;
}
