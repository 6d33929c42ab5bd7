//! Everything between a file on disk and a validated configuration: the YAML config file's
//! types (unknown keys are errors), loading with file:line errors, and typed units.

pub mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::backends::BackendConfig;
use crate::frontends::http::HttpFrontendConfig;
use crate::frontends::mqtt::MqttFrontendConfig;
use crate::frontends::websocket::WebSocketFrontendConfig;
use crate::frontends::FrontendConfig;
use crate::mapping::options::{
    BodyFieldCollision, JsonOptionsConfig, RouteOptionsConfig, UnknownQueryParameters,
};
use units::ConfigDuration;

/// The config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The REST/JSON frontend.
    #[serde(default)]
    pub http: Option<HttpFrontendConfig>,
    /// The MQTT frontend (embedded broker or bridge to an external one).
    #[serde(default)]
    pub mqtt: Option<MqttFrontendConfig>,
    /// The WebSocket frontend: upgrades on the `http:` listener (or a listener of its own).
    #[serde(default)]
    pub websocket: Option<WebSocketFrontendConfig>,
    /// Backends by name.
    #[serde(default)]
    pub backends: BTreeMap<String, BackendConfig>,
    /// Mapping files with `http: rules:`, or directories of them (`*.yaml`, `*.yml`).
    #[serde(default)]
    pub mappings: Vec<PathBuf>,
    /// Options for every route; mapping rules override them per route.
    #[serde(default)]
    pub routes: RoutesConfig,
    /// Authentication and what it forwards (docs/security.md); per-route `auth:` and
    /// `rate_limit:` live in mapping files.
    #[serde(default)]
    pub policies: crate::policy::config::PoliciesConfig,
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`, `/config`, `/routes`); off when
    /// absent. See docs/operations.md.
    #[serde(default)]
    pub admin: Option<crate::admin::AdminConfig>,
    /// The access log (off by default).
    #[serde(default)]
    pub access_log: crate::telemetry::access_log::AccessLogConfig,
    /// Span export over OTLP (`tracing.otlp`; needs the `otlp` cargo feature).
    #[serde(default)]
    pub tracing: crate::telemetry::spans::TracingConfig,
    /// The response cache's store (docs/compose-cache.md); routes opt in with `cache:`.
    #[serde(default)]
    pub cache: crate::cache::CacheConfig,
    /// The Redis server several instances share (shared rate limits, the shared cache tier);
    /// absent: nothing is shared and no connection is made. A change needs a restart.
    #[serde(default)]
    pub redis: Option<crate::shared_state::RedisConfig>,
    /// Hot reload of the config, mapping and proto files.
    #[serde(default)]
    pub reload: crate::reload::ReloadConfig,
    /// The directory relative paths are resolved against: the config file's own.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file it was read from, and its text (for `/config` and reload); none for flags.
    #[serde(skip)]
    pub source: Option<(PathBuf, std::sync::Arc<str>)>,
}

/// The `routes:` section: defaults for every route.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoutesConfig {
    /// How long a backend may take. Default `30s`. A client's shorter `Grpc-Timeout` wins.
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    /// JSON options.
    #[serde(default)]
    pub json: Option<JsonOptionsConfig>,
    /// `reject` (default: 400 naming the parameter) or `ignore`.
    #[serde(default)]
    pub unknown_query_parameters: Option<UnknownQueryParameters>,
    /// `path_wins` (default) or `reject` (400) when the body sets a field a path variable sets.
    #[serde(default)]
    pub body_field_collision: Option<BodyFieldCollision>,
    /// Metadata added to every backend call of every route (name → value; `${NAME}` reads the
    /// environment variable `NAME` at load). A route's own `metadata` replaces it.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Cross-origin resource sharing for every HTTP route (docs/security.md, "HTTP hygiene");
    /// a route's own `cors:` replaces it. Default none.
    #[serde(default)]
    pub cors: Option<crate::mapping::cors::CorsConfig>,
    /// Also expose methods that have no HTTP rule, as `POST /pkg.Service/Method` with the whole
    /// message as body. Default false.
    #[serde(default)]
    pub expose_unannotated_methods: bool,
    /// A rate limit for every route that sets none (each route its own buckets).
    #[serde(default)]
    pub rate_limit: Option<crate::policy::config::RateLimitConfig>,
    /// A concurrency limit for every route that sets none (each route its own).
    #[serde(default)]
    pub concurrency: Option<crate::policy::concurrency::ConcurrencyConfig>,
    /// A response cache for every cacheable route that sets none (docs/compose-cache.md).
    #[serde(default)]
    pub cache: Option<crate::cache::RouteCacheConfig>,
}

impl RoutesConfig {
    /// The route options these defaults give.
    pub fn defaults(&self) -> RouteOptionsConfig {
        RouteOptionsConfig {
            timeout: self.timeout,
            json: self.json.clone(),
            unknown_query_parameters: self.unknown_query_parameters,
            body_field_collision: self.body_field_collision,
            metadata: self.metadata.clone(),
            retryable: None,
            messages: Default::default(),
            cors: self.cors.clone(),
            auth: None,
            rate_limit: self.rate_limit.clone(),
            concurrency: self.concurrency.clone(),
            publishers: None,
            cache: self.cache.clone(),
            cache_inherited: false,
            safe: None,
        }
    }
}

/// A config error with the file and line it was found at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when the error is in one.
    pub file: Option<PathBuf>,
    /// The line (1-based), when known.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error in `file`, at `line` if known.
    pub fn at(file: &Path, line: Option<u64>, message: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_path_buf()),
            line: line.filter(|l| *l > 0),
            message: message.into(),
        }
    }

    /// An error not tied to a file (command-line flags).
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Every frontend the file configures, in a fixed order.
    pub fn frontends(&self) -> Vec<FrontendConfig> {
        let mut frontends = Vec::new();
        if let Some(http) = &self.http {
            frontends.push(FrontendConfig::Http(http.clone()));
        }
        if let Some(mqtt) = &self.mqtt {
            frontends.push(FrontendConfig::Mqtt(mqtt.clone()));
        }
        if let Some(websocket) = &self.websocket {
            frontends.push(FrontendConfig::WebSocket(websocket.clone()));
        }
        frontends
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::at(path, None, format!("cannot read: {e}")))?;
        Self::from_text(&text, path)
    }

    /// Parses config `text` as if read from `path`: errors name `path`, and relative mapping
    /// paths are resolved against its directory. Nothing is read from disk.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = serde_saphyr::from_str(text).map_err(|e| {
            let (line, message) = yaml_error_parts(&e);
            ConfigError::at(path, Some(line), message)
        })?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.source = Some((path.to_path_buf(), text.into()));
        Ok(config)
    }

    /// Every mapping file: the listed files, and the `*.yaml`/`*.yml` files of listed directories
    /// in name order.
    pub fn mapping_files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = Vec::new();
        for entry in &self.mappings {
            let path = self.base_dir.join(entry);
            if path.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(&path)
                    .map_err(|e| {
                        ConfigError::at(&path, None, format!("cannot read directory: {e}"))
                    })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                    .collect();
                found.sort();
                files.extend(found);
            } else {
                files.push(path);
            }
        }
        Ok(files)
    }
}

/// The line and message of a YAML error.
pub(crate) fn yaml_error_parts(error: &serde_saphyr::Error) -> (u64, String) {
    let line = error.location().map_or(0, |l| l.line());
    let message = error.to_string();
    // The rendered error repeats the location and a snippet after the first line; the first
    // line says what is wrong.
    let first = message
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim()
        .to_owned();
    (line, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let dir = std::env::temp_dir().join(format!("polygate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.yaml");
        std::fs::write(&path, "http:\n  listen: 127.0.0.1:0\nbackends:\n  a:\n    grpc:\n      url: http://x:1\n      tls: true\n").unwrap();
        let error = Config::from_file(&path).unwrap_err();
        assert_eq!(error.line, Some(7), "{error}");
        assert!(error.message.contains("tls"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
