//! The cached path of `Pipeline::handle`: a GET or HEAD route with `cache:` is answered from
//! the response cache (`crate::cache`) when it can be, and a miss makes one backend call per
//! key for every request waiting on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{direct, encode, with_route_metadata, Pipeline};
use crate::cache::{
    self, Finished, FlightEnd, KeyParts, Leader, Lookup, Outcome, ResponseCache, RouteCachePolicy,
    RouteCounters,
};
use crate::mapping::Route;
use crate::model::{
    BackendCall, CacheFacts, GatewayResponse, Identity, Metadata, RequestBody, RequestKey, Status,
};
use crate::telemetry::Exchange;

/// What the cached path needs of a request.
pub(super) struct Cached<'a> {
    pub(super) policy: &'a Arc<RouteCachePolicy>,
    pub(super) counters: &'a Arc<RouteCounters>,
    pub(super) route: &'a Arc<Route>,
    pub(super) matched: &'a crate::mapping::Matched<'a, 'a>,
    pub(super) key: &'a RequestKey,
    pub(super) headers: &'a Metadata,
    pub(super) principal: Option<&'a Identity>,
}

impl Pipeline {
    /// The cached path of a GET or HEAD route with `cache:`: a fresh (or revalidating stale)
    /// entry answers at once; a miss makes one backend call per key, spawned so that neither
    /// a waiter's timeout nor the client's going away cancels it.
    pub(super) async fn through_cache(
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
    let encoded = encode(&route, answer);
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
