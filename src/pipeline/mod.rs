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
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::cache::{
    self, CacheSettings, Finished, FlightEnd, KeyParts, Leader, Lookup, Outcome, ResponseCache,
    RouteCachePolicy, RouteCounters,
};
use crate::mapping::{Route, RouteTable};
use crate::model::{
    BackendCall, CacheFacts, CallShape, Code, GatewayRequest, GatewayResponse, Identity, Metadata,
    RequestBody, RequestKey, ResponseBody, Status,
};
use crate::policy::Policies;
use crate::telemetry::metrics::RouteMetrics;
use crate::telemetry::Exchange;
use crate::telemetry::Telemetry;

/// The request path shared by every frontend.
pub struct Pipeline {
    installed: ArcSwap<Installed>,
    policies: Policies,
    telemetry: Arc<Telemetry>,
    cache: Arc<ResponseCache>,
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
        }
    }

    /// The same pipeline with a response cache of `settings` (the default cache has the
    /// default settings).
    pub fn with_cache(self, settings: CacheSettings) -> Self {
        let cache = Arc::new(ResponseCache::new(settings));
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
        Self { cache, ..self }
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
    pub fn replace_routes(&self, table: RouteTable) {
        self.installed.store(Arc::new(Installed::new(
            table,
            &self.telemetry,
            &self.cache,
        )));
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
        let bound = route.bind(&matched.captures, matched.query, body, metadata, timeout);
        drop(matched);
        let call = match bound {
            Ok(call) => with_route_metadata(&route, call),
            Err(status) => {
                exchange.finish(status.code());
                return Err(status);
            }
        };
        let started = Instant::now();
        let answer = route.backend.call(call).await;
        exchange.backend_answered(started);
        let encoded = match answer {
            Ok(response) => route.encode_response(response),
            Err(mut status) => {
                route.render_details(&mut status);
                Err(status)
            }
        };
        drop(admission);
        finish(exchange, encoded)
    }

    /// The cached path of a GET or HEAD route with `cache:`: a fresh (or revalidating stale)
    /// entry answers at once; a miss makes one backend call per key, spawned so that neither
    /// a waiter's timeout nor the client's going away cancels it.
    async fn through_cache(
        &self,
        request: Cached<'_>,
        metadata: Metadata,
        timeout: Option<Duration>,
        exchange: &mut Exchange,
    ) -> Result<GatewayResponse, Status> {
        let Cached {
            policy,
            counters,
            route,
            matched,
            key,
            headers,
            principal,
        } = request;
        let mut slots: [&str; 8] = [""; 8];
        let spilled: Vec<&str>;
        let captures: &[&str] = if matched.captures.len() <= slots.len() {
            for (slot, capture) in slots.iter_mut().zip(matched.captures.iter()) {
                *slot = &capture.value;
            }
            &slots[..matched.captures.len()]
        } else {
            spilled = matched.captures.iter().map(|c| &*c.value).collect();
            &spilled
        };
        let principal = principal.map(|i| format!("{}:{}", i.scheme, i.subject));
        let lookup = cache::Request {
            policy,
            parts: KeyParts {
                route: &counters.name,
                method: key.verb().map_or("GET", |m| m.as_str()),
                captures,
                query: matched.query,
                headers,
                vary_headers: &policy.vary_headers,
                principal: principal.as_deref(),
            },
            headers,
        };
        let wait = timeout.map_or(route.options.timeout, |t| t.min(route.options.timeout));
        let bind = |metadata: Metadata| {
            route
                .bind(
                    &matched.captures,
                    matched.query,
                    RequestBody::Empty,
                    metadata,
                    timeout,
                )
                .map(|call| with_route_metadata(route, call))
        };
        let values = || {
            matched
                .captures
                .iter()
                .map(|c| (c.field_path.to_string().into(), c.value.as_ref().into()))
                .chain(
                    cache::key::query_values(matched.query)
                        .into_iter()
                        .map(|(n, v)| (n.into(), v.into())),
                )
                .collect::<Vec<(Box<str>, Box<str>)>>()
        };
        match self.cache.lookup(&lookup, counters).await {
            Lookup::Fresh(entry) => cache::respond(&entry, "polygate; hit", Instant::now()),
            Lookup::Stale { entry, refresh } => {
                if let Some(leader) = refresh {
                    if let Ok(call) = bind(metadata) {
                        let fill = fill(
                            self.cache.clone(),
                            route.clone(),
                            policy.clone(),
                            counters.clone(),
                            leader,
                            call,
                            values(),
                        );
                        tokio::spawn(fill);
                    }
                }
                cache::respond(&entry, "polygate; hit; fwd=stale", Instant::now())
            }
            Lookup::Lead(leader) => {
                let stale = leader.stale.clone();
                let forced = leader.forced;
                let call = bind(metadata)?;
                let started = Instant::now();
                let fill = fill(
                    self.cache.clone(),
                    route.clone(),
                    policy.clone(),
                    counters.clone(),
                    leader,
                    call,
                    values(),
                );
                let (answer, finished) = tokio::spawn(fill)
                    .await
                    .map_err(|_| Status::internal("the cache fill task failed"))?;
                exchange.backend_answered(started);
                match (answer, stale) {
                    (Err(status), Some(stale)) if cache::stale_may_serve(&status) => {
                        RouteCounters::count(&counters.stale);
                        cache::respond(
                            &stale,
                            "polygate; hit; fwd=stale; detail=stale-if-error",
                            Instant::now(),
                        )
                    }
                    (answer, _) => with_facts(answer, miss_facts(&finished, forced)),
                }
            }
            Lookup::Wait(waiter) => {
                let stale = waiter.stale.clone();
                match waiter.wait(wait).await {
                    Some(FlightEnd::Stored(entry)) => {
                        cache::respond(&entry, "polygate; hit; detail=coalesced", Instant::now())
                    }
                    Some(FlightEnd::Failed) if stale.is_some() => {
                        RouteCounters::count(&counters.stale);
                        let stale = stale.as_deref().expect("checked above");
                        cache::respond(
                            stale,
                            "polygate; hit; fwd=stale; detail=stale-if-error",
                            Instant::now(),
                        )
                    }
                    Some(_) => {
                        let call = bind(metadata)?;
                        let answer = direct(route, call, exchange).await;
                        with_facts(
                            answer,
                            cache::facts("polygate; fwd=miss; detail=not-shared", None),
                        )
                    }
                    None => Err(Status::deadline_exceeded(format!(
                        "waited {wait:?} for another request's call of the same answer"
                    ))),
                }
            }
            Lookup::Bypass(reason) => {
                let call = bind(metadata)?;
                let answer = direct(route, call, exchange).await;
                let status = format!("polygate; fwd=bypass; detail={reason}");
                with_facts(answer, cache::facts(&status, None))
            }
        }
    }
}

