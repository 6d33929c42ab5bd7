//! The single request path every frontend uses: route → admit (the policies) → bind → dispatch
//! → encode.
//!
//! Frontends hand over a [`GatewayRequest`] and get back a [`GatewayResponse`] in the client's
//! form or a [`Status`] with its details rendered. The route table is an
//! immutable snapshot, swapped whole on reload; a request keeps the snapshot it started with.
//! Every exchange is measured here, once, through [`Telemetry`], and admitted here, once,
//! through the [`Policies`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

mod cached;
use cached::Cached;

use crate::cache::tier::RedisTier;
use crate::cache::{CacheSettings, ResponseCache, RouteCounters};
use crate::mapping::{Route, RouteTable};
use crate::model::{
    BackendCall, CallShape, Code, GatewayRequest, GatewayResponse, RequestBody, RequestKey,
    ResponseBody, Status,
};
use crate::policy::Policies;
use crate::shared_state::SharedState;
use crate::telemetry::metrics::RouteMetrics;
use crate::telemetry::Exchange;
use crate::telemetry::Telemetry;

/// The request path shared by every frontend.
pub struct Pipeline {
    installed: ArcSwap<Installed>,
    policies: Policies,
    telemetry: Arc<Telemetry>,
    cache: Arc<ResponseCache>,
    shared: Option<Arc<SharedState>>,
    /// Counts the tables swapped in, for frontends that derive state from the route table.
    replaced: tokio::sync::watch::Sender<u64>,
}

/// A route table and the metrics handle of each of its routes.
struct Installed {
    table: Arc<RouteTable>,
    metrics: HashMap<usize, Arc<RouteMetrics>, BuildHasherDefault<AddressHasher>>,
    /// The cache counters of the routes with a cache policy.
    cache: HashMap<usize, Arc<RouteCounters>, BuildHasherDefault<AddressHasher>>,
}

impl Installed {
    fn new(table: RouteTable, telemetry: &Telemetry, response_cache: &ResponseCache) -> Self {
        let cache = table
            .routes()
            .filter(|route| route.options.cache.is_some())
            .map(|route| {
                let counters =
                    response_cache.route_counters(route.pattern.verb(), route.pattern.address());
                (address(route), counters)
            })
            .collect();
        let metrics = table
            .routes()
            .map(|route| {
                route.register_metrics(&telemetry.metrics);
                let handle = telemetry.metrics.route(
                    route.pattern.verb(),
                    route.pattern.address(),
                    &route.backend_name,
                );
                (address(route), handle)
            })
            .collect();
        Self {
            table: Arc::new(table),
            metrics,
            cache,
        }
    }
}

fn address(route: &Arc<Route>) -> usize {
    Arc::as_ptr(route) as usize
}

