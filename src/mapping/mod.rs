//! The mapping layer: turns a frontend's request into a bound backend call, and the answer
//! back into the client's form, driven by `google.api.http` rules and mapping files.

mod bind;
mod captures;
pub mod legacy;
pub mod matcher;
pub mod options;
mod respond;
pub mod route;
pub mod rules;
mod table;
pub mod template;
mod template_error;
mod wire;

pub use route::{GrpcPlan, Route, RoutePlan};
pub use table::{BackendSchema, RouteError, RouteSources, RouteTable};
