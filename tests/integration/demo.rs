//! The quickstart's config, protos and mappings, served end to end in front of the demo backend.

use serde_json::json;

use crate::support::library::{library_backend, library_pool};
use crate::support::{demo_config, root, Client};

/// The demo library backend and polygate serving the demo config in front of it.
async fn start_demo() -> (crate::support::GrpcServer, polygate::app::Running) {
    polygate::install_crypto_provider();
    let backend = library_backend(library_pool(&root().join("protos")))
        .start()
        .await;
    let mut config = demo_config();
    let Some(polygate::backends::BackendConfig::Grpc(grpc)) = config.backends.get_mut("library")
    else {
        panic!("the demo config has a gRPC backend named library");
    };
    grpc.url = backend.url();
    let running = polygate::app::start(polygate::app::build(&config).await.unwrap())
        .await
        .unwrap();
    (backend, running)
}

#[tokio::test]
async fn the_demo_config_serves_the_library_and_its_mapping_file() {
    let (backend, running) = start_demo().await;
    let client = Client::new(format!("http://{}", running.local_addr("http").unwrap()))
        .with_header("x-api-key", "demo-key");

    let shelf = client.get("/v1/shelves/1").await;
    assert_eq!(shelf.status, 200);
    assert_eq!(shelf.json()["theme"], "Classics");
    let created = client
        .json(
            "POST",
            "/v1/shelves/2/books",
            json!({"title": "Cosmos", "author": "Carl Sagan", "pages": 396}),
        )
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.json()["name"], "shelves/2/books/3");
    let books = client.get("/v1/books?author=Carl+Sagan").await;
    assert_eq!(
        books.json(),
        json!({"books": [{"name": "shelves/2/books/3", "title": "Cosmos", "author": "Carl Sagan", "pages": 396}]})
    );
    let stats = client.get("/v1/admin/stats").await;
    assert_eq!(stats.json(), json!({"shelves": "2", "books": "3"}));
    let missing = client.get("/v1/shelves/9").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ResourceInfo"
    );
    let invalid = client
        .json("POST", "/v1/shelves", json!({"genre": "HISTORY"}))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(
        invalid.json(),
        json!({"code": 3, "message": "shelf.theme: a shelf needs a theme", "details": [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "shelf.theme", "description": "a shelf needs a theme"}]}
        ]})
    );
    let cover = client.get("/v1/shelves/1/books/1/cover").await;
    assert_eq!(cover.header("content-type"), Some("image/svg+xml"));
    assert!(cover.text().starts_with("<svg"));
    running.shutdown().await;
    backend.stop().await;
}

#[tokio::test]
async fn the_demo_reading_room_takes_telemetry_answers_over_mqtt_and_commands_devices() {
    use crate::support::mqtt::Device;
    let (backend, running) = start_demo().await;
    assert!(running.wait_ready("mqtt").await);
    let mut device = Device::v5(running.local_addr("mqtt").unwrap(), "atrium-panel").await;
    device.subscribe("rooms/atrium/#", 1).await;

    device
        .publish(
            "rooms/atrium/sensors/s1/reading",
            r#"{"celsius": 27.5, "humidity": 40}"#,
            1,
        )
        .await;
    let command = device.next_on("rooms/atrium/commands").await;
    assert_eq!(
        command.json(),
        json!({"room": "atrium", "action": "ventilate"})
    );

    device.publish("rooms/atrium/climate/get", "{}", 1).await;
    let climate = device.next_on("rooms/atrium/climate").await;
    assert_eq!(
        climate.json(),
        json!({"room": "atrium", "celsius": 27.5, "readings": "1"})
    );

    let client = Client::new(format!("http://{}", running.local_addr("http").unwrap()))
        .with_header("x-api-key", "demo-key");
    let sent = client
        .json(
            "POST",
            "/v1/rooms/atrium/commands",
            json!({"action": "lights-off"}),
        )
        .await;
    assert_eq!(sent.status, 200);
    assert_eq!(
        sent.json(),
        json!({"topic": "rooms/atrium/commands", "qos": 1})
    );
    let command = device.next_on("rooms/atrium/commands").await;
    assert_eq!(command.json(), json!({"action": "lights-off"}));
    device.disconnect().await;
    running.shutdown().await;
    backend.stop().await;
}

