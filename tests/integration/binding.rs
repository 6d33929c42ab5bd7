//! Item 3 and 10: query parameters, bodies and their collisions with path variables.

use serde_json::json;

use crate::support::{test_backend, to_json, Gateway};

#[tokio::test]
async fn query_parameters_bind_nested_repeated_enum_and_well_known_fields() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let query = "int32Value=-5&uint64_value=18446744073709551615&double_value=2.5&boolValue=true\
        &tags=a&tags=b+c&numbers=1&numbers=2&nested.label=n&nested.deeper.values=x&nested.deeper.values=y\
        &color=GREEN&colors=1&colors=RED&when=2024-01-02T03:04:05.5Z&ttl=1.5s&mask=int32Value,nested.label\
        &wrapped_int=9&wrappedString=w&bytes_value=-_8&note=set";
    let response = gateway.client.get(&format!("/v1/echo/q?{query}")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({
            "name": "q",
            "int32Value": -5,
            "uint64Value": "18446744073709551615",
            "doubleValue": 2.5,
            "boolValue": true,
            "bytesValue": "+/8=",
            "color": "GREEN",
            "tags": ["a", "b c"],
            "numbers": [1, 2],
            "nested": {"label": "n", "deeper": {"values": ["x", "y"]}},
            "when": "2024-01-02T03:04:05.500Z",
            "ttl": "1.500s",
            "mask": "int32Value,nested.label",
            "wrappedInt": 9,
            "wrappedString": "w",
            "note": "set",
            "colors": ["RED", "RED"],
        })
    );
}

#[tokio::test]
async fn an_unknown_query_parameter_is_rejected_by_name_or_ignored_by_option() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/echo/q?colour=RED").await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "unknown query parameter 'colour': message polygate.test.v1.Everything has no field 'colour'", "details": []})
    );
    assert!(backend.calls().is_empty());
    let lenient =
        Gateway::for_test_backend(&backend, "routes:\n  unknown_query_parameters: ignore\n").await;
    let response = lenient
        .client
        .get("/v1/echo/q?colour=RED&int32Value=3")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "q", "int32Value": 3})
    );
}

#[tokio::test]
async fn a_singular_field_twice_in_the_query_is_rejected() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .get("/v1/echo/q?int32Value=1&int32_value=2")
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "query parameter 'int32_value' is given more than once, but field 'int32_value' is not repeated"
    );
}

#[tokio::test]
async fn a_bad_query_or_path_value_names_the_parameter() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/echo/q?int32Value=abc").await;
    assert_eq!(response.status, 400);
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("query parameter 'int32Value': "),
        "{message}"
    );
    let response = gateway.client.get("/v1/echo/notanumber/nested/x").await;
    assert_eq!(response.status, 400);
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("path variable {int64_value}: "),
        "{message}"
    );
    let response = gateway.client.get("/v1/echo-color/PURPLE").await;
    assert_eq!(response.status, 400);
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn an_enum_path_variable_takes_a_name_or_a_number() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    assert_eq!(gateway.client.get("/v1/echo-color/GREEN").await.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"color": "GREEN"})
    );
    assert_eq!(gateway.client.get("/v1/echo-color/1").await.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"color": "RED"})
    );
}

#[tokio::test]
async fn a_body_field_binding_leaves_the_query_for_other_fields() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/shelves/3/things?name=n&tags=t",
            json!({"label": "body", "amount": "12"}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"parent": "shelves/3", "name": "n", "tags": ["t"], "nested": {"label": "body", "amount": "12"}})
    );
}

#[tokio::test]
async fn a_whole_message_body_binds_no_query_parameter() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json("POST", "/v1/echo?int32Value=3", json!({"name": "b"}))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "unknown query parameter 'int32Value': POST /v1/echo takes the whole message from the body"
    );
    let lenient =
        Gateway::for_test_backend(&backend, "routes:\n  unknown_query_parameters: ignore\n").await;
    let response = lenient
        .client
        .json("POST", "/v1/echo?int32Value=3", json!({"name": "b"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(to_json(backend.last_call().message()), json!({"name": "b"}));
}

#[tokio::test]
async fn the_path_wins_over_the_body_unless_collisions_are_rejected() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json(
            "PUT",
            "/v1/echo/from-path",
            json!({"name": "from-body", "int32Value": 1}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "from-path", "int32Value": 1})
    );
    let strict =
        Gateway::for_test_backend(&backend, "routes:\n  body_field_collision: reject\n").await;
    let response = strict
        .client
        .json("PUT", "/v1/echo/from-path", json!({"name": "from-body"}))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "field 'name' is set by both the path and the body"
    );
    let response = strict
        .client
        .json("PUT", "/v1/echo/from-path", json!({"int32Value": 2}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "from-path", "int32Value": 2})
    );
}

#[tokio::test]
async fn a_nested_path_variable_merges_into_the_body_field() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json(
            "PATCH",
            "/v1/labels/l1",
            json!({"label": "ignored", "amount": 5}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        // PATCH without update_mask: the mask names the body's keys (issue 15).
        json!({"nested": {"label": "labels/l1", "amount": "5"}, "updateMask": "amount,label"})
    );
}

#[tokio::test]
async fn a_get_with_a_body_is_rejected() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send(
            "GET",
            "/v1/echo/x",
            &[("content-type", "application/json")],
            "{\"a\":1}",
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "GET /v1/echo/{name} takes no request body", "details": []})
    );
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn an_empty_body_sends_only_the_path_fields() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .send("PUT", "/v1/echo/only-path", &[], "")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "only-path"})
    );
}

#[tokio::test]
async fn two_members_of_one_oneof_in_the_query_are_rejected() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .get("/v1/echo/o?pickText=a&pickNumber=2")
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "query parameter 'pickNumber' sets field 'pick_number', but field 'pick_text' of the same oneof 'choice' is already set"
    );
    let response = gateway.client.get("/v1/echo/o?pickNumber=2").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "o", "pickNumber": 2})
    );
}

#[tokio::test]
async fn a_bad_value_in_a_body_field_names_its_full_path() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/shelves/3/things",
            json!({"label": "ok", "amount": "ten"}),
        )
        .await;
    assert_eq!(response.status, 400);
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("invalid JSON body: invalid value for field 'nested.amount': "),
        "{message}"
    );
    assert!(backend.calls().is_empty());
}
