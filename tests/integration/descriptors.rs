//! Item 2: descriptors from .proto files, from a binary FileDescriptorSet, and from gRPC server
//! reflection against the backend.

use serde_json::json;

use crate::support::{root, scratch_dir, test_backend, test_pool, to_json, Gateway};

#[tokio::test]
async fn a_descriptor_set_file_is_a_source() {
    let backend = test_backend().start().await;
    let dir = scratch_dir();
    let set = dir.join("testing.binpb");
    std::fs::write(&set, test_pool().encode_to_vec()).unwrap();
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  test:\n    grpc:\n      url: {}\n      schema:\n        descriptor_sets: [{}]\n",
        backend.url(),
        set.display()
    );
    let gateway = Gateway::start(&config, &[]).await;
    let response = gateway.client.get("/v1/echo/from-set").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "from-set"})
    );
}

#[tokio::test]
async fn reflection_against_the_backend_is_a_source() {
    let backend = test_backend().with_reflection().start().await;
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  test:\n    grpc:\n      url: {}\n      schema:\n        reflection: true\n",
        backend.url()
    );
    let gateway = Gateway::start(&config, &[]).await;
    let response = gateway.client.get("/v1/echo/reflected?int64Value=5").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"name": "reflected", "int64Value": "5"})
    );
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/shelves/1/things",
            json!({"label": "via reflection"}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        backend.last_call().method.full_name(),
        "polygate.test.v1.Testing.EchoNested"
    );
}

#[tokio::test]
async fn reflection_falls_back_to_v1alpha() {
    let backend = test_backend().with_reflection_v1alpha_only().start().await;
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  test:\n    grpc:\n      url: {}\n      schema:\n        reflection: true\n",
        backend.url()
    );
    let gateway = Gateway::start(&config, &[]).await;
    let response = gateway.client.get("/v1/echo/alpha").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"name": "alpha"}));
}

#[tokio::test]
async fn the_bundled_demo_protos_compile_without_user_supplied_google_files() {
    let protos = root().join("protos");
    let encoded = polygate::descriptors::compile_protos(
        &[protos.join("polygate/demo/v1/library.proto")],
        &[protos],
    )
    .unwrap();
    let pool = prost_reflect::DescriptorPool::decode(encoded.as_slice()).unwrap();
    assert!(pool
        .get_service_by_name("polygate.demo.v1.Library")
        .is_some());
    assert!(pool.get_message_by_name("google.api.HttpBody").is_some());
}
