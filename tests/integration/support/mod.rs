//! The integration harness: real gRPC backends on ephemeral loopback ports, polygate started
//! from a config file in a scratch directory, and a real HTTP client.

#![allow(dead_code, unreachable_pub)]

pub mod binary;
pub mod browser;
#[path = "../../../examples/common/grpc_server.rs"]
pub mod grpc_server;
pub mod http_client;
#[path = "../../../examples/common/http_server.rs"]
pub mod http_server;
pub mod legacy;
#[path = "../../../examples/common/library.rs"]
pub mod library;
pub mod live;
pub mod mqtt;
pub mod redis_server;
#[path = "../../../examples/common/reviews.rs"]
pub mod reviews;
#[path = "../../../examples/common/warehouse.rs"]
pub mod warehouse;
#[path = "../../../examples/common/web.rs"]
pub mod web;
pub mod ws_client;
#[path = "../../../examples/common/xml_tree.rs"]
pub mod xml_tree;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

pub use grpc_server::{GrpcServer, GrpcServerBuilder, Reply};
pub use http_client::Client;

/// Waits for `future`, failing the test (instead of hanging it) when the property it waits for
/// is broken and it never completes.
pub async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen"))
}

/// The crate's root directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The descriptors of `tests/protos/polygate/test/v1/testing.proto`.
pub fn test_pool() -> DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let protos = root().join("tests/protos");
        let encoded = polygate::descriptors::compile_protos(
            &[protos.join("polygate/test/v1/testing.proto")],
            &[protos],
        )
        .expect("the test protos compile");
        DescriptorPool::decode(encoded.as_slice()).expect("the test descriptors decode")
    })
    .clone()
}

/// A backend for the test services; unhandled methods echo their request.
pub fn test_backend() -> GrpcServerBuilder {
    GrpcServerBuilder::new(test_pool())
}

/// A fresh scratch directory under the system's temp directory.
pub fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "polygate-it-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// polygate serving in this process, with a client pointed at it.
pub struct Gateway {
    pub client: Client,
    pub dir: PathBuf,
    running: polygate::app::Running,
}

impl Gateway {
    /// Starts polygate from `config` (YAML, written to `polygate.yaml` in a scratch directory,
    /// next to any `files` given as (name, contents)).
    pub async fn start(config: &str, files: &[(&str, &str)]) -> Self {
        polygate::install_crypto_provider();
        let dir = scratch_dir();
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        let path = dir.join("polygate.yaml");
        std::fs::write(&path, config).unwrap();
        let running = serve(&path).await;
        let client = Client::new(format!(
            "http://{}",
            running.local_addr("http").expect("an http listener")
        ));
        Self {
            client,
            dir,
            running,
        }
    }

    /// polygate in front of `backend` serving the test protos, with `extra` appended to the
    /// config (e.g. a `routes:` section).
    pub async fn for_test_backend(backend: &GrpcServer, extra: &str) -> Self {
        Self::start(&test_config(&backend.url(), extra), &[]).await
    }

    /// Where the frontend written under `key` listens.
    pub fn addr(&self, key: &str) -> std::net::SocketAddr {
        self.running
            .local_addr(key)
            .unwrap_or_else(|| panic!("no {key} listener"))
    }

    /// polygate in front of a backend at `url` said to serve the test protos (which may not
    /// be true: for backends that misbehave).
    pub async fn for_test_backend_url(url: &str, extra: &str) -> Self {
        Self::start(&test_config(url, extra), &[]).await
    }

    /// A client of the admin listener (the config needs an `admin:` section).
    pub fn admin(&self) -> Client {
        Client::new(format!(
            "http://{}",
            self.running.admin_addr().expect("an admin listener")
        ))
    }

    /// The running gateway.
    pub fn running(&self) -> &polygate::app::Running {
        &self.running
    }

    /// The backend configured as `name`, as the routes hold it.
    pub fn backend(&self, name: &str) -> std::sync::Arc<dyn polygate::model::Backend> {
        self.running
            .pipeline
            .routes()
            .routes()
            .find(|route| &*route.backend_name == name)
            .map(|route| route.backend.clone())
            .unwrap_or_else(|| panic!("no route uses backend {name}"))
    }

    /// Stops the gateway.
    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}

/// polygate serving the config file at `path` in this process; fails the test, naming every
/// error, when the config is refused.
pub async fn serve(path: &Path) -> polygate::app::Running {
    let config = polygate::config::Config::from_file(path).expect("the test config parses");
    let gateway = match polygate::app::build(&config).await {
        Ok(gateway) => gateway,
        Err(errors) => panic!(
            "gateway config rejected: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    polygate::app::start(gateway)
        .await
        .expect("the gateway listens")
}

/// A config for the test protos with one gRPC backend named `test`.
pub fn test_config(backend_url: &str, extra: &str) -> String {
    let protos = root().join("tests/protos");
    format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  test:\n    grpc:\n      url: {backend_url}\n      schema:\n        protos: [polygate/test/v1/testing.proto]\n        proto_paths: [{}]\n{extra}",
        protos.display()
    )
}

/// A message as the reference implementation (prost-reflect) writes it in proto3 JSON, to
/// compare what reached a backend with what a test expects.
pub fn to_json(message: &DynamicMessage) -> serde_json::Value {
    let options = SerializeOptions::new().skip_default_fields(true);
    let mut serializer = serde_json::Serializer::new(Vec::new());
    message
        .serialize_with_options(&mut serializer, &options)
        .unwrap();
    serde_json::from_slice(&serializer.into_inner()).unwrap()
}

/// A message of `type_name` from the test pool, built from proto3 JSON by the reference
/// implementation.
pub fn message(type_name: &str, json: serde_json::Value) -> DynamicMessage {
    let descriptor = test_pool()
        .get_message_by_name(type_name)
        .expect("message type in the test pool");
    DynamicMessage::deserialize(descriptor, json).expect("valid proto3 JSON")
}

/// `count` test messages named `m1`, `m2`, … with `int32Value` 1, 2, ….
pub fn numbered(count: usize) -> Vec<DynamicMessage> {
    (1..=count)
        .map(|i| {
            message(
                "polygate.test.v1.Everything",
                serde_json::json!({"name": format!("m{i}"), "int32Value": i}),
            )
        })
        .collect()
}

/// The names of the request messages a call received.
pub fn request_names(call: &grpc_server::Call) -> Vec<String> {
    call.messages
        .iter()
        .map(|m| to_json(m)["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The quickstart's config (`examples/demo.yaml`) with its listeners on ephemeral ports and
/// the embedded broker's storage in a scratch directory.
pub fn demo_config() -> polygate::config::Config {
    let mut config =
        polygate::config::Config::from_file(&root().join("examples/demo.yaml")).unwrap();
    config.http.as_mut().expect("an http listener").listen = "127.0.0.1:0".into();
    if let Some(admin) = config.admin.as_mut() {
        admin.listen = Some("127.0.0.1:0".into());
    }
    let embedded = config
        .mqtt
        .as_mut()
        .and_then(|mqtt| mqtt.embedded.as_mut())
        .expect("an embedded MQTT broker");
    embedded.listen = "127.0.0.1:0".into();
    embedded.storage_dir = Some(scratch_dir().join("mqtt"));
    config
}
