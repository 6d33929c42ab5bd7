//! Issue 12, item 5: the demo page (examples/web/index.html) in headless Chromium, served by
//! the demo's parts (library backend, page server, polygate from examples/demo.yaml), shows
//! the followed shelf, the librarian's answers and a book added by a unary call — all over one
//! WebSocket. Chromium is driven over the DevTools protocol with tokio-tungstenite. Debian's
//! `chromium` package must be installed (.ci/run installs it); without it the test fails.

use serde_json::json;

use crate::support::browser;
use crate::support::library::{library_backend, library_pool};
use crate::support::web::start_page_server;
use crate::support::{demo_config, root, scratch_dir};

/// What the page shows, as JSON.
const PAGE_STATE: &str = r##"JSON.parse(JSON.stringify({
    status: document.getElementById("status") ? document.getElementById("status").textContent : null,
    books: [...document.querySelectorAll("#books li")].map((e) => e.textContent),
    conversation: [...document.querySelectorAll("#conversation li")].map((e) => e.textContent),
}))"##;

#[tokio::test]
async fn the_demo_page_shows_streams_arriving_live_in_headless_chromium() {
    polygate::install_crypto_provider();
    let backend = library_backend(library_pool(&root().join("protos")))
        .start()
        .await;
    let page_server = start_page_server("127.0.0.1:0").await.unwrap();
    let mut config = demo_config();
    match config.backends.get_mut("library") {
        Some(polygate::backends::BackendConfig::Grpc(grpc)) => grpc.url = backend.url(),
        _ => panic!("the demo config has a gRPC backend named library"),
    }
    match config.backends.get_mut("web") {
        Some(polygate::backends::BackendConfig::Rest(rest)) => rest.url = page_server.url(),
        _ => panic!("the demo config has a REST backend named web"),
    }
    let running = polygate::app::start(polygate::app::build(&config).await.unwrap())
        .await
        .unwrap();
    let page = format!("http://{}/demo", running.local_addr("http").unwrap());

    let (browser, mut devtools) = browser::start(&scratch_dir().join("chromium-profile")).await;
    devtools.open(&page).await;

    let shown = devtools
        .wait_for(PAGE_STATE, |page| {
            page["conversation"]
                .as_array()
                .is_some_and(|c| c.len() == 2)
        })
        .await;
    assert_eq!(
        shown,
        json!({
            "status": "connected",
            "books": ["War and Peace — Leo Tolstoy"],
            "conversation": [
                "you: Do you have anything by Tolstoy?",
                "librarian: I have one book for that: War and Peace."
            ]
        })
    );

    // A unary call adds a book: the followed stream shows it; the librarian now knows two.
    devtools
        .evaluate(r#"addBook("Anna Karenina", "Leo Tolstoy"); "added""#)
        .await;
    devtools
        .wait_for(PAGE_STATE, |page| {
            page["books"].as_array().is_some_and(|b| b.len() == 2)
        })
        .await;
    devtools
        .evaluate(r#"ask("And now, anything by Tolstoy?"); "asked""#)
        .await;
    let shown = devtools
        .wait_for(PAGE_STATE, |page| {
            page["conversation"]
                .as_array()
                .is_some_and(|c| c.len() == 4)
        })
        .await;
    assert_eq!(
        shown,
        json!({
            "status": "connected",
            "books": ["War and Peace — Leo Tolstoy", "Anna Karenina — Leo Tolstoy"],
            "conversation": [
                "you: Do you have anything by Tolstoy?",
                "librarian: I have one book for that: War and Peace.",
                "you: And now, anything by Tolstoy?",
                "librarian: I have 2 books for that."
            ]
        })
    );
    drop(browser);
    running.shutdown().await;
}
