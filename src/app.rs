//! Wires a validated `Config` into running parts: backends, descriptor pools, the route table,
//! the pipeline and the listeners. `polygate check` runs the same code up to the route table.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use std::collections::BTreeMap;

use crate::admin::{AdminConfig, AdminServer, AdminSettings, AdminState};
use crate::backends::{self, BackendConfig};
use crate::config::{Config, ConfigError};
use crate::describe::ApiDocsSettings;
use crate::descriptors::load_schema;
use crate::frontends::{self, FrontendSettings, Listener, Shutdown, ShutdownTrigger};
use crate::mapping::source::{load_mapping, RuleOrigin};
use crate::mapping::{BackendSchema, RouteError, RouteSources, RouteTable, TargetBackend};
use crate::model::{Backend, BackendKind};
use crate::mqtt_client::EmbeddedEndpoint;
use crate::pipeline::Pipeline;
use crate::policy::Policies;
use crate::reload::{self, Reloader};
use crate::shared_state::{RedisConfig, SharedState};
use crate::telemetry::access_log::AccessLog;

/// Everything a config describes, built and checked, not yet listening.
pub struct Gateway {
    /// The request path.
    pub pipeline: Arc<Pipeline>,
    /// The configured frontends' settings.
    pub frontends: Vec<FrontendSettings>,
    /// The admin listener's settings, when configured.
    pub admin: Option<AdminSettings>,
    /// The backends built, reused by reloads that leave their settings alone.
    pub backends: BackendCache,
    /// The config it was built from.
    pub config: Config,
    embedded: EmbeddedEndpoint,
}

/// Backends by name, each with the settings it was built from.
pub type BackendCache = BTreeMap<String, (BackendConfig, Arc<dyn Backend>)>;

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
    let jwt_passwords = frontends.iter().any(|f| {
        matches!(f, FrontendSettings::Mqtt(mqtt)
            if matches!(&mqtt.mode, frontends::mqtt::BrokerMode::Embedded(e) if e.jwt_passwords))
    });
    if jwt_passwords && config.policies.jwt.is_none() {
        errors.push(ConfigError::general(
            "mqtt: embedded.jwt_passwords verifies passwords with policies.jwt, which is not configured",
        ));
    }
    let policies = match Policies::build(&config.policies, &config.base_dir) {
        Ok(policies) => policies,
        Err(messages) => {
            errors.extend(messages.into_iter().map(ConfigError::general));
            Policies::default()
        }
    };
    let admin = match config.admin.as_ref().map(AdminConfig::validate) {
        None => None,
        Some(Ok(settings)) => Some(settings),
        Some(Err(message)) => {
            errors.push(ConfigError::general(message));
            None
        }
    };
    if let Err(message) = config.tracing.validate() {
        errors.push(ConfigError::general(message));
    }
    let cache = config.cache.validate().unwrap_or_else(|message| {
        errors.push(ConfigError::general(message));
        Default::default()
    });
    let shared = match config.redis.as_ref().map(RedisConfig::validate) {
        None => None,
        Some(Ok(settings)) => match SharedState::new(settings) {
            Ok(state) => Some(Arc::new(state)),
            Err(error) => {
                errors.push(ConfigError::general(format!("redis: {error}")));
                None
            }
        },
        Some(Err(messages)) => {
            errors.extend(messages.into_iter().map(ConfigError::general));
            None
        }
    };
    let policies = policies.with_shared(shared.clone());
    let websocket = frontends
        .iter()
        .any(|f| matches!(f, FrontendSettings::WebSocket(_)));
    let built = build_routes(config, &BackendCache::new(), &embedded, websocket).await;
    match built {
        Ok((table, backends)) => {
            if let Err(refused) = check_route_policies(&policies, &table) {
                errors.extend(refused);
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            policies.start().await;
            Ok(Gateway {
                pipeline: Arc::new(
                    Pipeline::with_policies(table, policies).with_cache_shared(cache, shared),
                ),
                frontends,
                admin,
                backends,
                config: config.clone(),
                embedded,
            })
        }
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// Checks that every route's policy asks only for what `policies` configures (a scheme named in
/// `auth:` must be set up in `policies:`).
pub fn check_route_policies(
    policies: &Policies,
    table: &RouteTable,
) -> Result<(), Vec<ConfigError>> {
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
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused)
    }
}

/// Builds the backends and the route table of `config`, reusing the backends of `previous`
/// whose settings did not change (they keep their connections); `websocket` says whether the
/// WebSocket frontend is on. `polygate check`, start-up and reloads all validate here.
pub async fn build_routes(
    config: &Config,
    previous: &BackendCache,
    embedded: &EmbeddedEndpoint,
    websocket: bool,
) -> Result<(RouteTable, BackendCache), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut built = BackendCache::new();
    let mut schemas = Vec::new();
    let mut target_backends = Vec::new();
    for (name, backend_config) in &config.backends {
        let backend = match previous.get(name) {
            Some((settings, backend)) if settings == backend_config => backend.clone(),
            _ => match backends::build(name, backend_config, &config.base_dir, embedded) {
                Ok(backend) => backend,
                Err(message) => {
                    errors.push(ConfigError::general(format!("backend '{name}': {message}")));
                    continue;
                }
            },
        };
        built.insert(name.clone(), (backend_config.clone(), backend.clone()));
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
        Ok(table) if table.has_websocket_routes() && !websocket => {
            Err(vec![ConfigError::general(
                "routes bind WebSocket paths (websocket:), but the WebSocket frontend is off; add a websocket: section (websocket: {} takes the defaults)",
            )])
        }
        Ok(table) => Ok((table, built)),
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
    admin: Option<RunningAdmin>,
    reloader: Option<Arc<Reloader>>,
}

