//! Wires a validated `Config` into running parts: backends, descriptor pools, the route table,
//! the pipeline and the listeners. `polygate check` runs the same code up to the route table.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backends;
use crate::config::{Config, ConfigError};
use crate::descriptors::load_schema;
use crate::frontends::http::{HttpFrontendSettings, HttpServer};
use crate::mapping::legacy::LegacyBackend;
use crate::mapping::source::{load_mapping, RuleOrigin};
use crate::mapping::{BackendSchema, RouteError, RouteSources, RouteTable};
use crate::model::BackendKind;
use crate::pipeline::Pipeline;

/// Everything a config describes, built and checked, not yet listening.
pub struct Gateway {
    /// The request path.
    pub pipeline: Arc<Pipeline>,
    /// The REST/JSON frontend's settings, when configured.
    pub http: Option<HttpFrontendSettings>,
}

/// Builds every part of `config`, collecting every error.
pub async fn build(config: &Config) -> Result<Gateway, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let http = match config.http.as_ref().map(|h| h.validate()).transpose() {
        Ok(http) => http,
        Err(message) => {
            errors.push(ConfigError::general(format!("http: {message}")));
            None
        }
    };

    let mut schemas = Vec::new();
    let mut legacy_backends = Vec::new();
    for (name, backend_config) in &config.backends {
        let backend = match backends::build(name, backend_config, &config.base_dir) {
            Ok(backend) => backend,
            Err(message) => {
                errors.push(ConfigError::general(format!("backend '{name}': {message}")));
                continue;
            }
        };
        let kind = backend_config.kind();
        if kind != BackendKind::Grpc {
            legacy_backends.push(LegacyBackend {
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
    let mut legacy_routes = Vec::new();
    match config.mapping_files() {
        Ok(files) => {
            for file in files {
                match load_mapping(&file) {
                    Ok(contents) => {
                        mapping_rules.extend(contents.rules);
                        legacy_routes.extend(contents.routes);
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
        legacy_backends: &legacy_backends,
        legacy_routes,
    };
    match RouteTable::build(sources) {
        Ok(table) => Ok(Gateway {
            pipeline: Arc::new(Pipeline::new(table)),
            http,
        }),
        Err(route_errors) => Err(route_errors.into_iter().map(route_error).collect()),
    }
}

fn route_error(error: RouteError) -> ConfigError {
    match &error.origin {
        RuleOrigin::MappingFile { path, line } => ConfigError::at(path, Some(*line), error.message),
        _ => ConfigError::general(error.to_string()),
    }
}

/// A gateway serving in the background.
pub struct Running {
    /// Where the REST/JSON frontend listens.
    pub http_addr: Option<SocketAddr>,
    /// The request path (for swapping routes).
    pub pipeline: Arc<Pipeline>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets requests under way finish, and waits until done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds the listeners of `gateway` and serves in the background.
pub async fn start(gateway: Gateway) -> std::io::Result<Running> {
    let (stop, stopped) = oneshot::channel::<()>();
    let mut http_addr = None;
    let pipeline = gateway.pipeline.clone();
    let task = match gateway.http {
        Some(settings) => {
            let server = HttpServer::bind(settings).await?;
            http_addr = Some(server.local_addr()?);
            let pipeline = gateway.pipeline.clone();
            tokio::spawn(server.serve(pipeline, async move {
                let _ = stopped.await;
            }))
        }
        None => tokio::spawn(async move {
            let _ = stopped.await;
        }),
    };
    Ok(Running {
        http_addr,
        pipeline,
        stop: Some(stop),
        task,
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
    if let Some(addr) = running.http_addr {
        tracing::info!(%addr, routes, "polygate is serving REST/JSON on http://{addr}");
    }
    shutdown.await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
