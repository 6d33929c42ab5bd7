//! Issue 15 item 5: the last REST→gRPC gaps — unknown enum names refused, PATCH masks filled
//! from the body, map fields in query strings, `X-HTTP-Method-Override`, HEAD for GET routes.

use serde_json::json;

use crate::support::{test_backend, to_json, Gateway};

#[tokio::test]
async fn an_unknown_enum_name_in_the_body_is_refused_naming_field_and_value() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"name": "n", "color": "PURPLE"}))
        .await;
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "invalid JSON body: invalid value for field 'color': \"PURPLE\" is not a value of enum polygate.test.v1.Color", "details": []})
    );
    // Inside a repeated field too; the backend was never called.
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"colors": ["RED", "NOPE"]}))
        .await;
    assert_eq!(response.status, 400);
    assert!(response.text().contains("NOPE"), "{}", response.text());
    assert!(backend.calls().is_empty());
    // Unknown *fields* stay ignored by default: the two switches are apart.
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"name": "n", "newerField": 1}))
        .await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn an_unknown_enum_name_in_the_query_is_refused_naming_the_parameter() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/echo/n?color=PURPLE").await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "query parameter 'color': invalid value for field 'color': \"PURPLE\" is not a value of enum polygate.test.v1.Color"
    );
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn unknown_enum_values_ignore_leaves_the_field_unset() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(
        &backend,
        "routes:\n  json:\n    unknown_enum_values: ignore\n",
    )
    .await;
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"name": "n", "color": "PURPLE"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(to_json(backend.last_call().message()), json!({"name": "n"}));
    let response = gateway.client.get("/v1/echo/q?color=PURPLE").await;
    assert_eq!(response.status, 200);
    assert_eq!(to_json(backend.last_call().message()), json!({"name": "q"}));
}

#[tokio::test]
async fn patch_fills_the_update_mask_from_the_body_keys() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let body = json!({"amount": "5", "deeper": {"value": "v", "values": ["a"]}, "unknownKey": 1});
    let response = gateway
        .client
        .json("PATCH", "/v1/labels/x", body.clone())
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({
            "nested": {"label": "labels/x", "amount": "5", "deeper": {"value": "v", "values": ["a"]}},
            "updateMask": "amount,deeper.value,deeper.values"
        })
    );
    // A mask the client sends wins.
    let response = gateway
        .client
        .json("PATCH", "/v1/labels/x?updateMask=amount", body.clone())
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message())["updateMask"],
        "amount"
    );
    // Switched off, no mask is made up.
    let plain = Gateway::for_test_backend(
        &backend,
        "routes:\n  json:\n    update_mask_from_body: false\n",
    )
    .await;
    let response = plain.client.json("PATCH", "/v1/labels/x", body).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()).get("updateMask"),
        None
    );
    // POST to the same method fills nothing either: only PATCH does.
    let response = gateway
        .client
        .json("POST", "/v1/shelves/1/things", json!({"amount": "5"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()).get("updateMask"),
        None
    );
}

#[tokio::test]
async fn map_fields_are_set_from_bracketed_query_parameters() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .get("/v1/echo/n?labels[env]=prod&labels%5Btier%5D=web%20front")
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "n", "labels": {"env": "prod", "tier": "web front"}})
    );
    // A field that is no map is refused, naming the parameter.
    let response = gateway.client.get("/v1/echo/n?tags[a]=b").await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "query parameter 'tags[a]': field 'tags' is not a map"
    );
    assert_eq!(backend.calls().len(), 1);
}

#[tokio::test]
async fn method_override_is_honoured_only_when_switched_on() {
    let backend = test_backend().start().await;
    let off = Gateway::for_test_backend(&backend, "").await;
    let headers = [
        ("content-type", "application/json"),
        ("x-http-method-override", "PUT"),
    ];
    let response = off
        .client
        .send("POST", "/v1/echo/n", &headers, r#"{"int32Value":7}"#)
        .await;
    assert_eq!(response.status, 405);
    assert!(backend.calls().is_empty());

    let on = Gateway::start(
        &crate::support::test_config(&backend.url(), "").replace(
            "http:\n  listen: 127.0.0.1:0\n",
            "http:\n  listen: 127.0.0.1:0\n  method_override: true\n",
        ),
        &[],
    )
    .await;
    let response = on
        .client
        .send("POST", "/v1/echo/n", &headers, r#"{"int32Value":7}"#)
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "n", "int32Value": 7})
    );
    let bad = [("x-http-method-override", "NOT A METHOD")];
    let response = on.client.send("POST", "/v1/echo/n", &bad, "").await;
    assert_eq!(response.status, 400);
    assert_eq!(backend.calls().len(), 1);
}

#[tokio::test]
async fn head_is_answered_by_the_get_route_without_a_body() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.send("HEAD", "/v1/echo/h", &[], "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.body.is_empty());
    assert_eq!(to_json(backend.last_call().message()), json!({"name": "h"}));
    // A path with no GET route is still 405 for HEAD.
    let response = gateway.client.send("HEAD", "/v1/echo", &[], "").await;
    assert_eq!(response.status, 405);
}
