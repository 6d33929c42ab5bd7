//! The admin listener: `/healthz`, `/readyz`, `/metrics` (Prometheus text, backend resilience
//! state included), `/config` (the running config, secrets redacted), `/routes` (the route table
//! as JSON) and the API description with its docs page (`/openapi.json`, `/openapi.yaml`,
//! `/asyncapi.json`, `/docs`), on an address of its own (loopback by default). Off unless the config has an `admin:` section; see
//! docs/operations.md.

mod config;
mod ready;
pub mod view;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::{AdminConfig, AdminSettings, DEFAULT_LISTEN};
pub use ready::Probe;

use crate::backends::resilience::{self, ResilienceSnapshot, ResilientBackend};
use crate::config::Config;
use crate::describe::ApiDocsSettings;
use crate::frontends::Shutdown;
use crate::pipeline::Pipeline;
use crate::telemetry::metrics::RenderMetrics;

/// What the admin pages read: the pipeline (metrics, routes), readiness and the config.
pub struct AdminState {
    pipeline: Arc<Pipeline>,
    draining: AtomicBool,
    frontends: Vec<(&'static str, watch::Receiver<bool>)>,
    probes: ArcSwap<Vec<Probe>>,
    settings: AdminSettings,
    config: ArcSwap<Value>,
    extra_metrics: RwLock<Vec<Arc<dyn RenderMetrics>>>,
    docs: ApiDocsSettings,
}

impl AdminState {
    /// The state of a gateway serving `config` through `pipeline`; `frontends` are the
    /// readiness signals of frontends that are not ready when bound (MQTT).
    pub fn new(
        settings: AdminSettings,
        pipeline: Arc<Pipeline>,
        frontends: Vec<(&'static str, watch::Receiver<bool>)>,
        config: &Config,
    ) -> Self {
        let state = Self {
            probes: ArcSwap::from_pointee(Vec::new()),
            config: ArcSwap::from_pointee(Value::Null),
            pipeline,
            draining: AtomicBool::new(false),
            frontends,
            settings,
            extra_metrics: RwLock::default(),
            docs: ApiDocsSettings::default(),
        };
        state.configured(config);
        state
    }

    /// Serves the API description and the docs page (`/openapi.json`, `/openapi.yaml`,
    /// `/asyncapi.json`, `/docs`) as `docs` say: the same documents as the HTTP listener's
    /// `api_docs`, naming `docs.server` as the API's address.
    pub fn with_api_docs(mut self, docs: ApiDocsSettings) -> Self {
        self.docs = docs;
        self
    }

    /// Takes the config a reload installed: `/config` shows it, `/readyz` probes its backends.
    pub fn configured(&self, config: &Config) {
        self.config.store(Arc::new(view::config_view(config)));
        self.probes.store(Arc::new(ready::probes(
            config,
            &self.settings.optional_backends,
        )));
    }

    /// `/readyz` answers 503 from now on: the gateway is draining.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the gateway is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Appends metrics kept elsewhere (backend endpoint state) to `/metrics`.
    pub fn add_metrics(&self, metrics: Arc<dyn RenderMetrics>) {
        self.extra_metrics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(metrics);
    }

    fn metrics_text(&self) -> String {
        let extra = self
            .extra_metrics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut extra: Vec<&dyn RenderMetrics> = extra.iter().map(|m| m.as_ref()).collect();
        extra.push(self.pipeline.cache().as_ref());
        if let Some(shared) = self.pipeline.shared() {
            extra.push(shared.as_ref());
        }
        let mut text = self.pipeline.telemetry().metrics.render(&extra);
        resilience::metrics::render(&mut text, &self.resilience_snapshots());
        text
    }

    /// The state of every backend with the resilience layer that a route uses, by name.
    fn resilience_snapshots(&self) -> Vec<(String, ResilienceSnapshot)> {
        let routes = self.pipeline.routes();
        let mut seen = std::collections::BTreeMap::new();
        for route in routes.routes() {
            if seen.contains_key(&*route.backend_name) {
                continue;
            }
            if let Some(backend) = route
                .backend
                .as_any()
                .and_then(|any| any.downcast_ref::<ResilientBackend>())
            {
                seen.insert(route.backend_name.to_string(), backend.snapshot());
            }
        }
        seen.into_iter().collect()
    }
}

/// The admin listener, bound.
pub struct AdminServer {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AdminState>,
}

impl AdminServer {
    /// Binds the admin address.
    pub async fn bind(state: Arc<AdminState>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(state.settings.listen).await?;
        Ok(Self {
            addr: listener.local_addr()?,
            listener,
            state,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` fires; connections still open are then closed.
    pub async fn serve(self, shutdown: Shutdown) {
        let mut connections = JoinSet::new();
        let stopped = shutdown.fired();
        tokio::pin!(stopped);
        loop {
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::debug!(%error, "admin: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stopped => break,
            };
            while connections.try_join_next().is_some() {}
            let state = self.state.clone();
            connections.spawn(async move {
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(answer(&state, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

async fn answer(state: &AdminState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if path == "/cache/purge" {
        return purge(state, request).await;
    }
    let not_found = || {
        json_response(
            StatusCode::NOT_FOUND,
            &json!({"code": 5, "message": format!("no admin page at {path}; try /healthz, /readyz, /metrics, /config, /routes, /openapi.json, /openapi.yaml, /asyncapi.json or /docs"), "details": []}),
        )
    };
    let docs = state.docs.claims(path);
    if docs && (request.method() == Method::GET || request.method() == Method::HEAD) {
        let table = state.pipeline.routes();
        return match crate::describe::respond(&state.docs, request.method(), path, &table) {
            Some(answer) => answer.map(Full::new),
            None => not_found(),
        };
    }
    let known = docs
        || matches!(
            path,
            "/healthz" | "/readyz" | "/metrics" | "/config" | "/routes"
        );
    if !known {
        return not_found();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"code": 12, "message": format!("{path} answers GET only"), "details": []}),
        );
        response
            .headers_mut()
            .insert(ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/healthz" => text_response(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            let report = ready::check(state).await;
            let status = if report.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json_response(status, &report.to_json())
        }
        "/metrics" => text_response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics_text(),
        ),
        "/config" => json_response(StatusCode::OK, &state.config.load()),
        _ => json_response(StatusCode::OK, &view::routes_view(&state.pipeline.routes())),
    }
}

/// `POST /cache/purge` with a JSON body: `{}` drops everything, `{"route": "GET /v1/items/{sku}"}`
/// one route, with `"values": {"sku": "7"}` its entries bound to those values, and
/// `{"tag": "item:7"}` the entries carrying a tag. Answers `{"purged": N}`.
async fn purge(state: &AdminState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    if request.method() != Method::POST {
        let mut response = json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"code": 12, "message": "/cache/purge answers POST only", "details": []}),
        );
        response
            .headers_mut()
            .insert(ALLOW, http::HeaderValue::from_static("POST"));
        return response;
    }
    // Limited to 64 KiB.
    #[allow(clippy::disallowed_methods)]
    let collected = http_body_util::Limited::new(request.into_body(), 64 * 1024)
        .collect()
        .await;
    let body = match collected {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"code": 3, "message": "the purge request must be a JSON object of at most 64 KiB", "details": []}),
            )
        }
    };
    let purge: crate::cache::Purge = if body.iter().all(u8::is_ascii_whitespace) {
        crate::cache::Purge::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(purge) => purge,
            Err(error) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"code": 3, "message": format!("invalid purge request: {error}; give {{}}, {{\"route\": …, \"values\": {{…}}}} or {{\"tag\": …}}"), "details": []}),
                )
            }
        }
    };
    if !purge.values.is_empty() && purge.route.is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"code": 3, "message": "values need a route", "details": []}),
        );
    }
    let purged = state.pipeline.cache().purge(&purge).await;
    json_response(StatusCode::OK, &json!({"purged": purged}))
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_string_pretty(value).unwrap_or_default();
    body.push('\n');
    text_response(status, "application/json", body)
}
