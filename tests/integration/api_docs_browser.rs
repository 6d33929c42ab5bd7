//! Issue 16, the docs page: `/docs` (Swagger UI, embedded in polygate) in headless Chromium,
//! served by the demo gateway (examples/demo.yaml, `http.api_docs` on) in front of the demo
//! library backend, lists the demo's operations, and a "try it" request for
//! `GET /v1/shelves` goes through polygate and shows the backend's answer on the page. A
//! screenshot is kept at target/test-artifacts/api-docs-try-it.png.

use serde_json::{json, Value};

use crate::support::browser;
use crate::support::library::{library_backend, library_pool};
use crate::support::{demo_config, root, scratch_dir};

/// The operation ids the page lists.
const OPERATIONS: &str = r#"[...document.querySelectorAll(".opblock-summary-operation-id")].map((e) => e.textContent.trim())"#;

/// Expands `GET /v1/shelves` (try-it is on by default) and presses Execute once it shows.
const TRY_LIST_SHELVES: &str = r#"(() => {
    const path = [...document.querySelectorAll(".opblock-get .opblock-summary-path")]
        .find((e) => e.getAttribute("data-path") === "/v1/shelves");
    if (!path) return "no operation";
    const block = path.closest(".opblock");
    if (!block.classList.contains("is-open")) {
        block.querySelector(".opblock-summary-control").click();
    }
    const execute = block.querySelector("button.execute");
    if (!execute) return "opening";
    execute.scrollIntoView();
    execute.click();
    return "executed";
})()"#;

/// What the page shows of the answer: the status and the body of the live response.
const ANSWER: &str = r#"(() => {
    const path = [...document.querySelectorAll(".opblock-get .opblock-summary-path")]
        .find((e) => e.getAttribute("data-path") === "/v1/shelves");
    const block = path && path.closest(".opblock");
    const live = block && block.querySelector(".live-responses-table");
    if (!live) return null;
    const status = live.querySelector("tbody .response-col_status");
    const body = live.querySelector(".response-col_description pre");
    const url = block.querySelector(".request-url pre");
    return {
        status: status ? status.textContent.trim() : null,
        body: body ? body.textContent : null,
        url: url ? url.textContent.trim() : null,
    };
})()"#;

#[tokio::test]
async fn the_docs_page_lists_the_demo_operations_and_tries_one_through_polygate() {
    polygate::install_crypto_provider();
    let backend = library_backend(library_pool(&root().join("protos")))
        .start()
        .await;
    let mut config = demo_config();
    match config.backends.get_mut("library") {
        Some(polygate::backends::BackendConfig::Grpc(grpc)) => grpc.url = backend.url(),
        _ => panic!("the demo config has a gRPC backend named library"),
    }
    let running = polygate::app::start(polygate::app::build(&config).await.unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", running.local_addr("http").unwrap());

    let (browser, mut devtools) =
        browser::start(&scratch_dir().join("chromium-profile-docs")).await;
    devtools.open(&format!("{base}/docs")).await;
    devtools
        .command(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;

    let listed = devtools
        .wait_for(OPERATIONS, |ids| {
            ids.as_array()
                .is_some_and(|ids| ids.contains(&json!("polygate.demo.v1.Library.ListShelves")))
        })
        .await;
    for id in [
        "polygate.demo.v1.Library.GetBook",
        "polygate.demo.v1.Library.WatchBooks",
        "polygate.demo.v1.Admin.GetStats",
        "warehouse.get_v1_warehouse_items__sku_",
    ] {
        assert!(
            listed.as_array().unwrap().contains(&json!(id)),
            "{id} in {listed:#}"
        );
    }

    devtools
        .wait_for(TRY_LIST_SHELVES, |state| state == "executed")
        .await;
    let shown = devtools
        .wait_for(ANSWER, |answer| {
            answer["status"].as_str().is_some() && answer["body"].as_str().is_some()
        })
        .await;
    assert_eq!(shown["status"], "200", "{shown:#}");
    assert_eq!(shown["url"], format!("{base}/v1/shelves"));
    let body: Value = serde_json::from_str(shown["body"].as_str().unwrap()).unwrap();
    let direct = crate::support::http_client::Client::new(base.clone())
        .get("/v1/shelves")
        .await
        .json();
    assert_eq!(body, direct, "the page shows what polygate answers");
    assert!(
        body["shelves"].as_array().is_some_and(|s| !s.is_empty()),
        "{body}"
    );

    let artifacts = root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    devtools
        .evaluate(
            r#"(() => { document.querySelector(".live-responses-table").closest(".opblock").scrollIntoView({block: "start"}); return true; })()"#,
        )
        .await;
    devtools
        .screenshot(&artifacts.join("api-docs-try-it.png"))
        .await;
    drop(browser);
    running.shutdown().await;
}
