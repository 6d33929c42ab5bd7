//! The plain-XML backend: XML documents over HTTP with any method, sent and read through the
//! shared HTTP client; answers are decoded to UTF-8 (byte order mark, charset, declaration) for
//! the mapping layer, and non-2xx statuses become canonical errors.

mod service;

pub use service::XmlBackend;
