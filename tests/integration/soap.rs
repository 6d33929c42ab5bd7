//! Issue 5, items 1 and 2: SOAP 1.1 and 1.2 services behind REST routes — the envelopes and
//! headers that reach the service (compared as parsed XML), the JSON convention of answers,
//! request elements built from path, query and body or from templates, WS-Security.

use serde_json::json;

use crate::support::http_server::Answer;
use crate::support::legacy::{
    answering, assert_xml_eq, envelope11, envelope12, gateway, reason, SOAP11, SOAP12,
};
use crate::support::warehouse::start_warehouse;
use crate::support::{root, xml_tree, Gateway};

const CALCULATOR: &str = r#"
xml_mapping:
  default_namespace: http://tempuri.org/
  types:
    Add/intA: int
    Add/intB: int
    AddResponse/AddResult: int
  order:
    Add: [intA, intB]
routes:
  - post: /v1/calc/add
    backend: calc
    body: "*"
    soap:
      operation: Add
      action: http://tempuri.org/Add
"#;

fn add_response(envelope: fn(&str) -> String) -> String {
    envelope(r#"<AddResponse xmlns="http://tempuri.org/"><AddResult>5</AddResult></AddResponse>"#)
}

#[tokio::test]
async fn soap11_sends_a_real_envelope_in_schema_order_with_a_quoted_soapaction() {
    let service = answering(Answer::xml(add_response(envelope11))).await;
    let backends = format!(
        "  calc:\n    soap:\n      url: {}/calculator.asmx\n",
        service.url()
    );
    let gateway = gateway(&backends, CALCULATOR).await;
    let response = gateway
        .client
        .json("POST", "/v1/calc/add", json!({"intB": 3, "intA": 2}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), json!({"AddResult": 5}));
    let received = service.last_request();
    assert_eq!(received.method, "POST");
    assert_eq!(received.target, "/calculator.asmx");
    assert_eq!(
        received.header("content-type"),
        Some("text/xml; charset=utf-8")
    );
    assert_eq!(
        received.header("soapaction"),
        Some("\"http://tempuri.org/Add\"")
    );
    assert_xml_eq(
        received.text(),
        &envelope11(r#"<Add xmlns="http://tempuri.org/"><intA>2</intA><intB>3</intB></Add>"#),
    );
}

#[tokio::test]
async fn soap12_sends_application_soap_xml_with_the_action_parameter() {
    let service = answering(Answer::new(
        200,
        "application/soap+xml; charset=utf-8",
        add_response(envelope12),
    ))
    .await;
    let backends = format!(
        "  calc:\n    soap:\n      url: {}/calculator.asmx\n      version: \"1.2\"\n",
        service.url()
    );
    let gateway = gateway(&backends, CALCULATOR).await;
    let response = gateway
        .client
        .json("POST", "/v1/calc/add", json!({"intA": 2, "intB": 3}))
        .await;
    assert_eq!(response.json(), json!({"AddResult": 5}));
    let received = service.last_request();
    assert_eq!(
        received.header("content-type"),
        Some("application/soap+xml; charset=utf-8; action=\"http://tempuri.org/Add\"")
    );
    assert_eq!(received.header("soapaction"), None);
    assert_xml_eq(
        received.text(),
        &envelope12(r#"<Add xmlns="http://tempuri.org/"><intA>2</intA><intB>3</intB></Add>"#),
    );
}

/// The demo's mapping file, for a Warehouse backend named `backend` under `prefix`.
fn warehouse_mapping(backend: &str, prefix: &str) -> String {
    std::fs::read_to_string(root().join("mappings/warehouse.yaml"))
        .unwrap()
        .replace("backend: warehouse", &format!("backend: {backend}"))
        .replace("/v1/warehouse", prefix)
}

#[tokio::test]
async fn the_warehouse_answers_the_same_json_over_soap11_and_soap12() {
    let warehouse = start_warehouse("127.0.0.1:0").await.unwrap();
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  wh11:\n    soap:\n      url: {url}/warehouse\n  wh12:\n    soap:\n      url: {url}/warehouse12\n      version: \"1.2\"\n      fault_codes:\n        OutOfStock: FAILED_PRECONDITION\nmappings: [a.yaml, b.yaml]\n",
        url = warehouse.url()
    );
    let gateway = Gateway::start(
        &config,
        &[
            ("a.yaml", &warehouse_mapping("wh11", "/v1/wh11")),
            ("b.yaml", &warehouse_mapping("wh12", "/v1/wh12")),
        ],
    )
    .await;
    let expected = json!({
        "@discontinued": true, "sku": "LMP-2001", "name": "Desk lamp", "category": "office",
        "price": "49.50", "stock": 0, "dimensions": {"widthCm": 15, "heightCm": 45, "weightKg": 2.1},
        // The declared tag list with no tag is [] (issue 15).
        "tag": []
    });
    for prefix in ["/v1/wh11", "/v1/wh12"] {
        let response = gateway
            .client
            .get(&format!("{prefix}/items/LMP-2001"))
            .await;
        assert_eq!(response.status, 200, "{prefix}: {}", response.text());
        assert_eq!(response.json(), expected, "{prefix}");
    }
    let order = json!({
        "customer": {"name": "Ada", "email": "ada@example.com",
                     "address": {"street": "1 Loop Rd", "city": "Lyon", "zip": "01234", "country": "FR"}},
        "line": [{"sku": "KET-1002", "quantity": 5}]
    });
    let response = gateway.client.json("POST", "/v1/wh12/orders", order).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"code": 9, "message": "only 3 of KET-1002 in stock", "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SOAP_FAULT", "domain": "polygate"},
            {"@type": "type.polygate.dev/polygate.v1.SoapFault", "soapVersion": "1.2",
             "code": {"namespace": SOAP12, "local": "Sender"},
             "subcodes": [{"namespace": "urn:example:warehouse", "local": "OutOfStock"}],
             "reason": "only 3 of KET-1002 in stock",
             "detail": {"OutOfStock": {"sku": "KET-1002", "available": "3"}}}
        ]})
    );
    let last = xml_tree::parse(warehouse.last_request().text()).unwrap();
    assert_eq!(last.namespace.as_deref(), Some(SOAP12));
    assert_eq!(
        last.text_at(&["Body", "PlaceOrder", "order", "customer", "address", "zip"]),
        "01234"
    );
}

