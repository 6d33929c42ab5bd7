//! The REST backend: forwards a rewritten request (path, method, headers) with its JSON or raw
//! body to an HTTP/JSON upstream through the shared HTTP client, passes the answer back, and
//! maps non-2xx statuses to canonical errors.

mod service;

pub use service::RestBackend;
