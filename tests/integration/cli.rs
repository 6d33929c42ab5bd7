//! Item 9 and 11: the `polygate` binary — `check` prints the route table or every error with its
//! file and line, and zero-config `serve` exposes every annotated method.

use serde_json::json;

use crate::support::binary::{polygate, Serving};
use crate::support::{root, scratch_dir, test_backend, test_config};

#[test]
fn check_prints_the_route_table_of_the_demo_config() {
    let output = polygate()
        .args(["check", "--config"])
        .arg(root().join("examples/demo.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout,
        concat!(
            "METHOD     PATH                                   BACKEND    AUTH     CACHE  OPERATION\n",
            "GET        /v1/shelves                            library    PUBLIC   -      /polygate.demo.v1.Library/ListShelves\n",
            "POST       /v1/shelves                            library    api_key  -      /polygate.demo.v1.Library/CreateShelf\n",
            "GET        /v1/{name=shelves/*}                   library    PUBLIC   -      /polygate.demo.v1.Library/GetShelf\n",
            "DELETE     /v1/{name=shelves/*}                   library    api_key  -      /polygate.demo.v1.Library/DeleteShelf\n",
            "POST       /v1/{name=shelves/*}:archive           library    api_key  -      /polygate.demo.v1.Library/ArchiveShelf\n",
            "GET        /v1/{parent=shelves/*}/books           library    PUBLIC   -      /polygate.demo.v1.Library/ListBooks\n",
            "GET        /v1/books                              library    PUBLIC   -      /polygate.demo.v1.Library/ListBooks\n",
            "POST       /v1/{parent=shelves/*}/books           library    api_key  -      /polygate.demo.v1.Library/CreateBook\n",
            "GET        /v1/{name=shelves/*/books/*}           library    PUBLIC   -      /polygate.demo.v1.Library/GetBook\n",
            "PATCH      /v1/{book.name=shelves/*/books/*}      library    api_key  -      /polygate.demo.v1.Library/UpdateBook\n",
            "GET        /v1/{parent=shelves/*}/books:watch     library    PUBLIC   -      /polygate.demo.v1.Library/WatchBooks\n",
            "POST       /v1/{parent=shelves/*}/books:import    library    api_key  -      /polygate.demo.v1.Library/ImportBooks\n",
            "GET        /v1/{name=shelves/*/books/*}/cover     library    PUBLIC   -      /polygate.demo.v1.Library/GetCover\n",
            "GET        /v1/admin/stats                        library    PUBLIC   -      /polygate.demo.v1.Admin/GetStats\n",
            "PUBLISH    rooms/{room}/sensors/{sensor}/reading  library    broker   -      /polygate.demo.v1.ReadingRoom/RecordReading\n",
            "PUBLISH    rooms/{room}/climate/get               library    broker   -      /polygate.demo.v1.ReadingRoom/GetClimate\n",
            "GET        /v1/rooms/{room}/climate               library    PUBLIC   -      /polygate.demo.v1.ReadingRoom/GetClimate\n",
            "PUBLISH    downlinks/room-commands                library    broker   -      /polygate.demo.v1.ReadingRoom/WatchCommands\n",
            "GET        /v1/{parent=shelves/*}/books:follow    library    PUBLIC   -      /polygate.demo.v1.Library/FollowBooks\n",
            "WEBSOCKET  /ws/{parent=shelves/*}/books           library    PUBLIC   -      /polygate.demo.v1.Library/FollowBooks\n",
            "POST       /v1/librarian:ask                      library    api_key  -      /polygate.demo.v1.Library/AskLibrarian\n",
            "WEBSOCKET  /ws/librarian                          library    PUBLIC   -      /polygate.demo.v1.Library/AskLibrarian\n",
            "GET        /v1/bookshop/{shelf}/{book}            compose    PUBLIC   30s    compose(book, stock, reviews)\n",
            "POST       /v1/rooms/{room}/commands              devices    api_key  -      PUBLISH rooms/{room}/commands\n",
            "GET        /v1/warehouse/items/{sku}              warehouse  PUBLIC   -      urn:example:warehouse/GetItem\n",
            "GET        /v1/warehouse/items                    warehouse  PUBLIC   -      urn:example:warehouse/ListItems\n",
            "POST       /v1/warehouse/orders                   warehouse  api_key  -      urn:example:warehouse/PlaceOrder\n",
            "DELETE     /v1/warehouse/orders/{orderId}         warehouse  api_key  -      urn:example:warehouse/CancelOrder\n",
            "GET        /demo                                  web        PUBLIC   -      GET /index.html\n",
            "29 routes, configuration OK\n",
        )
    );
}

#[test]
fn check_reports_every_bad_rule_with_file_and_line_and_fails() {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("rules.yaml"),
        "http:\n  rules:\n  - selector: polygate.test.v1.Testing.Echo\n    get: /v1/{name=shelves/*\n  - selector: polygate.test.v1.Nope.Missing\n    get: /v1/missing\n  - selector: polygate.test.v1.Unannotated.Lookup\n    get: /v1/lookup/{nosuchfield}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("polygate.yaml"),
        test_config("http://127.0.0.1:1", "mappings: [rules.yaml]\n"),
    )
    .unwrap();
    let output = polygate()
        .args(["check", "--config"])
        .arg(dir.join("polygate.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let rules = dir.join("rules.yaml").display().to_string();
    assert!(
        stderr.contains(&format!(
            "error: {rules}:4: invalid path template \"/v1/{{name=shelves/*\": "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: {rules}:6: no backend has a method polygate.test.v1.Nope.Missing"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: {rules}:8: path variable {{nosuchfield}}: message polygate.test.v1.Everything has no field 'nosuchfield'"
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_proto_syntax_error_is_reported_with_file_and_line() {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("broken.proto"),
        "syntax = \"proto3\";\npackage x;\nmessage M {\n  string a = ;\n}\n",
    )
    .unwrap();
    let output = polygate()
        .current_dir(&dir)
        .args([
            "check",
            "--grpc-backend",
            "http://127.0.0.1:1",
            "--proto",
            "broken.proto",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: backend 'default': broken.proto:4:"),
        "{stderr}"
    );
}

#[test]
fn a_config_with_an_unknown_key_fails_with_its_line() {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("polygate.yaml"),
        "http:\n  listen: 127.0.0.1:0\n  listne: 1\n",
    )
    .unwrap();
    let output = polygate()
        .args(["check", "-c"])
        .arg(dir.join("polygate.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let expected = format!("error: {}:3: ", dir.join("polygate.yaml").display());
    assert!(
        stderr.starts_with(&expected) && stderr.contains("listne"),
        "{stderr}"
    );
}

#[tokio::test]
async fn zero_config_serve_exposes_every_annotated_method() {
    let backend = test_backend().start().await;
    let mut command = polygate();
    command
        .current_dir(root().join("tests/protos"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--grpc-backend",
            &backend.url(),
        ])
        .args([
            "--proto",
            "polygate/test/v1/testing.proto",
            "--proto-path",
            ".",
        ]);
    let serving = Serving::start(command).await;
    let response = serving
        .client
        .get("/v1/echo/zero-config?int32Value=4")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        json!({"name": "zero-config", "int32Value": 4})
    );
}