#[tokio::test]
async fn path_variables_and_query_parameters_become_members_of_the_request_element() {
    let service = answering(Answer::xml(envelope11(
        r#"<ListOrdersResponse xmlns="urn:shop"/>"#,
    )))
    .await;
    let backends = format!("  shop:\n    soap:\n      url: {}/shop\n", service.url());
    let mapping = r#"
xml_mapping:
  default_namespace: urn:shop
  order:
    ListOrders: [customer, status, tag]
routes:
  - get: /v1/customers/{customer.id}/orders
    backend: shop
    soap: {operation: ListOrders, action: "urn:shop/ListOrders"}
  - post: /v1/orders:search
    backend: shop
    body: "*"
    soap: {operation: ListOrders}
"#;
    let gateway = gateway(&backends, mapping).await;
    let response = gateway
        .client
        .get("/v1/customers/7/orders?tag=a&status=open&tag=b")
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), json!({}));
    assert_xml_eq(
        service.last_request().text(),
        &envelope11(
            r#"<ListOrders xmlns="urn:shop"><customer><id>7</id></customer><status>open</status><tag>a</tag><tag>b</tag></ListOrders>"#,
        ),
    );
    assert_eq!(
        service.last_request().header("soapaction"),
        Some("\"urn:shop/ListOrders\"")
    );
    let response = gateway
        .client
        .json("POST", "/v1/orders:search?status=open", json!({}))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "unknown query parameter 'status': POST /v1/orders:search takes the whole request from the body"
    );
    assert_eq!(service.requests().len(), 1);
}

#[tokio::test]
async fn a_template_builds_the_body_with_escaped_values() {
    let service = answering(Answer::xml(envelope11(
        r#"<f:FindResponse xmlns:f="urn:legacy"><f:hit>1</f:hit></f:FindResponse>"#,
    )))
    .await;
    let backends = format!("  legacy:\n    soap:\n      url: {}/find\n", service.url());
    let mapping = r#"
xml_mapping:
  namespaces: {f: "urn:legacy"}
  drop_prefixes: true
routes:
  - post: /v1/find/{name}
    backend: legacy
    body: "*"
    soap:
      action: urn:legacy/Find
      template: |
        <f:Find xmlns:f="urn:legacy" mode="{{mode}}"><f:name>{{name}}</f:name><f:zip>{{address/zip}}</f:zip><f:page>{{page?}}</f:page></f:Find>
"#;
    let gateway = gateway(&backends, mapping).await;
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/find/O%27Brien%20%26%20Sons",
            json!({"address": {"zip": "01234"}, "mode": "a\"<b"}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), json!({"hit": "1"}));
    assert_xml_eq(
        service.last_request().text(),
        &envelope11(
            r#"<f:Find xmlns:f="urn:legacy" mode="a&quot;&lt;b"><f:name>O'Brien &amp; Sons</f:name><f:zip>01234</f:zip><f:page/></f:Find>"#,
        ),
    );
    let response = gateway
        .client
        .json("POST", "/v1/find/x", json!({"mode": "m"}))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "the request has no value for 'address/zip', which this route needs"
    );
    assert_eq!(service.requests().len(), 1);
}

