//! Issue 5, items 2 and 7: SOAP 1.1 and 1.2 faults become canonical errors by their content,
//! whatever the HTTP status; Client/Sender → 400, Server/Receiver → 502 unless mapped per fault
//! code; error pages and MTOM answers are clear 502s.

use serde_json::{json, Value};

use crate::support::http_server::Answer;
use crate::support::legacy::{answering, envelope11, envelope12, gateway, SOAP11, SOAP12};
use crate::support::Gateway;

const MAPPING: &str = "routes:\n  - post: /v1/zip\n    backend: svc\n    body: \"*\"\n    soap: {operation: CheckZip, action: \"urn:zip/Check\"}\n";

/// polygate in front of a service that always answers `answer`; `extra` adds backend keys.
async fn faulting(
    answer: Answer,
    extra: &str,
) -> (Gateway, crate::support::http_server::HttpServer) {
    let service = answering(answer).await;
    let backends = format!(
        "  svc:\n    soap:\n      url: {}/zip\n{extra}",
        service.url()
    );
    (gateway(&backends, MAPPING).await, service)
}

fn error_info(reason: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "polygate"})
}

const FAULT11: &str = r#"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>Invalid zip code</faultstring><faultactor>http://example.com/zip</faultactor><detail><e:ValidationError xmlns:e="urn:example:err"><e:field>zip</e:field></e:ValidationError></detail></soap:Fault>"#;

#[tokio::test]
async fn a_soap11_client_fault_is_400_with_code_reason_actor_and_detail() {
    let (gateway, service) = faulting(Answer::xml(envelope11(FAULT11)).status(500), "").await;
    let response = gateway
        .client
        .json("POST", "/v1/zip", json!({"zip": "x"}))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "Invalid zip code", "details": [
            error_info("SOAP_FAULT"),
            {"@type": "type.polygate.dev/polygate.v1.SoapFault", "soapVersion": "1.1",
             "code": {"namespace": SOAP11, "local": "Client"}, "subcodes": [],
             "reason": "Invalid zip code", "actor": "http://example.com/zip",
             "detail": {"ValidationError": {"field": "zip"}}}
        ]})
    );
    assert_eq!(service.requests().len(), 1);
}

#[tokio::test]
async fn faults_are_recognised_in_a_200_answer_too() {
    let (gateway, _service) = faulting(Answer::xml(envelope11(FAULT11)), "").await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["message"], "Invalid zip code");
}

#[tokio::test]
async fn a_soap11_server_fault_is_502_unless_its_code_is_mapped() {
    let fault = |code: &str| {
        Answer::xml(envelope11(&format!(
            "<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>database down</faultstring></soap:Fault>"
        )))
        .status(500)
    };
    let (gateway, _service) = faulting(fault("Server"), "").await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(response.status, 502);
    assert_eq!(
        response.json(),
        json!({"code": 2, "message": "database down", "details": [
            error_info("SOAP_FAULT"),
            {"@type": "type.polygate.dev/polygate.v1.SoapFault", "soapVersion": "1.1",
             "code": {"namespace": SOAP11, "local": "Server"}, "subcodes": [], "reason": "database down"}
        ]})
    );
    let mapped = "      fault_codes:\n        Server.Busy: UNAVAILABLE\n        Client.Auth: unauthenticated\n";
    for (code, http, grpc) in [
        ("Server.Busy.Retry", 503, 14),
        ("Server.Busy", 503, 14),
        ("Client.Auth", 401, 16),
        ("Server.Other", 502, 2),
        ("MustUnderstand", 502, 13),
    ] {
        let (gateway, _service) = faulting(fault(code), mapped).await;
        let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
        assert_eq!(response.status, http, "{code}");
        assert_eq!(response.json()["code"], grpc, "{code}");
        assert_eq!(
            response.json()["details"][1]["code"]["local"],
            code,
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_soap12_sender_fault_is_400_with_subcodes_and_the_english_reason() {
    let fault = format!(
        r#"<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value xmlns:e="urn:example:err">e:InvalidZip</env:Value><env:Subcode><env:Value xmlns:e="urn:example:err">e:TooShort</env:Value></env:Subcode></env:Subcode></env:Code><env:Reason><env:Text xml:lang="de">Ungültige Postleitzahl</env:Text><env:Text xml:lang="en">Invalid zip code</env:Text></env:Reason><env:Node>http://example.com/zip</env:Node><env:Role>{SOAP12}/role/ultimateReceiver</env:Role><env:Detail><e:ValidationError xmlns:e="urn:example:err"><e:field>zip</e:field></e:ValidationError></env:Detail></env:Fault>"#
    );
    let answer = Answer::new(
        400,
        "application/soap+xml; charset=utf-8",
        envelope12(&fault),
    );
    let (gateway, _service) = faulting(answer, "      version: \"1.2\"\n").await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "Invalid zip code", "details": [
            error_info("SOAP_FAULT"),
            {"@type": "type.polygate.dev/polygate.v1.SoapFault", "soapVersion": "1.2",
             "code": {"namespace": SOAP12, "local": "Sender"},
             "subcodes": [{"namespace": "urn:example:err", "local": "InvalidZip"},
                          {"namespace": "urn:example:err", "local": "TooShort"}],
             "reason": "Invalid zip code", "actor": "http://example.com/zip",
             "role": format!("{SOAP12}/role/ultimateReceiver"),
             "detail": {"ValidationError": {"field": "zip"}}}
        ]})
    );
    // A subcode can be mapped too: the innermost wins.
    let answer = Answer::new(400, "application/soap+xml", envelope12(&fault));
    let (gateway, _service) =
        faulting(answer, "      version: \"1.2\"\n      fault_codes: {InvalidZip: NOT_FOUND, TooShort: OUT_OF_RANGE}\n").await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(
        (response.status.as_u16(), response.json()["code"].clone()),
        (400, json!(11))
    );
}

