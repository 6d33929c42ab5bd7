//! The normalized language every frontend, the mapping layer and every backend speak.
//!
//! A frontend decodes what arrives into a [`GatewayRequest`]; the mapping layer binds it to a
//! [`BackendCall`]; a [`Backend`] answers with a [`GatewayResponse`] or a [`Status`]; the frontend
//! encodes either back into its own protocol. Nothing here depends on another module of the crate.

mod call;
mod payload;
mod request;
mod response;
mod status;
mod upstream;

pub use call::{Backend, BackendCall, BackendFuture, BackendKind, CallShape, RequestMessages};
pub use payload::Payload;
pub use request::{Caller, FrontendKind, GatewayRequest, Identity, RequestBody, RequestKey};
pub use response::{CacheFacts, GatewayResponse, MessageStream, ResponseBody};
pub use status::{Code, CodeName, ErrorSource, Rejection, Status};
pub use upstream::{UpstreamReply, HOP_BY_HOP};

/// Metadata (gRPC) or headers (HTTP): one map of names to values.
pub type Metadata = http::HeaderMap;
