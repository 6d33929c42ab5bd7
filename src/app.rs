//! Wires a validated `Config` into running parts: backends, descriptor pools, the route table,
//! the pipeline and the listeners. `polygate check` runs the same code up to the route table.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::backends;
use crate::config::{Config, ConfigError};
use crate::descriptors::load_schema;
use crate::frontends::{self, FrontendSettings, Listener, Shutdown, ShutdownTrigger};
use crate::mapping::source::{load_mapping, RuleOrigin};
use crate::mapping::{BackendSchema, RouteError, RouteSources, RouteTable, TargetBackend};
use crate::model::BackendKind;
use crate::mqtt_client::EmbeddedEndpoint;
use crate::pipeline::Pipeline;
use crate::policy::Policies;

/// Everything a config describes, built and checked, not yet listening.
pub struct Gateway {
    /// The request path.
    pub pipeline: Arc<Pipeline>,
    /// The configured frontends' settings.
    pub frontends: Vec<FrontendSettings>,
}

/// Builds every part of `config`, collecting every error.
pub async fn build(config: &Config) -> Result<Gateway, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut frontends = Vec::new();
    let embedded = EmbeddedEndpoint::new();
    for frontend in config.frontends() {
        match frontend.validate(&config.base_dir, &embedded) {
            Ok(settings) => frontends.push(settings),
            Err(message) => errors.push(ConfigError::general(format!(
                "{}: {message}",
                frontend.key()
            ))),
        }
    }
    if let Err(message) = frontends::check(&frontends) {
        errors.push(ConfigError::general(message));
    }
    let policies = match Policies::build(&config.policies, &config.base_dir) {
        Ok(policies) => policies,
        Err(messages) => {
            errors.extend(messages.into_iter().map(ConfigError::general));
            Policies::default()
        }
    };

    let mut schemas = Vec::new();
    let mut target_backends = Vec::new();
    for (name, backend_config) in &config.backends {
        let backend = match backends::build(name, backend_config, &config.base_dir, &embedded) {
            Ok(backend) => backend,
            Err(message) => {
                errors.push(ConfigError::general(format!("backend '{name}': {message}")));
                continue;
            }
        };
        let kind = backend_config.kind();
        if kind != BackendKind::Grpc {
            target_backends.push(TargetBackend {
                name: Arc::from(name.as_str()),
                backend: backend.clone(),
                kind,
            });
        }
        let Some(schema) = backend_config.schema() else {
            continue;
        };
        if schema.is_empty() {
            errors.push(ConfigError::general(format!(
                "backend '{name}': schema needs protos, descriptor_sets or reflection"
            )));
            continue;
        }
        match load_schema(schema, &config.base_dir, backend.as_ref()).await {
            Ok(pool) => schemas.push(BackendSchema {
                name: Arc::from(name.as_str()),
                backend,
                pool,
            }),
            Err(error) => errors.push(ConfigError::general(format!("backend '{name}': {error}"))),
        }
    }

    let mut mapping_rules = Vec::new();
    let mut target_routes = Vec::new();
    match config.mapping_files() {
        Ok(files) => {
            for file in files {
                match load_mapping(&file) {
                    Ok(contents) => {
                        mapping_rules.extend(contents.rules);
                        target_routes.extend(contents.routes);
                    }
                    Err(error) => {
                        errors.push(ConfigError::at(&file, Some(error.line), error.message))
                    }
                }
            }
        }
        Err(error) => errors.push(error),
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let sources = RouteSources {
        backends: &schemas,
        mapping_rules,
        defaults: config.routes.defaults(),
        expose_unannotated: config.routes.expose_unannotated_methods,
        target_backends: &target_backends,
        target_routes,
    };
    match RouteTable::build(sources) {
        Ok(table)
            if table.has_websocket_routes()
                && !frontends
                    .iter()
                    .any(|f| matches!(f, FrontendSettings::WebSocket(_))) =>
        {
            Err(vec![ConfigError::general(
                "routes bind WebSocket paths (websocket:), but the WebSocket frontend is off; add a websocket: section (websocket: {} takes the defaults)",
            )])
        }
        Ok(table) => {
            let refused: Vec<ConfigError> = table
                .routes()
                .filter_map(|route| {
                    policies.check_route(&route.options.policy).err().map(|e| {
                        ConfigError::general(format!(
                            "route {} {}: {e}",
                            route.pattern.verb(),
                            route.pattern.address()
                        ))
                    })
                })
                .collect();
            if !refused.is_empty() {
                return Err(refused);
            }
            policies.start().await;
            Ok(Gateway {
                pipeline: Arc::new(Pipeline::with_policies(table, policies)),
                frontends,
            })
        }
        Err(route_errors) => Err(route_errors.into_iter().map(route_error).collect()),
    }
}

