//! Issue 5, item 3: plain XML over HTTP with any method — upstream paths rewritten from the
//! route's variables, documents built in schema order (compared as parsed XML), answers
//! converted by the same convention, non-2xx statuses mapped to canonical errors.

use serde_json::json;

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::{answering, assert_xml_eq, gateway, reason};

const MAPPING: &str = r#"
xml_mapping:
  default_namespace: urn:example:orders
  arrays: [order/line]
  types:
    order/@id: int64
    order/line/qty: int
    order/paid: boolean
  order:
    order: [customer, line, paid]
    order/line: [sku, qty]
routes:
  - get: /v1/orders/{id}
    backend: orders
    xml: {path: "/api/orders/{id}.xml"}
  - post: /v1/orders/{id}
    backend: orders
    body: "*"
    xml: {method: PUT, path: "/api/orders/{id}", root: order}
  - get: /v1/orders/{id}/paid
    backend: orders
    xml: {path: "/api/orders/{id}.xml", forward_query: false}
    response_body: paid
  - post: /v1/orders/{id}:note
    backend: orders
    body: "*"
    xml:
      path: /api/orders/{id}/notes
      template: |
        <?xml version="1.0" encoding="UTF-8"?>
        <note xmlns="urn:example:orders" order="{{id}}"><text>{{text}}</text></note>
"#;

const ORDER: &str = r#"<?xml version="1.0"?>
<o:order xmlns:o="urn:example:orders" id="9007199254740993">
  <o:customer>Ada</o:customer>
  <o:line><o:sku>CUP-1001</o:sku><o:qty>2</o:qty></o:line>
  <o:paid>true</o:paid>
</o:order>"#;

#[tokio::test]
async fn get_rewrites_the_path_forwards_the_query_and_converts_the_document() {
    let upstream = answering(Answer::new(200, "application/xml; charset=utf-8", ORDER)).await;
    let gateway = gateway(
        &format!(
            "  orders:\n    xml:\n      url: {}/legacy\n",
            upstream.url()
        ),
        MAPPING,
    )
    .await;
    let response = gateway.client.get("/v1/orders/A%2F7?expand=lines").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"@id": "9007199254740993", "customer": "Ada", "line": [{"sku": "CUP-1001", "qty": 2}], "paid": true})
    );
    let received = upstream.last_request();
    assert_eq!(received.method, "GET");
    assert_eq!(received.target, "/legacy/api/orders/A%2F7.xml?expand=lines");
    assert_eq!(received.header("accept"), Some("application/xml, text/xml"));
    assert_eq!(received.header("content-type"), None);
    assert!(received.body.is_empty());
    let paid = gateway.client.get("/v1/orders/7/paid?ignored=1").await;
    assert_eq!(paid.json(), json!(true));
    assert_eq!(upstream.last_request().target, "/legacy/api/orders/7.xml");
}

#[tokio::test]
async fn post_builds_a_document_in_schema_order_and_changes_the_method() {
    let upstream = answering(Answer::new(201, "text/xml", ORDER)).await;
    let gateway = gateway(
        &format!("  orders:\n    xml:\n      url: {}\n", upstream.url()),
        MAPPING,
    )
    .await;
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/orders/7",
            json!({"paid": false, "line": [{"qty": 1, "sku": "KET-1002"}], "customer": "Bob"}),
        )
        .await;
    // The backend's 201 passes through (issue 15).
    assert_eq!(response.status, 201, "{}", response.text());
    let received = upstream.last_request();
    assert_eq!(received.method, "PUT");
    assert_eq!(received.target, "/api/orders/7");
    assert_eq!(
        received.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    assert!(received
        .text()
        .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    // The path variable `id` became an element too (after the body's members).
    assert_xml_eq(
        received.text(),
        r#"<order xmlns="urn:example:orders"><customer>Bob</customer><line><sku>KET-1002</sku><qty>1</qty></line><paid>false</paid><id>7</id></order>"#,
    );
    let invalid = gateway
        .client
        .json("POST", "/v1/orders/7", json!({"line": [{"qty": "two"}]}))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(
        invalid.json()["message"],
        "the request cannot be sent as XML: value at order/line[0]/qty is not a valid int: \"two\""
    );
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn templates_write_whole_documents() {
    let upstream = answering(Answer::new(204, "text/xml", "")).await;
    let gateway = gateway(
        &format!("  orders:\n    xml:\n      url: {}\n", upstream.url()),
        MAPPING,
    )
    .await;
    let response = gateway
        .client
        .json(
            "POST",
            "/v1/orders/7:note",
            json!({"text": "leave at <door> & ring"}),
        )
        .await;
    // The backend's 204 passes through, empty (issue 15).
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty());
    let received = upstream.last_request();
    assert_eq!(received.method, "POST");
    assert_eq!(received.target, "/api/orders/7/notes");
    assert_xml_eq(
        received.text(),
        r#"<note xmlns="urn:example:orders" order="7"><text>leave at &lt;door&gt; &amp; ring</text></note>"#,
    );
}

#[tokio::test]
async fn upstream_error_statuses_become_canonical_errors_when_not_passed_through() {
    let upstream = HttpServer::start(|request: Recorded| async move {
        match request.target.as_str() {
            "/api/orders/404.xml" => {
                Answer::new(404, "application/xml", "<error>no such order</error>")
            }
            "/api/orders/503.xml" => Answer::new(503, "text/plain", "maintenance"),
            "/api/orders/409.xml" => Answer::new(409, "application/xml", ""),
            _ => Answer::new(500, "text/html", "<h1>boom</h1>"),
        }
    })
    .await;
    let gateway = gateway(
        &format!(
            "  orders:\n    xml:\n      url: {}\n      pass_through: false\n",
            upstream.url()
        ),
        MAPPING,
    )
    .await;
    let upstream_detail = |status: u16, body: Option<&str>| {
        let mut detail =
            json!({"@type": "type.polygate.dev/polygate.v1.UpstreamResponse", "status": status});
        if let Some(body) = body {
            detail["body"] = json!(body);
        }
        detail
    };
    let error_info = json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "UPSTREAM_HTTP_ERROR", "domain": "polygate"});
    for (id, status, code, message, body) in [
        (
            "404",
            404,
            5,
            "backend 'orders' answered HTTP 404 Not Found",
            None,
        ),
        (
            "503",
            503,
            14,
            "backend 'orders' answered HTTP 503 Service Unavailable",
            None,
        ),
        (
            "409",
            409,
            10,
            "backend 'orders' answered HTTP 409 Conflict",
            None,
        ),
        (
            "500",
            502,
            2,
            "backend 'orders' answered HTTP 500 Internal Server Error",
            // Only JSON bodies are copied: an error page never reaches the client (issue 15).
            None,
        ),
    ] {
        let response = gateway.client.get(&format!("/v1/orders/{id}")).await;
        assert_eq!(response.status, status, "{id}");
        let upstream_status: u16 = id.parse().unwrap();
        assert_eq!(
            response.json(),
            json!({"code": code, "message": message, "details": [error_info, upstream_detail(upstream_status, body)]}),
            "{id}"
        );
        assert_eq!(reason(&response.json()), "UPSTREAM_HTTP_ERROR");
    }
}
