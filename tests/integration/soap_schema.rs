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

/// The demo's mapping file, imported from the warehouse WSDL, in front of `url`.
async fn imported_warehouse(url: &str) -> crate::support::Gateway {
    let mapping =
        std::fs::read_to_string(crate::support::root().join("mappings/warehouse.yaml")).unwrap();
    gateway(
        &format!("  warehouse:\n    soap:\n      url: {url}\n"),
        &mapping,
    )
    .await
}

#[tokio::test]
async fn requests_the_imported_schema_forbids_are_refused_before_the_service_is_called() {
    let service = answering(Answer::xml(envelope11(
        "<PlaceOrderResponse xmlns=\"urn:example:warehouse\"/>",
    )))
    .await;
    let warehouse = imported_warehouse(&service.url()).await;
    let address = json!({"street": "1 Loop Rd", "city": "Lyon", "zip": "01234", "country": "FR"});
    for (body, message) in [
        (
            json!({"line": [{"sku": "KET-1002", "quantity": 5}]}),
            "PlaceOrder/order/customer: a required element is missing",
        ),
        (
            json!({"customer": null, "line": [{"sku": "KET-1002", "quantity": 5}]}),
            "PlaceOrder/order/customer: null, but the element is not nillable",
        ),
        (
            json!({"customer": {"name": "Ada", "email": "a@example.com", "address": address}, "line": [{"sku": "KET-1002", "quantity": 5}, {"sku": "CUP-1001", "quantity": 0}]}),
            "PlaceOrder/order/line[1]/quantity: 0 is below the minimum 1",
        ),
        (
            json!({"customer": {"name": "Ada", "email": "a@example.com", "address": {"street": "1 Loop Rd", "city": "Lyon", "country": "FR"}}, "line": [{"sku": "KET-1002", "quantity": 5}]}),
            "PlaceOrder/order/customer/address/zip: a required element is missing",
        ),
    ] {
        let response = warehouse
            .client
            .json("POST", "/v1/warehouse/orders", body)
            .await;
        assert_eq!(response.status, 400, "{message}: {}", response.text());
        assert_eq!(
            response.json()["message"],
            format!("the request cannot be sent as XML: {message}")
        );
        assert_eq!(reason(&response.json()), "XML_SCHEMA_VIOLATION");
    }
    let page = warehouse
        .client
        .get("/v1/warehouse/items?page=3000000000")
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(
        page.json()["message"],
        "the request cannot be sent as XML: ListItems/page: 3000000000 is above the maximum 2147483647"
    );
    assert!(service.requests().is_empty(), "the service was called");
    // A nillable element may be null, and a valid order is sent.
    let ok = warehouse
        .client
        .json(
            "POST",
            "/v1/warehouse/orders",
            json!({"customer": {"name": "Ada", "email": "a@example.com", "address": address}, "line": [{"sku": "KET-1002", "quantity": 5}], "note": null}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(service.requests().len(), 1);
}

const SHIPMENTS: &str = r#"
xml_mapping:
  checks:
    shipment/status: {required: true, nillable: false, enum: [NEW, SHIPPED]}
    shipment/due: {required: false, nillable: false, format: date}
    shipment/express: {required: false, nillable: false}
    shipment/ref: {pattern: "[A-Z]{2}\\d{3}"}
  types:
    shipment/express: boolean
routes:
  - post: /v1/shipments
    backend: shipping
    body: "*"
    xml: {path: /shipments, root: shipment}
"#;

#[tokio::test]
async fn plain_xml_requests_are_checked_against_enumerations_dates_and_types() {
    let service = answering(Answer::new(
        201,
        "application/xml",
        "<shipment><id>1</id></shipment>",
    ))
    .await;
    let shipping = gateway(
        &format!("  shipping:\n    xml:\n      url: {}\n", service.url()),
        SHIPMENTS,
    )
    .await;
    for (body, message) in [
        (json!({}), "shipment/status: a required element is missing"),
        (
            json!({"status": "LOST"}),
            "shipment/status: \"LOST\" is not one of the values the schema allows (NEW, SHIPPED)",
        ),
        (
            json!({"status": "NEW", "due": "05/12/2026"}),
            "shipment/due: \"05/12/2026\" is not a date such as 2026-12-05",
        ),
        (
            json!({"status": "NEW", "ref": "AB12"}),
            "shipment/ref: \"AB12\" does not match the pattern [A-Z]{2}\\d{3}",
        ),
        (
            json!({"status": "NEW", "express": "maybe"}),
            "value at shipment/express is not a valid boolean: \"maybe\"",
        ),
    ] {
        let response = shipping.client.json("POST", "/v1/shipments", body).await;
        assert_eq!(response.status, 400, "{message}: {}", response.text());
        assert_eq!(
            response.json()["message"],
            format!("the request cannot be sent as XML: {message}")
        );
    }
    assert!(service.requests().is_empty(), "the service was called");
    let ok = shipping
        .client
        .json(
            "POST",
            "/v1/shipments",
            json!({"status": "NEW", "due": "2026-12-05", "express": true, "ref": "AB123"}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(service.requests().len(), 1);
}
