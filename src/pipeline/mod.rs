//! The single request path every frontend uses: route → admit (the policies) → bind → dispatch
//! → encode.
//!
//! Frontends hand over a [`GatewayRequest`] and get back a [`GatewayResponse`] in the client's
//! form or a [`Status`] with its details rendered. The route table is an
//! immutable snapshot, swapped whole on reload; a request keeps the snapshot it started with.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::mapping::RouteTable;
use crate::model::{CallShape, GatewayRequest, GatewayResponse, RequestKey, Status};
use crate::policy::Policies;

/// The request path shared by every frontend.
pub struct Pipeline {
    table: ArcSwap<RouteTable>,
    policies: Policies,
}

impl Pipeline {
    /// A pipeline serving `table` with no policies configured (every route public).
    pub fn new(table: RouteTable) -> Self {
        Self::with_policies(table, Policies::default())
    }

    /// A pipeline serving `table` under `policies`.
    pub fn with_policies(table: RouteTable, policies: Policies) -> Self {
        Self {
            table: ArcSwap::from_pointee(table),
            policies,
        }
    }

    /// The policies every request passes.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The current route table.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// The route table, for a pipeline that was built but will not serve (a reload builds a
    /// new gateway and moves its table into the running pipeline with `replace_routes`).
    pub fn into_routes(self) -> Arc<RouteTable> {
        self.table.into_inner()
    }

    /// Serves `table` from the next request on; requests under way finish on the old one.
    pub fn replace_routes(&self, table: RouteTable) {
        self.table.store(Arc::new(table));
    }

    /// The call shape of the route `key` finds, so a frontend that learns the shape from the
    /// route (not from the request) can hand over one message or a stream of them.
    pub fn call_shape(&self, key: &RequestKey) -> Result<CallShape, Status> {
        let table = self.table.load();
        let shape = table.find(key)?.route.shape;
        Ok(shape)
    }

    /// The route `key` finds, for a frontend that checks a connection's opening request
    /// against the route's policies before the first call.
    pub fn route(&self, key: &RequestKey) -> Result<Arc<crate::mapping::Route>, Status> {
        let table = self.table.load();
        let route = table.find(key)?.route.clone();
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
        let table = self.table.load_full();
        let matched = table.find(&key)?;
        let route = matched.route.clone();
        // Held until the backend has answered: a concurrency slot, if the route has a limit.
        let _admission = self
            .policies
            .admit(&route.options.policy, &key, &caller, &mut metadata)
            .await?;
        let mut call = route.bind(&matched.captures, matched.query, body, metadata, timeout)?;
        drop(matched);
        for (name, value) in &route.options.metadata {
            call.metadata.insert(name.clone(), value.clone());
        }
        match route.backend.call(call).await {
            Ok(response) => route.encode_response(response),
            Err(mut status) => {
                route.render_details(&mut status);
                Err(status)
            }
        }
    }
}
