//! polygate's integration tests: one binary, a file per feature, real servers on loopback.

#![allow(unreachable_pub)]

mod support;

mod api_docs;
mod api_docs_browser;
mod api_docs_swagger;
mod binding;
mod cache;
mod cli;
mod compose;
mod connections;
mod demo;
mod descriptors;
mod errors;
mod faults;
mod frontends;
mod hygiene;
mod introspection;
mod isolation;
mod json;
mod layering;
mod legacy_config;
mod legacy_demo;
mod limits;
mod metadata;
mod mqtt;
mod mqtt_delivery;
mod mqtt_mosquitto;
mod mqtt_reload;
mod operations;
mod otlp;
mod pass_through;
mod plain_xml;
mod policies;
mod resilience;
mod rest_backend;
mod rest_grpc_gaps;
mod rest_rewrites;
mod routing;
mod shared_state;
mod shutdown;
mod soap;
mod soap_faults;
mod soap_schema;
mod soap_security;
mod streaming;
mod uploads;
mod upstream_trust;
mod websocket;
mod websocket_browser;
mod websocket_direct;
mod websocket_limits;
mod wsdl_import;
mod xml_hostile;
