//! The SOAP backend: SOAP 1.1 and 1.2 document/literal calls over the shared HTTP client, with
//! an optional WS-Security UsernameToken, and faults (recognised by content, whatever the HTTP
//! status) mapped to canonical errors.

mod config;
mod fault;
mod security;
mod service;

pub use config::{PasswordType, SoapBackendConfig, SoapSettings, WsSecurityConfig};
pub use service::SoapBackend;

/// Reads a SOAP answer given as its HTTP status, `Content-Type` and body, as [`SoapBackend`]
/// does once the exchange is over: the answer's XML (UTF-8), or the status the client gets (a
/// fault mapped with no `fault_codes`, its details shown when `expose_faults`).
///
/// Not part of the API: the way in for the fuzz targets (`fuzz/`), since the answer and fault
/// readers are otherwise reached only through an HTTP exchange with a server.
#[doc(hidden)]
pub fn read_answer_for_fuzzing(
    status: u16,
    content_type: &str,
    body: &[u8],
    expose_faults: bool,
) -> Result<bytes::Bytes, crate::model::Status> {
    use crate::model::{Payload, ResponseBody};
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    let response = crate::backends::http_client::UpstreamResponse {
        status: http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK),
        headers,
        body: bytes::Bytes::copy_from_slice(body),
    };
    let lenient = service::lenient_mapping().map_err(crate::model::Status::internal)?;
    let codes = std::collections::BTreeMap::new();
    let policy = fault::FaultPolicy {
        codes: &codes,
        expose: expose_faults,
    };
    match service::read_answer(response, &lenient, "fuzz") {
        Ok(answer) => match answer.body {
            ResponseBody::Unary {
                message: Payload::Xml(xml),
                ..
            } => Ok(xml),
            _ => Err(crate::model::Status::internal("not an XML answer")),
        },
        Err(error) => Err(fault::status("fuzz", error, &policy)),
    }
}

#[cfg(test)]
mod tests {
    use super::read_answer_for_fuzzing;

    #[test]
    fn the_fuzzing_entry_reads_answers_and_faults_as_the_backend_does() {
        let ok = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r>1</r></s:Body></s:Envelope>"#;
        assert_eq!(
            read_answer_for_fuzzing(200, "text/xml", ok.as_bytes(), false).ok(),
            Some(bytes::Bytes::from(ok))
        );
        let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad input</faultstring></s:Fault></s:Body></s:Envelope>"#;
        let status = read_answer_for_fuzzing(500, "text/xml", fault.as_bytes(), true).unwrap_err();
        assert_eq!(
            String::from_utf8(status.to_json()).unwrap(),
            r#"{"code":3,"message":"bad input","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SOAP_FAULT","domain":"polygate"},{"@type":"type.polygate.dev/polygate.v1.SoapFault","soapVersion":"1.1","code":{"namespace":"http://schemas.xmlsoap.org/soap/envelope/","local":"Client"},"subcodes":[],"reason":"bad input"}]}"#
        );
        let status = read_answer_for_fuzzing(200, "text/xml", b"", false).unwrap_err();
        assert_eq!(
            String::from_utf8(status.to_json()).unwrap(),
            r#"{"code":13,"message":"backend 'fuzz' answered HTTP 200 OK with an empty body instead of a SOAP envelope","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SOAP_NOT_AN_ENVELOPE","domain":"polygate"}]}"#
        );
    }
}
