//! Headless Chromium (Debian's `chromium` package; .ci/run installs it) driven over the
//! DevTools protocol with tokio-tungstenite: a fresh profile per browser, pages opened in tabs,
//! expressions evaluated, screenshots saved. Without Chromium a browser test fails.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Headless Chromium with a fresh profile; killed when dropped.
pub struct Browser {
    child: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromium() -> PathBuf {
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
pub async fn launch(profile: &Path) -> (Browser, String) {
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
pub struct DevTools {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
}

impl DevTools {
    pub async fn command(&mut self, method: &str, params: Value) -> Value {
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
    pub async fn evaluate(&mut self, expression: &str) -> Value {
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

    /// Evaluates `expression` until `done` holds for its value (up to 30 s); returns that.
    pub async fn wait_for(&mut self, expression: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut shown = Value::Null;
        for _ in 0..300 {
            shown = self.evaluate(expression).await;
            if done(&shown) {
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed what was expected; it shows {shown:#}");
    }

    /// Opens `url` in a new tab and speaks to that tab from now on.
    pub async fn open(&mut self, url: &str) {
        let target = self
            .command("Target.createTarget", json!({"url": url}))
            .await;
        let attached = self
            .command(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        self.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    }

    /// Saves a PNG of the page's viewport at `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let shot = self
            .command("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("a screenshot"))
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// A browser with a DevTools client, on a fresh profile under `profile`.
pub async fn start(profile: &Path) -> (Browser, DevTools) {
    std::fs::create_dir_all(profile).unwrap();
    let (browser, devtools_url) = launch(profile).await;
    let (socket, _) = tokio_tungstenite::connect_async(devtools_url.as_str())
        .await
        .expect("DevTools answers");
    let devtools = DevTools {
        socket,
        next_id: 0,
        session: None,
    };
    (browser, devtools)
}