#[tokio::test]
async fn the_demo_write_routes_need_the_demo_key_and_reads_stay_public() {
    let (backend, running) = start_demo().await;
    let base = format!("http://{}", running.local_addr("http").unwrap());
    let anonymous = Client::new(base.clone());
    assert_eq!(anonymous.get("/v1/shelves/1").await.status, 200);
    let refused = anonymous
        .json("POST", "/v1/shelves", json!({"theme": "Poetry"}))
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("ApiKey realm=\"polygate\", header=\"x-api-key\"")
    );
    assert_eq!(
        refused.json(),
        json!({"code": 16, "message": "this route requires authentication: an API key in the x-api-key header", "details": []})
    );
    let wrong = Client::new(base.clone())
        .with_header("x-api-key", "guess")
        .json("DELETE", "/v1/shelves/1", json!({}))
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json()["message"],
        "invalid credentials: the API key is not valid"
    );
    let keyed = Client::new(base).with_header("x-api-key", "demo-key");
    let created = keyed
        .json("POST", "/v1/shelves", json!({"theme": "Poetry"}))
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.json()["theme"], "Poetry");
    running.shutdown().await;
    backend.stop().await;
}

#[tokio::test]
async fn the_demo_bookshop_route_composes_grpc_soap_and_rest_and_caches_the_answer() {
    use crate::support::reviews::start_reviews;
    use crate::support::warehouse::start_warehouse;
    use polygate::backends::BackendConfig;
    polygate::install_crypto_provider();
    let library = library_backend(library_pool(&root().join("protos")))
        .start()
        .await;
    let warehouse = start_warehouse("127.0.0.1:0").await.unwrap();
    let reviews = start_reviews("127.0.0.1:0").await.unwrap();
    let mut config = demo_config();
    for (name, backend) in &mut config.backends {
        match (name.as_str(), backend) {
            ("library", BackendConfig::Grpc(grpc)) => grpc.url = library.url(),
            ("warehouse", BackendConfig::Soap(soap)) => {
                soap.url = format!("{}/warehouse", warehouse.url());
            }
            ("reviews", BackendConfig::Rest(rest)) => rest.url = reviews.url(),
            _ => {}
        }
    }
    let running = polygate::app::start(polygate::app::build(&config).await.unwrap())
        .await
        .unwrap();
    let client = Client::new(format!("http://{}", running.local_addr("http").unwrap()));
    // The reading room's downlink route keeps a WatchCommands stream open: count GetBook alone.
    let get_book = || {
        library
            .calls()
            .iter()
            .filter(|call| call.method.name() == "GetBook")
            .count()
    };

    let first = client.get("/v1/bookshop/1/1").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let composed = json!({
        "book": {"title": "War and Peace", "author": "Leo Tolstoy", "isbn": "9780199232765"},
        "stock": {"price": "15.99", "available": 7},
        "reviews": [
            {"reader": "ada", "stars": 5, "text": "Long, and worth every page."},
            {"reader": "grace", "stars": 4, "text": "Skim the essays on history."},
        ],
    });
    assert_eq!(first.json(), composed);
    // The bytes docs/compose-cache.md shows.
    assert_eq!(
        first.text(),
        r#"{"book":{"author":"Leo Tolstoy","isbn":"9780199232765","title":"War and Peace"},"reviews":[{"reader":"ada","stars":5,"text":"Long, and worth every page."},{"reader":"grace","stars":4,"text":"Skim the essays on history."}],"stock":{"available":7,"price":"15.99"}}"#
    );
    assert_eq!(
        first.header("cache-status"),
        Some("polygate; fwd=miss; stored")
    );
    assert_eq!(get_book(), 1);
    assert_eq!(warehouse.requests().len(), 1);
    assert!(warehouse
        .last_request()
        .text()
        .contains("<sku>ISBN-9780199232765</sku>"));
    assert_eq!(reviews.requests().len(), 1);
    assert_eq!(reviews.last_request().target, "/reviews/9780199232765");

    let second = client.get("/v1/bookshop/1/1").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json(), composed);
    assert_eq!(second.header("cache-status"), Some("polygate; hit"));
    assert!(second.header("age").is_some());
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(get_book(), 1);
    assert_eq!(warehouse.requests().len(), 1);
    assert_eq!(reviews.requests().len(), 1);

    running.shutdown().await;
    library.stop().await;
    warehouse.stop().await;
    reviews.stop().await;
}
