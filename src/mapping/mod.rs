//! The mapping layer: turns a frontend's request into a bound backend call, and the answer
//! back into the client's form, driven by `google.api.http` rules and mapping files.

pub mod captures;
pub mod cors;
pub mod matcher;
pub mod messages;
pub mod options;
pub mod plans;
pub mod route;
pub mod source;
mod table;
pub mod template;
mod template_error;
pub mod topic;

pub use plans::{GrpcPlan, RestPlan, SoapPlan, TargetBackend, XmlPlan};
pub use route::{Route, RoutePattern, RoutePlan};
pub use table::{BackendSchema, Matched, RouteError, RouteSources, RouteTable};
