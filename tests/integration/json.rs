//! Item 4: the proto3 JSON mapping both ways, its options, response_body and HttpBody.

use serde_json::json;

use crate::support::{message, test_backend, to_json, Gateway, Reply};

#[tokio::test]
async fn int64_goes_out_as_a_string_and_comes_in_as_number_or_string() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"int64Value": 9007199254740993_i64, "uint64Value": "18446744073709551615", "nested": {"amount": "-7"}}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        r#"{"int64Value":"9007199254740993","uint64Value":"18446744073709551615","nested":{"amount":"-7"}}"#
    );
}

#[tokio::test]
async fn bytes_accept_both_base64_alphabets_and_go_out_standard() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"bytesValue": "-_-_aGk"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"bytesValue": "+/+/aGk="}));
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"bytesValue": "+/+/aGk="}))
        .await;
    assert_eq!(response.json(), json!({"bytesValue": "+/+/aGk="}));
}

#[tokio::test]
async fn well_known_types_use_their_json_forms() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let body = json!({
        "when": "2024-01-02T03:04:05.123+01:00",
        "ttl": "-1.500s",
        "mask": "fooBar,nested.label",
        "wrappedInt": "5",
        "wrappedBool": false,
        "attributes": {"k": [1, "two", null, {"x": true}]},
        "labels": {"a": "1"},
        "color": 2,
        "items": [{"label": "i1"}, {"deeper": {"value": "v"}}]
    });
    let response = gateway.client.json("POST", "/v1/echo", body).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let expected = json!({
        "when": "2024-01-02T02:04:05.123Z",
        "ttl": "-1.500s",
        "mask": "fooBar,nested.label",
        "wrappedInt": 5,
        "wrappedBool": false,
        "attributes": {"k": [1.0, "two", null, {"x": true}]},
        "labels": {"a": "1"},
        "color": "GREEN",
        "items": [{"label": "i1"}, {"deeper": {"value": "v"}}]
    });
    assert_eq!(response.json(), expected);
    assert_eq!(to_json(backend.last_call().message()), expected);
}

#[tokio::test]
async fn unknown_body_fields_are_ignored_or_rejected_by_option() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let body = json!({"name": "n", "unknown1": "a", "unknown2": {"a": "b"}, "unknown3": ["a"]});
    let response = gateway.client.json("POST", "/v1/echo", body.clone()).await;
    assert_eq!(response.status, 200);
    assert_eq!(to_json(backend.last_call().message()), json!({"name": "n"}));
    let strict =
        Gateway::for_test_backend(&backend, "routes:\n  json:\n    unknown_fields: reject\n").await;
    let response = strict.client.json("POST", "/v1/echo", body).await;
    assert_eq!(response.status, 400);
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("invalid JSON body: ") && message.contains("unknown1"),
        "{message}"
    );
}

#[tokio::test]
async fn output_options_emit_defaults_proto_names_and_enum_numbers() {
    let backend = test_backend().start().await;
    let options = "routes:\n  json:\n    emit_unpopulated: true\n    use_proto_names: true\n    enums_as_ints: true\n";
    let gateway = Gateway::for_test_backend(&backend, options).await;
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"int32Value": 3, "color": "RED"}))
        .await;
    assert_eq!(response.status, 200);
    let json = response.json();
    assert_eq!(json["int32_value"], 3);
    assert_eq!(json["color"], 1);
    assert_eq!(json["int64_value"], "0");
    assert_eq!(json["name"], "");
    assert_eq!(json["tags"], json!([]));
    assert_eq!(json["labels"], json!({}));
    assert_eq!(
        json.get("nested"),
        None,
        "message fields have presence and stay out"
    );
    assert_eq!(json.get("int32Value"), None);
}

#[tokio::test]
async fn response_body_returns_one_field() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/EchoTags", |_| async move {
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"name": "n", "tags": ["x", "y"]}),
            )))
        })
        .handle("polygate.test.v1.Testing/GetNested", |_| async move {
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"name": "n", "nested": {"label": "l", "amount": "3"}}),
            )))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/tags").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), r#"["x","y"]"#);
    let response = gateway.client.get("/v1/nested/n").await;
    assert_eq!(response.json(), json!({"label": "l", "amount": "3"}));
}

#[tokio::test]
async fn an_http_body_answer_is_raw_bytes_with_its_content_type() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Download", |_| async move {
            Ok(Reply::one(message(
                "google.api.HttpBody",
                json!({"contentType": "text/html", "data": "PGgxPkhlbGxvITwvaDE+"}),
            )))
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/download/page").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/html"));
    assert_eq!(response.header("content-length"), Some("15"));
    assert_eq!(response.text(), "<h1>Hello!</h1>");
}

#[tokio::test]
async fn an_http_body_request_carries_the_raw_bytes_and_content_type() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send(
            "POST",
            "/v1/uploads/report",
            &[("content-type", "text/csv")],
            "a,b\n1,2\n",
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "report", "file": {"contentType": "text/csv", "data": "YSxiCjEsMgo="}})
    );
    let response = gateway
        .client
        .send(
            "POST",
            "/v1/raw",
            &[("content-type", "application/octet-stream")],
            &[0u8, 1, 255][..],
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"contentType": "application/octet-stream", "data": "AAH/"})
    );
}

#[tokio::test]
async fn empty_answers_are_empty_objects() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.send("DELETE", "/v1/empty", &[], "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "{}");
}
