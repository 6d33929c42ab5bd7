//! Frontends: listeners that decode what clients send into `GatewayRequest`s, hand them to the
//! pipeline, and encode answers and `Status`es back into their protocol.

pub mod http;
