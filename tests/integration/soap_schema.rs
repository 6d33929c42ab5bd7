//! Issue 15 item 2: schema-aware SOAP/XML — declared arrays with no occurrence are `[]` (SOAP
//! 1.1 and 1.2), requests the schema forbids are refused naming the JSON path before the
//! service is called, and faults about the gateway's own WS-Security credentials are 502s.

use serde_json::json;

use crate::support::http_server::Answer;
use crate::support::legacy::{answering, envelope11, envelope12, gateway, reason};

const ORDERS: &str = r#"
xml_mapping:
  default_namespace: urn:shop
  arrays: [ListOrdersResponse/order, ListOrdersResponse/order/line]
routes:
  - get: /v1/orders
    backend: shop
    soap: {operation: ListOrders, action: "urn:shop/ListOrders"}
"#;

#[tokio::test]
async fn a_declared_array_with_no_element_is_an_empty_array_on_both_soap_versions() {
    for (version, envelope) in [
        ("1.1", envelope11 as fn(&str) -> String),
        ("1.2", envelope12 as fn(&str) -> String),
    ] {
        let none = answering(Answer::xml(envelope(
            r#"<ListOrdersResponse xmlns="urn:shop"/>"#,
        )))
        .await;
        let backends = format!(
            "  shop:\n    soap:\n      url: {}\n      version: \"{version}\"\n",
            none.url()
        );
        let shop = gateway(&backends, ORDERS).await;
        let response = shop.client.get("/v1/orders").await;
        assert_eq!(response.status, 200, "{version}: {}", response.text());
        assert_eq!(response.json(), json!({"order": []}), "{version}");

        let one = answering(Answer::xml(envelope(
            r#"<ListOrdersResponse xmlns="urn:shop"><order><id>7</id></order></ListOrdersResponse>"#,
        )))
        .await;
        let backends = format!(
            "  shop:\n    soap:\n      url: {}\n      version: \"{version}\"\n",
            one.url()
        );
        let shop = gateway(&backends, ORDERS).await;
        let response = shop.client.get("/v1/orders").await;
        assert_eq!(
            response.json(),
            json!({"order": [{"id": "7", "line": []}]}),
            "{version}"
        );
    }
}

const CALC: &str = r#"
routes:
  - post: /v1/calc/add
    backend: calc
    body: "*"
    soap: {operation: Add, action: "http://tempuri.org/Add"}
"#;

const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

#[tokio::test]
async fn a_refused_ws_security_password_is_a_502_on_both_soap_versions() {
    let fault11 = envelope11(&format!(
        r#"<soap:Fault><faultcode xmlns:wsse="{WSSE}">wsse:FailedAuthentication</faultcode><faultstring>The security token could not be authenticated</faultstring></soap:Fault>"#
    ));
    let fault12 = envelope12(&format!(
        r#"<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value xmlns:wsse="{WSSE}">wsse:FailedAuthentication</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">The security token could not be authenticated</env:Text></env:Reason></env:Fault>"#
    ));
    for (version, fault, http) in [("1.1", fault11, 500), ("1.2", fault12, 400)] {
        let service = answering(Answer::xml(fault).status(http)).await;
        let backends = format!(
            "  calc:\n    soap:\n      url: {}\n      version: \"{version}\"\n      ws_security:\n        username: svc\n        password_env: POLYGATE_IT_FIDELITY_WRONG\n",
            service.url()
        );
        std::env::set_var("POLYGATE_IT_FIDELITY_WRONG", "wrong");
        let calc = gateway(&backends, CALC).await;
        let response = calc.client.json("POST", "/v1/calc/add", json!({})).await;
        assert_eq!(response.status, 502, "{version}: {}", response.text());
        assert_eq!(reason(&response.json()), "SOAP_SECURITY_FAULT", "{version}");
        assert_eq!(response.json()["code"], 13, "{version}");
        // A backend's own fault_codes still decide for it.
        let mapped = gateway(
            &format!("{backends}      fault_codes: {{FailedAuthentication: UNAUTHENTICATED}}\n"),
            CALC,
        )
        .await;
        let response = mapped.client.json("POST", "/v1/calc/add", json!({})).await;
        assert_eq!(response.status, 401, "{version}: {}", response.text());
    }
}
