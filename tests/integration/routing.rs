//! Item 3: routes from annotations and mapping files, the full template grammar, 404 and 405.

use serde_json::json;

use crate::support::{test_backend, to_json, Gateway};

#[tokio::test]
async fn a_get_binds_the_path_variable_and_returns_the_echoed_message() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/echo/alpha").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({"name": "alpha"}));
    let call = backend.last_call();
    assert_eq!(call.method.full_name(), "polygate.test.v1.Testing.Echo");
    assert_eq!(to_json(call.message()), json!({"name": "alpha"}));
}

#[tokio::test]
async fn additional_bindings_each_reach_the_same_method() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let post = gateway
        .client
        .json(
            "POST",
            "/v1/echo",
            json!({"name": "posted", "int32Value": 7}),
        )
        .await;
    assert_eq!(post.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "posted", "int32Value": 7})
    );
    let nested = gateway.client.get("/v1/echo/42/nested/deep").await;
    assert_eq!(nested.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"int64Value": "42", "nested": {"label": "deep"}})
    );
    assert_eq!(backend.calls().len(), 2);
}

#[tokio::test]
async fn a_multi_segment_variable_captures_its_pattern() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway
        .client
        .json("POST", "/v1/shelves/7/things", json!({"label": "x"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"parent": "shelves/7", "nested": {"label": "x"}})
    );
    let response = gateway
        .client
        .json("POST", "/v1/shelves/7/8/things", json!({"label": "x"}))
        .await;
    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn a_double_wildcard_keeps_slashes_and_encoded_slashes() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/files/a/b%2Fc/d%20e.txt").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "files/a/b%2Fc/d e.txt"})
    );
}

#[tokio::test]
async fn a_single_segment_variable_is_decoded_once() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v1/echo/a%2Fb%252F%2Bc+d").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "a/b%2F+c+d"})
    );
}

#[tokio::test]
async fn custom_verbs_route_to_their_own_binding() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let describe = gateway.client.get("/v1/objects/o1:describe").await;
    assert_eq!(describe.status, 200);
    assert_eq!(to_json(backend.last_call().message()), json!({"id": "o1"}));
    let copy = gateway
        .client
        .json("POST", "/v1/objects/o2:copy", json!({"name": "dest"}))
        .await;
    assert_eq!(copy.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"id": "o2", "name": "dest"})
    );
    // An unknown verb is part of the last segment, which `/v1/objects/{id}` takes under other methods.
    let unknown = gateway.client.get("/v1/objects/o1:explode").await;
    assert_eq!(unknown.status, 405);
    assert_eq!(unknown.header("allow"), Some("DELETE, HEAD"));
}

#[tokio::test]
async fn a_custom_http_method_binding_is_served() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.send("HEAD", "/v1/objects/o9", &[], "").await;
    assert_eq!(response.status, 200);
    assert_eq!(to_json(backend.last_call().message()), json!({"id": "o9"}));
}

#[tokio::test]
async fn an_unknown_path_is_404_in_the_canonical_shape() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.get("/v2/nothing/here").await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.json(),
        json!({"code": 5, "message": "no route for GET /v2/nothing/here", "details": []})
    );
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn a_path_under_another_method_is_405_with_allow() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let response = gateway.client.send("DELETE", "/v1/echo/x", &[], "").await;
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, PUT"));
    assert_eq!(
        response.json(),
        json!({"code": 12, "message": "/v1/echo/x does not accept DELETE; it accepts GET, PUT", "details": []})
    );
}

#[tokio::test]
async fn a_mapping_file_routes_a_method_without_annotations() {
    let backend = test_backend().start().await;
    let mapping = "type: google.api.Service\nconfig_version: 3\nhttp:\n  rules:\n  - selector: polygate.test.v1.Unannotated.Lookup\n    get: /v1/lookup/{id}\n    additional_bindings:\n    - post: /v1/lookup\n      body: \"*\"\n  - selector: polygate.test.v1.Testing.Echo\n    get: /v2/echo/{name}\n";
    let config = crate::support::test_config(&backend.url(), "mappings: [rules.yaml]\n");
    let gateway = Gateway::start(&config, &[("rules.yaml", mapping)]).await;
    let response = gateway.client.get("/v1/lookup/k1").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        backend.last_call().method.full_name(),
        "polygate.test.v1.Unannotated.Lookup"
    );
    assert_eq!(to_json(backend.last_call().message()), json!({"id": "k1"}));
    let response = gateway
        .client
        .json("POST", "/v1/lookup", json!({"id": "k2"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(to_json(backend.last_call().message()), json!({"id": "k2"}));
    // A mapping rule replaces the method's annotations.
    assert_eq!(gateway.client.get("/v2/echo/n").await.status, 200);
    assert_eq!(gateway.client.get("/v1/echo/n").await.status, 404);
    // A method with neither stays unexposed.
    assert_eq!(
        gateway
            .client
            .json("POST", "/polygate.test.v1.Unannotated/Hidden", json!({}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn unannotated_methods_can_be_exposed_as_post_service_method() {
    let backend = test_backend().start().await;
    let gateway =
        Gateway::for_test_backend(&backend, "routes:\n  expose_unannotated_methods: true\n").await;
    let response = gateway
        .client
        .json(
            "POST",
            "/polygate.test.v1.Unannotated/Hidden",
            json!({"name": "h"}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        backend.last_call().method.full_name(),
        "polygate.test.v1.Unannotated.Hidden"
    );
    assert_eq!(response.json(), json!({"name": "h"}));
}
