//! Issue 16: the OpenAPI 3.1 and AsyncAPI 3.0 documents of the demo's live route table
//! validate against the specifications' own schemas (vendored in tests/schemas, checked with the
//! `jsonschema` crate offline), say what the demo serves, and are served by the HTTP listener
//! (`http.api_docs`) from the current route table, so a reload that adds a route adds it.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::support::binary::polygate;
use crate::support::http_client::Client;
use crate::support::{demo_config, root, scratch_dir};
use polygate::describe::{self, Info};

/// Maps the schemas' `$id`s to the vendored files, so validation never leaves the machine.
struct Vendored;

impl jsonschema::Retrieve for Vendored {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let file = match uri.as_str().trim_end_matches('#') {
            "https://spec.openapis.org/oas/3.1/schema/2021-04-15" => "openapi-3.1-schema.json",
            "https://spec.openapis.org/oas/3.1/dialect/base" => "openapi-3.1-dialect-base.json",
            "https://spec.openapis.org/oas/3.1/meta/base" => "openapi-3.1-meta-base.json",
            other => return Err(format!("no vendored schema for {other}").into()),
        };
        Ok(schema_file(file))
    }
}

fn schema_file(name: &str) -> Value {
    let path = root().join("tests/schemas").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Every way `document` breaks the schema in `file`, as `path: message` lines.
fn violations(file: &str, document: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_retriever(Vendored)
        .build(&schema_file(file))
        .unwrap_or_else(|e| panic!("{file} compiles: {e}"));
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

async fn demo_table() -> Arc<polygate::mapping::RouteTable> {
    let gateway = polygate::app::build(&demo_config()).await.unwrap();
    gateway.pipeline.routes()
}

#[tokio::test]
async fn the_demo_openapi_document_validates_and_describes_the_demo_routes() {
    let table = demo_table().await;
    let document = describe::openapi::document(&table, &Info::default());
    assert_eq!(
        violations("openapi-3.1-schema-base.json", &document),
        Vec::<String>::new()
    );
    assert_eq!(
        violations("openapi-3.1-schema.json", &document),
        Vec::<String>::new()
    );
    // The validator does reject a broken document.
    let mut broken = document.clone();
    broken["paths"]["/v1/shelves"]["get"]["responses"] = json!(7);
    assert!(!violations("openapi-3.1-schema-base.json", &broken).is_empty());

    let paths = &document["paths"];
    // A variable over several segments keeps its literals: one parameter per `*`.
    let get_book = &paths["/v1/shelves/{name.1}/books/{name.2}"]["get"];
    assert_eq!(get_book["operationId"], "polygate.demo.v1.Library.GetBook");
    let names: Vec<&str> = get_book["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name.1", "name.2"]);
    assert_eq!(
        get_book["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/polygate.demo.v1.Book"})
    );
    assert_eq!(
        get_book["responses"]["default"],
        json!({"$ref": "#/components/responses/Error"})
    );
    // Fields neither in the path nor in the body are query parameters, by JSON name.
    let list_shelves: Vec<&str> = paths["/v1/shelves"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(list_shelves, ["pageSize", "genre"]);
    // body: "shelf" → the request body is the Shelf.
    assert_eq!(
        paths["/v1/shelves"]["post"]["requestBody"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/polygate.demo.v1.Shelf"})
    );
    // Server streams are NDJSON or Server-Sent Events; client streams take NDJSON.
    let watch = &paths["/v1/shelves/{parent}/books:watch"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        watch.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["application/x-ndjson", "text/event-stream"]
    );
    let import = &paths["/v1/shelves/{parent}/books:import"]["post"]["requestBody"]["content"];
    assert!(import.get("application/x-ndjson").is_some(), "{import}");
    // A google.api.HttpBody answer is raw bytes of any type.
    assert!(
        paths["/v1/shelves/{name.1}/books/{name.2}/cover"]["get"]["responses"]["200"]["content"]
            .get("*/*")
            .is_some()
    );
    // Per-route JSON options: GetStats emits unpopulated fields, so they are required.
    assert_eq!(
        paths["/v1/admin/stats"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"],
        json!({"$ref": "#/components/schemas/polygate.demo.v1.Stats-emit_unpopulated"})
    );
    // SOAP routes take their schemas from the WSDL import's xml_mapping.
    let item = &paths["/v1/warehouse/items/{sku}"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(
        item["properties"]["price"],
        json!({"type": "string", "format": "decimal"})
    );
    assert_eq!(item["properties"]["stock"], json!({"type": "integer"}));
    assert_eq!(item["properties"]["tag"]["type"], "array");
    let list_items: Vec<&str> = paths["/v1/warehouse/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(list_items, ["category", "page", "pageSize"]);
    // The canonical error shape is one shared component.
    assert_eq!(
        document["components"]["schemas"]["polygate.Status"]["required"],
        json!(["code", "message", "details"])
    );
}

#[tokio::test]
async fn the_demo_asyncapi_document_validates_and_describes_topics_and_websockets() {
    let table = demo_table().await;
    let document = describe::asyncapi::document(&table, &Info::default(), Some("/ws"));
    assert_eq!(
        violations("asyncapi-3.0.0.json", &document),
        Vec::<String>::new()
    );
    let channels = &document["channels"];
    let reading = &channels
        ["polygate.demo.v1.ReadingRoom_RecordReading-rooms__room__sensors__sensor__reading"];
    assert_eq!(reading["address"], "rooms/{room}/sensors/{sensor}/reading");
    assert_eq!(
        reading["parameters"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["room", "sensor"]
    );
    let receive = &document["operations"]
        ["polygate.demo.v1.ReadingRoom_RecordReading-rooms__room__sensors__sensor__reading.receive"];
    assert_eq!(receive["action"], "receive");
    assert_eq!(receive["bindings"]["mqtt"]["qos"], 1);
    assert_eq!(
        channels["errors-rooms__room__errors"]["address"],
        "rooms/{room}/errors"
    );
    assert_eq!(
        channels["reply-rooms__room__climate"]["address"],
        "rooms/{room}/climate"
    );
    assert_eq!(channels["envelope"]["address"], "/ws");
    assert_eq!(channels["ws-_ws_librarian"]["address"], "/ws/librarian");
}

#[tokio::test]
async fn the_http_listener_serves_the_documents_and_a_reload_that_adds_a_route_adds_it() {
    polygate::install_crypto_provider();
    let config = demo_config();
    let running = polygate::app::start(polygate::app::build(&config).await.unwrap())
        .await
        .unwrap();
    let client = Client::new(format!("http://{}", running.local_addr("http").unwrap()));

    let served = client.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let info = Info {
        server: Some("/".into()),
        ..Info::default()
    };
    assert_eq!(
        served.json(),
        describe::openapi::document(&running.pipeline.routes(), &info)
    );
    assert!(served.json()["paths"].get("/v1/extra").is_none());
    let yaml = client.get("/openapi.yaml").await;
    assert_eq!(yaml.header("content-type"), Some("application/yaml"));
    let parsed: Value = serde_saphyr::from_str(&yaml.text()).unwrap();
    assert_eq!(parsed, served.json());
    let asyncapi = client.get("/asyncapi.json").await.json();
    assert_eq!(asyncapi["channels"]["envelope"]["address"], "/ws");
    let page = client.get("/docs").await;
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("/docs/swagger-ui-bundle.js"));
    let bundle = client.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(
        bundle.body.len() as u64,
        std::fs::metadata(root().join("assets/swagger-ui/swagger-ui-bundle.js"))
            .unwrap()
            .len()
    );
    // Other paths still reach the routes.
    assert_eq!(client.get("/docs/nothing").await.status, 404);

    // A reload: the same config plus a mapping file with one more route.
    let extra = scratch_dir().join("api-docs-extra.yaml");
    std::fs::write(
        &extra,
        "routes:\n  - get: /v1/extra\n    backend: web\n    rest: {path: /index.html}\n",
    )
    .unwrap();
    let mut reloaded = config.clone();
    reloaded.mappings.push(extra);
    let gateway = polygate::app::build(&reloaded).await.unwrap();
    let pipeline = Arc::try_unwrap(gateway.pipeline).unwrap_or_else(|_| panic!("unshared"));
    let table = Arc::try_unwrap(pipeline.into_routes()).unwrap_or_else(|_| panic!("unshared"));
    running.pipeline.replace_routes(table);
    let after = client.get("/openapi.json").await.json();
    assert_eq!(
        after["paths"]["/v1/extra"]["get"]["operationId"],
        "web.get_v1_extra"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn the_admin_listener_serves_the_same_documents_naming_the_http_listener() {
    polygate::install_crypto_provider();
    let config = demo_config();
    assert!(
        config.admin.is_some(),
        "the demo enables the admin listener"
    );
    let running = polygate::app::start(polygate::app::build(&config).await.unwrap())
        .await
        .unwrap();
    let http = format!("http://{}", running.local_addr("http").unwrap());
    let admin = Client::new(format!("http://{}", running.admin_addr().unwrap()));

    let served = admin.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), Some("application/json"));
    // The same builder as the HTTP listener's, but "try it" goes to the HTTP listener.
    let info = Info {
        server: Some(http.clone()),
        ..Info::default()
    };
    assert_eq!(
        served.json(),
        describe::openapi::document(&running.pipeline.routes(), &info)
    );
    assert_eq!(served.json()["servers"], json!([{"url": http}]));
    let yaml = admin.get("/openapi.yaml").await;
    assert_eq!(yaml.header("content-type"), Some("application/yaml"));
    let parsed: Value = serde_saphyr::from_str(&yaml.text()).unwrap();
    assert_eq!(parsed, served.json());
    let asyncapi = admin.get("/asyncapi.json").await;
    assert_eq!(asyncapi.status, 200);
    assert_eq!(asyncapi.json()["channels"]["envelope"]["address"], "/ws");
    let page = admin.get("/docs").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("\"/openapi.json\""), "{}", page.text());
    let css = admin.get("/docs/swagger-ui.css").await;
    assert_eq!(
        css.body.len() as u64,
        std::fs::metadata(root().join("assets/swagger-ui/swagger-ui.css"))
            .unwrap()
            .len()
    );
    let head = admin.send("HEAD", "/openapi.json", &[], "").await;
    assert_eq!((head.status.as_u16(), head.body.len()), (200, 0));
    // Other methods and unknown files answer in the canonical shape.
    let post = admin.send("POST", "/openapi.json", &[], "").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let missing = admin.get("/docs/nothing").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], 5);
    // The admin pages are still there.
    assert_eq!(admin.get("/healthz").await.status, 200);
    assert_eq!(admin.get("/routes").await.status, 200);

    // A reload shows on the admin listener too: the documents come from the current table.
    let extra = scratch_dir().join("api-docs-admin-extra.yaml");
    std::fs::write(
        &extra,
        "routes:\n  - get: /v1/extra\n    backend: web\n    rest: {path: /index.html}\n",
    )
    .unwrap();
    let mut reloaded = config.clone();
    reloaded.mappings.push(extra);
    let gateway = polygate::app::build(&reloaded).await.unwrap();
    let pipeline = Arc::try_unwrap(gateway.pipeline).unwrap_or_else(|_| panic!("unshared"));
    let table = Arc::try_unwrap(pipeline.into_routes()).unwrap_or_else(|_| panic!("unshared"));
    running.pipeline.replace_routes(table);
    let after = admin.get("/openapi.json").await.json();
    assert_eq!(
        after["paths"]["/v1/extra"]["get"]["operationId"],
        "web.get_v1_extra"
    );
    running.shutdown().await;
}

#[test]
fn polygate_openapi_and_asyncapi_write_the_documents_to_stdout() {
    let run = |args: &[&str]| {
        let output = polygate().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let demo = root().join("examples/demo.yaml");
    let demo = demo.to_str().unwrap();
    let openapi: Value = serde_json::from_str(&run(&["openapi", "--config", demo])).unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert_eq!(
        openapi["servers"],
        json!([{"url": "http://127.0.0.1:8080"}])
    );
    assert_eq!(
        openapi["paths"]["/v1/shelves"]["get"]["operationId"],
        "polygate.demo.v1.Library.ListShelves"
    );
    let yaml: Value =
        serde_saphyr::from_str(&run(&["openapi", "--yaml", "--config", demo])).unwrap();
    assert_eq!(yaml, openapi);
    let asyncapi: Value = serde_json::from_str(&run(&["asyncapi", "--config", demo])).unwrap();
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
    assert_eq!(asyncapi["channels"]["envelope"]["address"], "/ws");

    // The zero-config flags describe the annotated methods of one backend.
    let protos = root().join("protos");
    let zero: Value = serde_json::from_str(&run(&[
        "openapi",
        "--grpc-backend",
        "http://127.0.0.1:1",
        "--proto",
        "polygate/demo/v1/library.proto",
        "--proto-path",
        protos.to_str().unwrap(),
    ]))
    .unwrap();
    assert!(
        zero["paths"].get("/v1/shelves/{name}").is_some(),
        "{zero:#}"
    );
    assert!(zero["paths"].get("/v1/warehouse/items").is_none());

    // A bad config fails as check fails.
    let output = polygate()
        .args(["openapi", "--config", "/nonexistent.yaml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent.yaml"));
}