/// Hashes a route's address: already unique, so one multiplication spreads it.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8 | u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, value: usize) {
        self.0 = (value as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Pipeline {
    /// A pipeline serving `table` with no policies configured (every route public), with
    /// metrics and no access log.
    pub fn new(table: RouteTable) -> Self {
        Self::with_parts(table, Policies::default(), Arc::default())
    }

    /// A pipeline serving `table` under `policies`, with metrics and no access log.
    pub fn with_policies(table: RouteTable, policies: Policies) -> Self {
        Self::with_parts(table, policies, Arc::default())
    }

    /// A pipeline serving `table` under `policies`, measured by `telemetry`.
    pub fn with_parts(table: RouteTable, policies: Policies, telemetry: Arc<Telemetry>) -> Self {
        let cache = Arc::new(ResponseCache::default());
        Self {
            installed: ArcSwap::from_pointee(Installed::new(table, &telemetry, &cache)),
            policies,
            telemetry,
            cache,
            shared: None,
            replaced: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The same pipeline with a response cache of `settings` (the default cache has the
    /// default settings).
    pub fn with_cache(self, settings: CacheSettings) -> Self {
        self.with_cache_shared(settings, None)
    }

    /// The same pipeline with a response cache of `settings` and the state shared with other
    /// instances (its metrics; the cache's shared tier when it is switched on).
    pub fn with_cache_shared(
        self,
        settings: CacheSettings,
        shared: Option<Arc<SharedState>>,
    ) -> Self {
        let tier = shared
            .as_ref()
            .filter(|state| state.settings().cache)
            .map(|state| RedisTier::new(state.clone()));
        let cache = Arc::new(ResponseCache::new(settings).with_tier(tier));
        let table = self.routes();
        let installed = Installed {
            cache: table
                .routes()
                .filter(|route| route.options.cache.is_some())
                .map(|route| {
                    let counters =
                        cache.route_counters(route.pattern.verb(), route.pattern.address());
                    (address(route), counters)
                })
                .collect(),
            metrics: self.installed.load().metrics.clone(),
            table,
        };
        self.installed.store(Arc::new(installed));
        Self {
            cache,
            shared,
            ..self
        }
    }

    /// Starts what the shared state runs in the background while serving: the subscription
    /// to other instances' cache purges, when the Redis tier is on.
    pub fn start_shared(&self) {
        if let Some(tier) = self.cache.tier() {
            tier.listen(Arc::downgrade(&self.cache));
        }
    }

    /// The state shared with other instances through Redis, when configured.
    pub fn shared(&self) -> Option<&Arc<SharedState>> {
        self.shared.as_ref()
    }

    /// The response cache (purges, metrics).
    pub fn cache(&self) -> &Arc<ResponseCache> {
        &self.cache
    }

    /// The policies every request passes.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The gateway's metrics and access log.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// The current route table.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.installed.load().table.clone()
    }

    /// The route table, for a pipeline that was built but will not serve (a reload builds a
    /// new gateway and moves its table into the running pipeline with `replace_routes`).
    pub fn into_routes(self) -> Arc<RouteTable> {
        match Arc::try_unwrap(self.installed.into_inner()) {
            Ok(installed) => installed.table,
            Err(shared) => shared.table.clone(),
        }
    }

    /// Serves `table` from the next request on; requests under way finish on the old one.
    /// Receivers of [`Pipeline::watch_routes`] are told.
    pub fn replace_routes(&self, table: RouteTable) {
        self.installed.store(Arc::new(Installed::new(
            table,
            &self.telemetry,
            &self.cache,
        )));
        self.replaced.send_modify(|count| *count += 1);
    }

    /// Changes each time [`Pipeline::replace_routes`] swaps a table in (its value counts the
    /// swaps); a frontend that derives state from the route table (a broker subscription per
    /// route) waits on it and reads [`Pipeline::routes`].
    pub fn watch_routes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.replaced.subscribe()
    }

    /// The call shape of the route `key` finds, so a frontend that learns the shape from the
    /// route (not from the request) can hand over one message or a stream of them.
    pub fn call_shape(&self, key: &RequestKey) -> Result<CallShape, Status> {
        let installed = self.installed.load();
        let shape = installed.table.find(key)?.route.shape;
        Ok(shape)
    }

    /// The route `key` finds, for a frontend that checks a connection's opening request
    /// against the route's policies before the first call.
    pub fn route(&self, key: &RequestKey) -> Result<Arc<crate::mapping::Route>, Status> {
        let installed = self.installed.load();
        let route = installed.table.find(key)?.route.clone();
        Ok(route)
    }

    /// Routes, binds and dispatches one request, and encodes the answer for the client.
    pub async fn handle(&self, request: GatewayRequest) -> Result<GatewayResponse, Status> {
        let GatewayRequest {
            key,
            body,
            mut metadata,
            timeout,
            caller,
        } = request;
        let mut exchange = self.telemetry.begin(&caller, &key, &mut metadata);
        let installed = self.installed.load_full();
        let matched = match installed.table.find(&key) {
            Ok(matched) => matched,
            Err(status) => {
                exchange.finish(status.code());
                return Err(status);
            }
        };
        let route = matched.route.clone();
        if let Some(handle) = installed.metrics.get(&address(&route)) {
            exchange.matched(handle.clone());
        }
        // Held until the backend has answered: a concurrency slot, if the route has a limit.
        let admission = match self
            .policies
            .admit(&route.options.policy, &key, &caller, &mut metadata)
            .await
        {
            Ok(admission) => admission,
            Err(status) => {
                exchange.finish(status.code());
                return Err(status);
            }
        };
        exchange.admitted(admission.identity());
        if let RequestBody::Unary(message) = &body {
            exchange.request_size(message.bytes().len());
        }
        let cached = match (&route.options.cache, &body) {
            (Some(policy), RequestBody::Empty) => installed
                .cache
                .get(&address(&route))
                .map(|counters| (policy.clone(), counters.clone())),
            _ => None,
        };
        if let Some((policy, counters)) = cached {
            let answer = self
                .through_cache(
                    Cached {
                        policy: &policy,
                        counters: &counters,
                        route: &route,
                        matched: &matched,
                        key: &key,
                        headers: &caller.headers,
                        principal: admission.identity().map(|i| &**i),
                    },
                    metadata,
                    timeout,
                    &mut exchange,
                )
                .await;
            drop(admission);
            return finish(exchange, answer);
        }
        let mut mapping = exchange.mapping();
        let bound = route.bind(&matched.captures, matched.query, body, metadata, timeout);
        drop(matched);
        let call = match bound {
            Ok(call) => with_route_metadata(&route, call),
            Err(status) => {
                mapping.failed(&status);
                drop(mapping);
                exchange.finish(status.code());
                return Err(status);
            }
        };
        drop(mapping);
        let encoded = direct(&route, call, &mut exchange).await;
        drop(admission);
        finish(exchange, encoded)
    }
}

/// Adds the route's static metadata to a bound call.
fn with_route_metadata(route: &Route, mut call: BackendCall) -> BackendCall {
    for (name, value) in &route.options.metadata {
        call.metadata.insert(name.clone(), value.clone());
    }
    call
}

/// Calls the backend and encodes its answer, outside the cache.
async fn direct(
    route: &Arc<Route>,
    call: BackendCall,
    exchange: &mut Exchange,
) -> Result<GatewayResponse, Status> {
    let mut call = call;
    let mut phase = exchange.backend_call(&route.backend_name, &mut call.metadata);
    let started = Instant::now();
    let answer = route.backend.call(call).await;
    exchange.backend_answered(started);
    if let Err(status) = &answer {
        phase.failed(status);
    }
    drop(phase);
    encode(route, answer)
}

/// The backend's answer in the client's form, or its error with the details rendered.
fn encode(
    route: &Arc<Route>,
    answer: Result<GatewayResponse, Status>,
) -> Result<GatewayResponse, Status> {
    match answer {
        Ok(response) => route.encode_response(response),
        Err(mut status) => {
            route.render_details(&mut status);
            Err(status)
        }
    }
}

/// Records the end of an exchange (a stream's end is recorded when it ends).
fn finish(
    exchange: Exchange,
    encoded: Result<GatewayResponse, Status>,
) -> Result<GatewayResponse, Status> {
    match encoded {
        Ok(GatewayResponse {
            metadata,
            body,
            upstream,
            cache,
        }) => {
            let body = match body {
                ResponseBody::Unary { message, trailers } => {
                    let mut exchange = exchange;
                    exchange.answered(message.bytes().len());
                    exchange.finish(Code::Ok);
                    ResponseBody::Unary { message, trailers }
                }
                ResponseBody::Stream(messages) => ResponseBody::Stream(exchange.stream(messages)),
            };
            Ok(GatewayResponse {
                metadata,
                body,
                upstream,
                cache,
            })
        }
        Err(status) => {
            exchange.finish(status.code());
            Err(status)
        }
    }
}
