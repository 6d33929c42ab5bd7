//! SOAP envelopes: the two versions' namespaces and media types, and the guarded reader that
//! walks a decoded envelope to the first element of its `Body`.

mod envelope;

pub use envelope::{
    EnvelopeError, FirstElement, SoapBody, SoapVersion, SOAP11_ENVELOPE_NS, SOAP12_ENVELOPE_NS,
};
