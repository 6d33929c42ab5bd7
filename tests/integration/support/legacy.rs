//! Helpers for the SOAP, plain-XML and REST backend tests: a gateway from backend and mapping
//! YAML, XML compared as trees, and SOAP envelopes.

#![allow(dead_code, unreachable_pub)]

use super::http_server::{Answer, HttpServer, Recorded};
use super::xml_tree;
use super::Gateway;

/// The SOAP 1.1 envelope namespace.
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace.
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// polygate with `backends` (YAML lines under `backends:`, indented by two) and one mapping
/// file `legacy.yaml` holding `mapping`.
pub async fn gateway(backends: &str, mapping: &str) -> Gateway {
    let config =
        format!("http:\n  listen: 127.0.0.1:0\nbackends:\n{backends}\nmappings: [legacy.yaml]\n");
    Gateway::start(&config, &[("legacy.yaml", mapping)]).await
}

/// Asserts that two XML documents mean the same: same elements by namespace and local name,
/// same attributes and text; prefixes, declarations and whitespace between elements aside.
#[track_caller]
pub fn assert_xml_eq(actual: &str, expected: &str) {
    let parsed_actual = xml_tree::parse(actual)
        .unwrap_or_else(|e| panic!("the XML received is not well-formed ({e}): {actual}"));
    let parsed_expected = xml_tree::parse(expected)
        .unwrap_or_else(|e| panic!("the expected XML is not well-formed ({e}): {expected}"));
    assert_eq!(parsed_actual, parsed_expected, "received: {actual}");
}

/// A SOAP 1.1 envelope around `body`.
pub fn envelope11(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body>{body}</soap:Body></soap:Envelope>")
}

/// A SOAP 1.2 envelope around `body`.
pub fn envelope12(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><env:Envelope xmlns:env=\"{SOAP12}\"><env:Body>{body}</env:Body></env:Envelope>")
}

/// A server that answers every request with `answer`.
pub async fn answering(answer: Answer) -> HttpServer {
    HttpServer::start(move |_request: Recorded| {
        let answer = answer.clone();
        async move { answer }
    })
    .await
}

/// The `reason` of the `ErrorInfo` detail of an error body.
pub fn reason(body: &serde_json::Value) -> String {
    body["details"]
        .as_array()
        .and_then(|details| {
            details
                .iter()
                .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        })
        .and_then(|d| d["reason"].as_str())
        .unwrap_or_default()
        .to_owned()
}
