//! The real `polygate` binary as a child process: started with a config or flags, ready once
//! it logs the listener it serves on, signalled, and waited for.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::Client;

/// `polygate` from this build.
pub fn polygate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polygate"))
}

/// polygate serving as a child process.
pub struct Serving {
    child: Child,
    /// A client pointed at its REST listener.
    pub client: Client,
    /// A client pointed at its admin listener, when it has one.
    pub admin: Option<Client>,
    /// Where its MQTT frontend's embedded broker listens, when it has one.
    pub mqtt: Option<std::net::SocketAddr>,
}

impl Serving {
    /// `polygate serve --config <config>`.
    pub async fn config(config: &Path) -> Self {
        let mut command = polygate();
        command.args(["serve", "--config"]).arg(config);
        Self::start(command).await
    }

    /// `polygate serve --config <config>` with a REST listener and an MQTT frontend, once
    /// its MQTT bridge logged that every subscription was acknowledged.
    pub async fn config_mqtt(config: &Path) -> Self {
        let mut command = polygate();
        command.args(["serve", "--config"]).arg(config);
        Self::start_until(command, "MQTT bridge ready").await
    }

    /// Runs `command` (a `serve` invocation) and waits until it logs its REST listener.
    pub async fn start(command: Command) -> Self {
        Self::start_until(command, "serving REST/JSON on ").await
    }

    /// Runs `command` (a `serve` invocation with a REST listener) and waits until it logs a
    /// line holding `until`.
    pub async fn start_until(mut command: Command, until: &'static str) -> Self {
        let mut child = command
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("polygate starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (base, admin, mqtt) = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stderr).lines();
            let mut admin = None;
            let mut base = None;
            let mut mqtt = None;
            let mut seen = false;
            loop {
                let line = lines
                    .next()
                    .expect("polygate exited before listening")
                    .expect("a log line");
                if let Some(at) = line.find("admin listener on ") {
                    admin = line[at + "admin listener on ".len()..]
                        .split_whitespace()
                        .next()
                        .map(|url| Client::new(url.to_owned()));
                }
                if let Some(at) = line.find("serving REST/JSON on ") {
                    base = line[at + "serving REST/JSON on ".len()..]
                        .split_whitespace()
                        .next()
                        .map(str::to_owned);
                }
                if let Some(at) = line.find("serving MQTT on mqtt://") {
                    mqtt = line[at + "serving MQTT on mqtt://".len()..]
                        .split_whitespace()
                        .next()
                        .and_then(|addr| addr.parse().ok());
                }
                seen |= line.contains(until);
                // The frontends' lines and the bridge's may come in either order.
                if seen && base.is_some() && (mqtt.is_some() || !until.contains("MQTT")) {
                    // Keep draining so the child never blocks on a full pipe.
                    std::thread::spawn(move || for _ in lines {});
                    return (base.unwrap_or_default(), admin, mqtt);
                }
            }
        })
        .await
        .expect("the log reader");
        Self {
            child,
            client: Client::new(base),
            admin,
            mqtt,
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends SIGHUP.
    pub fn hangup(&self) {
        self.signal("HUP");
    }

    /// Sends SIGKILL.
    pub fn kill(&self) {
        self.signal("KILL");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit; its exit code (none when a signal ended it).
    pub async fn exited(mut self) -> Option<i32> {
        tokio::task::spawn_blocking(move || self.child.wait().expect("the child").code())
            .await
            .expect("the waiter")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // A failed test must not leave a gateway running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
