//! Codecs: the wire formats polygate converts between, independent of routes and transports.
//!
//! - [`protojson`]: proto3 JSON ⇄ protobuf wire bytes, streaming, driven by descriptors.
//! - [`xml`]: JSON ⇄ XML under polygate's documented convention, with the hostile-input guards
//!   every XML reader of the crate goes through.
//! - [`soap`]: SOAP 1.1/1.2 envelopes: versions, namespaces and the guarded reader that finds
//!   the first element of a `Body`.
//!
//! The mapping layer and the backends both use these; codecs depend only on `model` for
//! nothing at all, and on prost-reflect descriptors and quick-xml.

pub mod protojson;
pub mod soap;
pub mod xml;
