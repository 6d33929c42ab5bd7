//! Hot reload: on SIGHUP or a change to the config file, its mapping files or the backends'
//! `.proto` and descriptor-set files, the new route table and backends are built off the
//! request path, validated as `polygate check` validates, and swapped in atomically. A refused
//! change is logged and counted, and the old configuration keeps serving; requests and streams
//! under way finish on the table they started with; backends whose settings did not change are
//! reused with their connections.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::admin::AdminState;
use crate::app::{build_routes, check_route_policies, BackendCache};
use crate::config::units::ConfigDuration;
use crate::config::{Config, ConfigError};
use crate::mqtt_client::EmbeddedEndpoint;
use crate::pipeline::Pipeline;

/// The `reload:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Watch the config, mapping, `.proto` and descriptor-set files and reload when one
    /// changes. Default true. SIGHUP reloads either way.
    #[serde(default)]
    pub watch: Option<bool>,
    /// How often the files are checked. Default `1s`.
    #[serde(default)]
    pub interval: Option<ConfigDuration>,
}

/// Reloads the config file a gateway was started from.
pub struct Reloader {
    pipeline: Arc<Pipeline>,
    admin: Option<Arc<AdminState>>,
    embedded: EmbeddedEndpoint,
    websocket: bool,
    current: tokio::sync::Mutex<Current>,
}

struct Current {
    config: Config,
    backends: BackendCache,
    /// The watched files as they were when `config` was read from them: a change made while
    /// a reload reads them still differs from this, so the watcher reloads again.
    loaded: Fingerprint,
}

/// Each watched file with its modification time and length (`None`: unreadable).
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

impl Reloader {
    /// A reloader of the gateway serving `config` through `pipeline`.
    pub fn new(
        pipeline: Arc<Pipeline>,
        admin: Option<Arc<AdminState>>,
        config: Config,
        backends: BackendCache,
        embedded: EmbeddedEndpoint,
        websocket: bool,
    ) -> Self {
        Self {
            pipeline,
            admin,
            embedded,
            websocket,
            current: tokio::sync::Mutex::new(Current {
                loaded: fingerprint_now(watched_files(&config)),
                config,
                backends,
            }),
        }
    }

    /// Reads the config file again and, if everything in it builds, serves its routes; the
    /// number of routes now served, or every error found (the old configuration still serves).
    pub async fn reload(&self) -> Result<usize, Vec<ConfigError>> {
        let mut current = self.current.lock().await;
        let started = std::time::Instant::now();
        let before = fingerprint_of(&current.config).await;
        let outcome = self.build(&current).await;
        let metrics = &self.pipeline.telemetry().metrics.reloads;
        match outcome {
            Ok((config, table, backends)) => {
                let routes = table.len();
                if listeners_changed(&current.config, &config) {
                    tracing::warn!("reload: the http, mqtt, websocket, admin, access_log, tracing, policies and redis sections take effect at the next start; routes and backends are reloaded");
                }
                self.pipeline.replace_routes(table);
                if let Some(admin) = &self.admin {
                    admin.configured(&config);
                }
                let reused = backends
                    .iter()
                    .filter(|(name, (_, backend))| {
                        current
                            .backends
                            .get(*name)
                            .is_some_and(|(_, old)| Arc::ptr_eq(old, backend))
                    })
                    .count();
                // Files read before the reload keep the state they had then; new ones the
                // state they have now.
                let loaded = fingerprint_of(&config)
                    .await
                    .into_iter()
                    .map(|(file, seen)| {
                        let then = before.iter().find(|(old, _)| *old == file);
                        (file, then.map_or(seen, |(_, then)| *then))
                    })
                    .collect();
                *current = Current {
                    config,
                    backends,
                    loaded,
                };
                metrics.record(true);
                tracing::info!(
                    routes,
                    reused_backends = reused,
                    took = ?started.elapsed(),
                    "configuration reloaded"
                );
                Ok(routes)
            }
            Err(errors) => {
                current.loaded = before;
                metrics.record(false);
                for error in &errors {
                    tracing::error!("reload refused: {error}");
                }
                tracing::warn!(
                    errors = errors.len(),
                    "reload refused; the previous configuration keeps serving"
                );
                Err(errors)
            }
        }
    }