/// The admin listener serving in the background.
struct RunningAdmin {
    addr: SocketAddr,
    state: Arc<AdminState>,
    shutdown_delay: std::time::Duration,
    trigger: ShutdownTrigger,
    task: JoinHandle<()>,
}

impl Running {
    /// Where the frontend written under `key` listens.
    pub fn local_addr(&self, key: &str) -> Option<SocketAddr> {
        self.frontends.iter().find(|f| f.key == key).map(|f| f.addr)
    }

    /// Where the admin listener listens, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|admin| admin.addr)
    }

    /// The admin pages' state, when configured.
    pub fn admin(&self) -> Option<&Arc<AdminState>> {
        self.admin.as_ref().map(|admin| &admin.state)
    }

    /// What reloads the config file (none when the gateway was started otherwise).
    pub fn reloader(&self) -> Option<&Arc<Reloader>> {
        self.reloader.as_ref()
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

    /// Shuts down gracefully: `/readyz` turns false (for `admin.shutdown_delay`), then the
    /// listeners stop accepting and work under way finishes (each frontend's drain timeout);
    /// the admin listener stops last.
    pub async fn shutdown(self) {
        if let Some(admin) = &self.admin {
            admin.state.drain();
            if !admin.shutdown_delay.is_zero() {
                tracing::info!(
                    "readiness is false; listeners stop accepting in {:?}",
                    admin.shutdown_delay
                );
                tokio::time::sleep(admin.shutdown_delay).await;
            }
        }
        self.trigger.fire();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(admin) = self.admin {
            admin.trigger.fire();
            let _ = admin.task.await;
        }
        self.pipeline.telemetry().flush_access_log();
        self.pipeline.telemetry().stop_spans().await;
    }
}

/// Binds the listeners of `gateway` (and its admin listener), starts its access log, and
/// serves in the background.
pub async fn start(gateway: Gateway) -> std::io::Result<Running> {
    let config = gateway.config;
    gateway
        .pipeline
        .telemetry()
        .start_access_log(AccessLog::start(&config.access_log, &config.base_dir)?);
    gateway.pipeline.start_shared();
    let spans = config.tracing.validate().map_err(std::io::Error::other)?;
    gateway
        .pipeline
        .telemetry()
        .start_spans(spans.as_ref())
        .map_err(std::io::Error::other)?;
    let websocket_path = gateway.frontends.iter().find_map(|f| match f {
        FrontendSettings::WebSocket(ws) => Some(ws.path.clone()),
        _ => None,
    });
    let listeners = frontends::bind(gateway.frontends).await?;
    let mut running = start_listeners(gateway.pipeline.clone(), listeners)?;
    if let Some(settings) = gateway.admin {
        let ready = running
            .frontends
            .iter()
            .filter_map(|f| Some((f.key, f.ready.clone()?)))
            .collect();
        let shutdown_delay = settings.shutdown_delay;
        // The same documents as the HTTP listener's api_docs, naming the HTTP listener as the
        // API's address (the admin listener serves no API calls).
        let docs = ApiDocsSettings {
            prefix: String::new(),
            websocket_path,
            server: running
                .frontends
                .iter()
                .find(|f| f.key == "http")
                .map(|f| f.url.clone()),
        };
        let state = Arc::new(
            AdminState::new(settings, gateway.pipeline.clone(), ready, &config).with_api_docs(docs),
        );
        let server = AdminServer::bind(state.clone()).await?;
        let (trigger, shutdown) = Shutdown::new();
        running.admin = Some(RunningAdmin {
            addr: server.local_addr(),
            state,
            shutdown_delay,
            trigger,
            task: tokio::spawn(server.serve(shutdown)),
        });
    }
    let websocket = config.websocket.is_some();
    running.reloader = Some(Arc::new(Reloader::new(
        gateway.pipeline,
        running.admin.as_ref().map(|a| a.state.clone()),
        config,
        gateway.backends,
        gateway.embedded,
        websocket,
    )));
    Ok(running)
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
        admin: None,
        reloader: None,
    })
}

/// Builds, starts and serves `config` until `shutdown` completes, reloading on SIGHUP and on
/// file changes (`reload:`).
pub async fn run(
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Vec<ConfigError>> {
    let gateway = build(config).await?;
    let routes = gateway.pipeline.routes().len();
    let triggers = reload::Triggers::listen();
    let running = start(gateway)
        .await
        .map_err(|e| vec![ConfigError::general(format!("cannot listen: {e}"))])?;
    if let Some(addr) = running.admin_addr() {
        tracing::info!(%addr, "polygate admin listener on http://{addr} (/healthz /readyz /metrics /config /routes)");
    }
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
    let reloading = running
        .reloader()
        .filter(|_| config.source.is_some())
        .map(|reloader| {
            tokio::spawn(reload::watch(
                reloader.clone(),
                config.reload.clone(),
                triggers,
            ))
        });
    shutdown.await;
    tracing::info!("shutting down");
    if let Some(reloading) = reloading {
        reloading.abort();
    }
    running.shutdown().await;
    Ok(())
}
