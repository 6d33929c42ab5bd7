//! The mapping layer: turns a frontend's request into a bound backend call, and the answer
//! back into the client's form, driven by `google.api.http` rules and mapping files.

mod bind;
mod captures;
pub mod legacy;
pub mod matcher;
pub mod messages;
pub mod options;
pub mod publish;
mod respond;
pub mod route;
pub mod source;
mod table;
pub mod template;
mod template_error;
pub mod topic;
mod wire;

pub use route::{GrpcPlan, Route, RoutePattern, RoutePlan};
pub use table::{BackendSchema, Matched, RouteError, RouteSources, RouteTable};