    async fn build(
        &self,
        current: &Current,
    ) -> Result<(Config, crate::mapping::RouteTable, BackendCache), Vec<ConfigError>> {
        let Some((path, _)) = &current.config.source else {
            return Err(vec![ConfigError::general(
                "the configuration came from command-line flags: there is no file to reload",
            )]);
        };
        let path = path.clone();
        let config = tokio::task::spawn_blocking(move || Config::from_file(&path))
            .await
            .map_err(|e| vec![ConfigError::general(format!("reading the config: {e}"))])?
            .map_err(|e| vec![e])?;
        let (table, backends) =
            build_routes(&config, &current.backends, &self.embedded, self.websocket).await?;
        check_route_policies(self.pipeline.policies(), &table)?;
        Ok((config, table, backends))
    }

    /// The files whose change triggers a reload, as they are now.
    async fn fingerprint(&self) -> Fingerprint {
        let files = watched_files(&self.current.lock().await.config);
        fingerprint_off_thread(files).await
    }

    /// The files whose change triggers a reload, as they were when the serving config was read.
    async fn loaded(&self) -> Fingerprint {
        self.current.lock().await.loaded.clone()
    }
}

async fn fingerprint_of(config: &Config) -> Fingerprint {
    fingerprint_off_thread(watched_files(config)).await
}

async fn fingerprint_off_thread(files: Vec<PathBuf>) -> Fingerprint {
    tokio::task::spawn_blocking(move || fingerprint_now(files))
        .await
        .unwrap_or_default()
}

fn fingerprint_now(files: Vec<PathBuf>) -> Fingerprint {
    files
        .into_iter()
        .map(|file| {
            let seen = std::fs::metadata(&file)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            (file, seen)
        })
        .collect()
}

fn listeners_changed(old: &Config, new: &Config) -> bool {
    old.http != new.http
        || old.mqtt != new.mqtt
        || old.websocket != new.websocket
        || old.admin != new.admin
        || old.access_log != new.access_log
        || old.tracing != new.tracing
        || old.policies != new.policies
        || old.redis != new.redis
}

/// The config file, its mapping files and directories, and the backends' `.proto` and
/// descriptor-set files.
fn watched_files(config: &Config) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some((path, _)) = &config.source {
        files.push(path.clone());
    }
    for entry in &config.mappings {
        files.push(config.base_dir.join(entry));
    }
    if let Ok(mappings) = config.mapping_files() {
        files.extend(mappings);
    }
    for backend in config.backends.values() {
        let Some(schema) = backend.schema() else {
            continue;
        };
        for set in &schema.descriptor_sets {
            files.push(config.base_dir.join(set));
        }
        let roots: Vec<PathBuf> = if schema.proto_paths.is_empty() {
            vec![config.base_dir.clone()]
        } else {
            schema
                .proto_paths
                .iter()
                .map(|p| config.base_dir.join(p))
                .collect()
        };
        for proto in &schema.protos {
            let found = roots
                .iter()
                .map(|root| root.join(proto))
                .find(|p| p.exists());
            files.push(found.unwrap_or_else(|| config.base_dir.join(proto)));
        }
    }
    files.sort();
    files.dedup();
    files
}

/// What starts a reload: SIGHUP, registered when this is made (so a SIGHUP sent once the
/// gateway says it serves never ends the process).
pub struct Triggers {
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Triggers {
    /// Starts listening for SIGHUP.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                hangup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn hangup(&mut self) {
        #[cfg(unix)]
        if let Some(hangup) = &mut self.hangup {
            hangup.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Reloads on SIGHUP, and when a watched file changes (unless `reload.watch` is false).
pub async fn watch(reloader: Arc<Reloader>, config: ReloadConfig, mut triggers: Triggers) {
    let watching = config.watch.unwrap_or(true);
    let period = config.interval.map_or(Duration::from_secs(1), |d| d.0);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Compared with the files as they were read, not as they are when watching starts: a
    // change made in between is not missed.
    let mut seen = reloader.loaded().await;
    loop {
        tokio::select! {
            () = triggers.hangup() => {
                tracing::info!("SIGHUP: reloading the configuration");
            }
            _ = ticks.tick(), if watching => {
                let now = reloader.fingerprint().await;
                if now == seen {
                    continue;
                }
                tracing::info!("a configuration file changed: reloading");
            }
        }
        let _ = reloader.reload().await;
        seen = reloader.loaded().await;
    }
}
