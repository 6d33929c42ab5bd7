//! A real redis-server (Debian's package, installed by .ci/run) on a free loopback port, with
//! no persistence; killed when dropped or when a test stops it mid-run.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::mqtt::free_port;

/// redis-server running for one test.
pub struct RedisServer {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
}

impl RedisServer {
    /// Starts redis-server and waits until it answers PING.
    pub async fn start() -> Self {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("/usr/bin/redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts (installed by .ci/run)");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut server = Self { addr, child };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while tokio::time::Instant::now() < deadline {
                if server.ping().await {
                    return server;
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            server.kill();
        }
        panic!("redis-server did not start");
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    async fn ping(&self) -> bool {
        let Ok(mut connection) = self.connection().await else {
            return false;
        };
        let pong: redis::RedisResult<String> =
            redis::cmd("PING").query_async(&mut connection).await;
        pong.is_ok_and(|p| p == "PONG")
    }

    /// Runs one command and returns its answer.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> T {
        let mut connection = self.connection().await.expect("redis answers");
        command
            .query_async(&mut connection)
            .await
            .expect("the command succeeds")
    }

    /// How many clients subscribe to `channel`.
    pub async fn subscribers(&self, channel: &str) -> u64 {
        let (_, count): (String, u64) = self
            .query(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel))
            .await;
        count
    }

    /// Waits (bounded) until `channel` has `count` subscribers.
    pub async fn wait_subscribers(&self, channel: &str, count: u64) {
        super::bounded("the purge subscriptions", async {
            while self.subscribers(channel).await < count {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    /// Stops the server (SIGSTOP): connections stay open and nothing is answered.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
