//! Issue 12, item 5: the demo page (examples/web/index.html) in headless Chromium, served by
//! the demo's parts (library backend, page server, polygate from examples/demo.yaml), shows
//! the followed shelf, the librarian's answers and a book added by a unary call — all over one
//! WebSocket. Chromium is driven over the DevTools protocol with tokio-tungstenite. Debian's
//! `chromium` package must be installed (.ci/run installs it); without it the test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::library::{library_backend, library_pool};
use crate::support::web::start_page_server;
use crate::support::{demo_config, root, scratch_dir};

/// Headless Chromium with a fresh profile; killed when dropped.
struct Browser {
    child: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the browser test needs headless Chromium: install Debian's chromium package \
                 (apt-get install chromium; .ci/run does)"
            )
        })
}

/// Starts Chromium and returns it with the browser's DevTools WebSocket URL.
async fn launch(profile: &Path) -> (Browser, String) {
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Chromium starts");
    let browser = Browser { child };
    // Chromium writes the port it chose, and the browser's path, once it listens.
    let port_file = profile.join("DevToolsActivePort");
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return (browser, format!("ws://127.0.0.1:{port}{path}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Chromium wrote no {} within 30 s", port_file.display());
}

/// A DevTools protocol client on one page.
struct DevTools {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
}

impl DevTools {
    async fn command(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("DevTools takes the command");
        loop {
            let Some(Ok(Message::Text(text))) = self.socket.next().await else {
                panic!("DevTools closed while waiting for {method}");
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method} failed: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its JSON value.
    async fn evaluate(&mut self, expression: &str) -> Value {
        let result = self
            .command(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "the page threw: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Reads the page until `done` holds for what it shows (up to 30 s); returns that.
    async fn wait_for(&mut self, done: impl Fn(&Value) -> bool) -> Value {
        let mut shown = Value::Null;
        for _ in 0..300 {
            shown = self.evaluate(PAGE_STATE).await;
            if done(&shown) {
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed what was expected; it shows {shown:#}");
    }
}

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

    let profile = scratch_dir().join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let (browser, devtools_url) = launch(&profile).await;
    let (socket, _) = tokio_tungstenite::connect_async(devtools_url.as_str())
        .await
        .expect("DevTools answers");
    let mut devtools = DevTools {
        socket,
        next_id: 0,
        session: None,
    };
    let target = devtools
        .command("Target.createTarget", json!({"url": page}))
        .await;
    let attached = devtools
        .command(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    devtools.session = Some(attached["sessionId"].as_str().unwrap().to_owned());

    let shown = devtools
        .wait_for(|page| {
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
        .wait_for(|page| page["books"].as_array().is_some_and(|b| b.len() == 2))
        .await;
    devtools
        .evaluate(r#"ask("And now, anything by Tolstoy?"); "asked""#)
        .await;
    let shown = devtools
        .wait_for(|page| {
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