/// Warns when a listener outside loopback serves routes anyone may call.
fn warn_unauthenticated(running: &Running) {
    let table = running.pipeline.routes();
    let policies = running.pipeline.policies();
    let public = table
        .routes()
        .filter(|route| {
            let verb = http::Method::from_bytes(route.pattern.verb().as_bytes()).ok();
            policies.is_public(&route.options.policy, verb.as_ref())
        })
        .count();
    for frontend in &running.frontends {
        // MQTT clients are the broker's to authenticate (users, acl), not the routes'.
        if frontend.addr.ip().is_loopback() || frontend.key == "mqtt" {
            continue;
        }
        if public > 0 {
            tracing::warn!(
                addr = %frontend.addr,
                public,
                "{} listens outside loopback and serves {public} routes without authentication (`polygate check` marks them; set policies.default_auth)",
                frontend.protocol
            );
        }
    }
}

fn route_error(error: RouteError) -> ConfigError {
    match &error.origin {
        RuleOrigin::MappingFile { path, line } => ConfigError::at(path, Some(*line), error.message),
        _ => ConfigError::general(error.to_string()),
    }
}

/// A frontend serving in the background.
#[derive(Debug, Clone)]
pub struct BoundFrontend {
    /// The config key it was written under (`http`).
    pub key: &'static str,
    /// What clients speak to it (`REST/JSON`).
    pub protocol: &'static str,
    /// Where clients reach it (`http://127.0.0.1:8080`).
    pub url: String,
    /// The bound socket address.
    pub addr: SocketAddr,
    /// Whether it is ready, for frontends that say so (MQTT: every subscription acknowledged).
    pub ready: Option<tokio::sync::watch::Receiver<bool>>,
}

/// A gateway serving in the background.
pub struct Running {
    /// Every frontend, in config order.
    pub frontends: Vec<BoundFrontend>,
    /// The request path (for swapping routes).
    pub pipeline: Arc<Pipeline>,
    trigger: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Where the frontend written under `key` listens.
    pub fn local_addr(&self, key: &str) -> Option<SocketAddr> {
        self.frontends.iter().find(|f| f.key == key).map(|f| f.addr)
    }

    /// Waits until the frontend written under `key` is ready (at once for frontends that are
    /// ready when bound); false if there is no such frontend or it stopped first.
    pub async fn wait_ready(&self, key: &str) -> bool {
        let Some(frontend) = self.frontends.iter().find(|f| f.key == key) else {
            return false;
        };
        match &frontend.ready {
            None => true,
            Some(ready) => ready.clone().wait_for(|ready| *ready).await.is_ok(),
        }
    }

    /// Stops accepting, lets requests under way finish, and waits until done.
    pub async fn shutdown(self) {
        self.trigger.fire();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Binds the listeners of `gateway` and serves in the background.
pub async fn start(gateway: Gateway) -> std::io::Result<Running> {
    let listeners = frontends::bind(gateway.frontends).await?;
    start_listeners(gateway.pipeline, listeners)
}

/// Serves already bound listeners through `pipeline`: the one place every frontend, configured
/// or not, is started and stopped.
pub fn start_listeners(
    pipeline: Arc<Pipeline>,
    listeners: Vec<(&'static str, Box<dyn Listener>)>,
) -> std::io::Result<Running> {
    let (trigger, shutdown) = Shutdown::new();
    let mut bound = Vec::with_capacity(listeners.len());
    let mut tasks = Vec::with_capacity(listeners.len());
    for (key, listener) in listeners {
        bound.push(BoundFrontend {
            key,
            protocol: listener.protocol(),
            url: listener.url(),
            addr: listener.local_addr(),
            ready: listener.readiness(),
        });
        tasks.push(tokio::spawn(
            listener.serve(pipeline.clone(), shutdown.clone()),
        ));
    }
    Ok(Running {
        frontends: bound,
        pipeline,
        trigger,
        tasks,
    })
}

/// Builds, starts and serves `config` until `shutdown` completes.
pub async fn run(
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Vec<ConfigError>> {
    let gateway = build(config).await?;
    let routes = gateway.pipeline.routes().len();
    let running = start(gateway)
        .await
        .map_err(|e| vec![ConfigError::general(format!("cannot listen: {e}"))])?;
    for frontend in &running.frontends {
        tracing::info!(
            addr = %frontend.addr,
            routes,
            "polygate is serving {} on {}",
            frontend.protocol,
            frontend.url
        );
    }
    warn_unauthenticated(&running);
    shutdown.await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