/// What the cached path needs of a request.
struct Cached<'a> {
    policy: &'a Arc<RouteCachePolicy>,
    counters: &'a Arc<RouteCounters>,
    route: &'a Arc<Route>,
    matched: &'a crate::mapping::Matched<'a, 'a>,
    key: &'a RequestKey,
    headers: &'a Metadata,
    principal: Option<&'a Identity>,
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
    let started = Instant::now();
    let answer = route.backend.call(call).await;
    exchange.backend_answered(started);
    match answer {
        Ok(response) => route.encode_response(response),
        Err(mut status) => {
            route.render_details(&mut status);
            Err(status)
        }
    }
}

/// A leader's backend call: the answer, encoded, stored when it may be, and handed to the
/// waiters.
async fn fill(
    cache: Arc<ResponseCache>,
    route: Arc<Route>,
    policy: Arc<RouteCachePolicy>,
    counters: Arc<RouteCounters>,
    leader: Leader,
    call: BackendCall,
    values: Vec<(Box<str>, Box<str>)>,
) -> (Result<GatewayResponse, Status>, Finished) {
    let answer = route.backend.call(call).await;
    let backend_headers = match &answer {
        Ok(response) => match &response.upstream {
            Some(reply) => reply.headers.clone(),
            None => response.metadata.clone(),
        },
        Err(status) => match status.upstream() {
            Some(reply) => reply.headers.clone(),
            None => status.metadata().clone(),
        },
    };
    let encoded = match answer {
        Ok(response) => route.encode_response(response),
        Err(mut status) => {
            route.render_details(&mut status);
            Err(status)
        }
    };
    let prepared = cache.prepare(
        &leader,
        Outcome {
            backend_headers: &backend_headers,
            answer: encoded.as_ref(),
            route: &counters.name,
            values,
        },
        &policy,
        &counters,
    );
    let finished = cache.finish(leader, prepared, &counters).await;
    (encoded, finished)
}

/// The facts of a leader's answer.
fn miss_facts(finished: &Finished, forced: bool) -> Box<CacheFacts> {
    let forward = if forced { "request" } else { "miss" };
    match finished {
        Finished::Stored(entry) => cache::facts(
            &format!("polygate; fwd={forward}; stored"),
            Some(entry.etag.clone()),
        ),
        Finished::NotStored(reason) => {
            cache::facts(&format!("polygate; fwd={forward}; detail={reason}"), None)
        }
        Finished::Failed => cache::facts(&format!("polygate; fwd={forward}; detail=error"), None),
    }
}

fn with_facts(
    answer: Result<GatewayResponse, Status>,
    facts: Box<CacheFacts>,
) -> Result<GatewayResponse, Status> {
    answer.map(|mut response| {
        response.cache = Some(facts);
        response
    })
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