#[tokio::test]
async fn a_soap12_receiver_fault_is_502() {
    let fault = r#"<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang="en">try later</env:Text></env:Reason></env:Fault>"#;
    let (gateway, _service) = faulting(
        Answer::new(500, "application/soap+xml", envelope12(fault)),
        "      version: \"1.2\"\n",
    )
    .await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(response.status, 502);
    assert_eq!(response.json()["code"], 2);
    assert_eq!(response.json()["message"], "try later");
}

#[tokio::test]
async fn hidden_faults_keep_only_their_code() {
    let (gateway, _service) = faulting(
        Answer::xml(envelope11(FAULT11)).status(500),
        "      expose_faults: false\n",
    )
    .await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(
        response.json(),
        json!({"code": 3, "message": "backend 'svc' answered with a SOAP Client fault", "details": [
            error_info("SOAP_FAULT"),
            {"@type": "type.polygate.dev/polygate.v1.SoapFault", "soapVersion": "1.1",
             "code": {"namespace": SOAP11, "local": "Client"}, "subcodes": []}
        ]})
    );
}

#[tokio::test]
async fn error_pages_empty_errors_and_mtom_answers_are_502() {
    let cases = [
        (
            Answer::new(
                500,
                "text/html",
                "<html><body><h1>Internal Server Error</h1></body></html>",
            ),
            json!({"code": 2, "message": "backend 'svc' answered HTTP 500 Internal Server Error (text/html) without a SOAP fault", "details": [error_info("UPSTREAM_HTTP_ERROR")]}),
        ),
        (
            Answer::new(503, "text/plain", ""),
            json!({"code": 2, "message": "backend 'svc' answered HTTP 503 Service Unavailable (no body) without a SOAP fault", "details": [error_info("UPSTREAM_HTTP_ERROR")]}),
        ),
        (
            Answer::new(500, "text/xml", envelope11("<Nothing/>")),
            json!({"code": 2, "message": "backend 'svc' answered HTTP 500 Internal Server Error (text/xml) without a SOAP fault", "details": [error_info("UPSTREAM_HTTP_ERROR")]}),
        ),
        (
            Answer::new(
                200,
                "multipart/related; type=\"application/xop+xml\"; boundary=b",
                "--b\r\n\r\n--b--",
            ),
            json!({"code": 12, "message": "backend 'svc' answered with an MTOM/XOP multipart message, which polygate does not read", "details": [error_info("MTOM_UNSUPPORTED")]}),
        ),
        (
            Answer::xml("<html><body>maintenance</body></html>"),
            json!({"code": 13, "message": "backend 'svc': the answer is not a SOAP envelope: its root element is html", "details": [error_info("SOAP_NOT_AN_ENVELOPE")]}),
        ),
    ];
    for (answer, expected) in cases {
        let (gateway, _service) = faulting(answer, "").await;
        let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
        assert_eq!(response.status, 502, "{expected}");
        assert_eq!(response.json(), expected);
    }
}

#[tokio::test]
async fn an_empty_200_answer_is_502_but_a_one_way_202_is_accepted() {
    let (gateway, _service) = faulting(Answer::xml(""), "").await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(response.status, 502);
    assert_eq!(
        response.json(),
        json!({"code": 13, "message": "backend 'svc' answered HTTP 200 OK with an empty body instead of a SOAP envelope", "details": [error_info("SOAP_NOT_AN_ENVELOPE")]})
    );
    let (gateway, _service) = faulting(Answer::xml("").status(202), "").await;
    let response = gateway.client.json("POST", "/v1/zip", json!({})).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), json!({}));
}