#[tokio::test]
async fn answers_follow_the_convention_arrays_types_nil_and_cdata() {
    let report = r#"<r:Report xmlns:r="urn:report" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" generated="2026-11-25">
        <r:zip>01234</r:zip>
        <r:count>42</r:count>
        <r:big>9007199254740993</r:big>
        <r:amount>+12.50</r:amount>
        <r:ok>1</r:ok>
        <r:tag>only</r:tag>
        <r:note xsi:nil="true"/>
        <r:empty/>
        <r:text><![CDATA[<b>bold</b> & ]]>more</r:text>
        <r:price currency="EUR">3.10</r:price>
      </r:Report>"#;
    let service = answering(Answer::xml(envelope11(report))).await;
    let backends = format!(
        "  reports:\n    soap:\n      url: {}/reports\n",
        service.url()
    );
    let mapping = r#"
xml_mapping:
  namespaces: {r: "urn:report"}
  drop_prefixes: true
  arrays: ["r:Report/r:tag"]
  types:
    r:Report/r:count: int
    r:Report/r:big: int64
    r:Report/r:amount: decimal
    r:Report/r:ok: boolean
routes:
  - get: /v1/report
    backend: reports
    soap: {operation: "r:GetReport"}
  - get: /v1/report/price
    backend: reports
    soap: {operation: "r:GetReport"}
    response_body: price/#text
"#;
    let gateway = gateway(&backends, mapping).await;
    let response = gateway.client.get("/v1/report").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"@generated": "2026-11-25", "zip": "01234", "count": 42, "big": "9007199254740993",
               "amount": "12.50", "ok": true, "tag": ["only"], "note": null, "empty": "",
               "text": "<b>bold</b> & more", "price": {"@currency": "EUR", "#text": "3.10"}})
    );
    assert_xml_eq(
        service.last_request().text(),
        &envelope11(r#"<r:GetReport xmlns:r="urn:report"/>"#),
    );
    assert_eq!(
        gateway.client.get("/v1/report/price").await.json(),
        json!("3.10")
    );
}

#[tokio::test]
async fn documents_are_matched_by_namespace_whatever_their_prefixes() {
    let prefixed = answering(Answer::xml(envelope11(
        r#"<a:R xmlns:a="urn:r"><a:zip>1</a:zip><b:x xmlns:b="urn:x">2</b:x></a:R>"#,
    )))
    .await;
    let defaulted = answering(Answer::xml(format!(
        r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP11}"><SOAP-ENV:Header/><SOAP-ENV:Body><R xmlns="urn:r"><zip>1</zip><x xmlns="urn:x">2</x></R></SOAP-ENV:Body></SOAP-ENV:Envelope>"#
    )))
    .await;
    let backends = format!(
        "  one:\n    soap:\n      url: {}/\n  two:\n    soap:\n      url: {}/\n",
        prefixed.url(),
        defaulted.url()
    );
    let mapping = r#"
xml_mapping:
  namespaces: {m: "urn:r", ext: "urn:x"}
routes:
  - get: /v1/one
    backend: one
    soap: {operation: "m:Get"}
  - get: /v1/two
    backend: two
    soap: {operation: "m:Get"}
"#;
    let gateway = gateway(&backends, mapping).await;
    for path in ["/v1/one", "/v1/two"] {
        assert_eq!(
            gateway.client.get(path).await.json(),
            json!({"m:zip": "1", "ext:x": "2"}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn json_that_cannot_be_xml_is_refused_before_the_service_and_values_are_escaped() {
    let service = answering(Answer::xml(envelope11("<EchoResponse/>"))).await;
    let backends = format!("  echo:\n    soap:\n      url: {}/\n", service.url());
    let mapping = "routes:\n  - post: /v1/echo\n    backend: echo\n    body: \"*\"\n    soap: {operation: Echo}\n";
    let gateway = gateway(&backends, mapping).await;
    for (body, message) in [
        (
            r#"{"a b":1}"#,
            r#"the request cannot be sent as XML: JSON key "a b" at Echo is not a valid XML name: the name contains a character not allowed in XML names (or a second ':')"#,
        ),
        (
            r#"{"x\"/><y":1}"#,
            r#"the request cannot be sent as XML: JSON key "x\"/><y" at Echo is not a valid XML name: the name contains a character not allowed in XML names (or a second ':')"#,
        ),
        (
            r#"{"a":"\u0001"}"#,
            r#"the request cannot be sent as XML: value of "a" at Echo/a contains U+0001, which XML 1.0 does not allow"#,
        ),
        (
            r#"{"xmlns:evil":"x"}"#,
            r#"the request cannot be sent as XML: JSON key "xmlns:evil" at Echo is not a valid XML name: xmlns is reserved for namespace declarations"#,
        ),
    ] {
        let response = gateway
            .client
            .send(
                "POST",
                "/v1/echo",
                &[("content-type", "application/json")],
                body.to_owned(),
            )
            .await;
        assert_eq!(response.status, 400, "{body}");
        let error = response.json();
        assert_eq!(error["message"], message, "{body}");
        assert_eq!(reason(&error), "JSON_NOT_CONVERTIBLE", "{body}");
    }
    assert_eq!(service.requests().len(), 0);
    let response = gateway
        .client
        .json("POST", "/v1/echo", json!({"@x": "\"<&", "a": "]]>"}))
        .await;
    assert_eq!(response.json(), json!({}));
    let received = service.last_request();
    assert!(
        received
            .text()
            .contains(r#"<Echo x="&quot;&lt;&amp;"><a>]]&gt;</a></Echo>"#),
        "{}",
        received.text()
    );
    assert_xml_eq(
        received.text(),
        &envelope11(r#"<Echo x="&quot;&lt;&amp;"><a>]]&gt;</a></Echo>"#),
    );
}
