//! The demo's legacy SOAP service: the Warehouse of `examples/legacy/warehouse.wsdl`, answering
//! real SOAP 1.1 envelopes on `/warehouse` and SOAP 1.2 on `/warehouse12` (dispatching on the
//! action and the body's first element as JAX-WS and WCF do), with real faults.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::http_server::{Answer, HttpServer, Recorded};
use super::xml_tree::{escape, parse, Element};

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const SERVICE_NS: &str = "urn:example:warehouse";
const TYPES_NS: &str = "urn:example:warehouse:types";

struct Item {
    sku: &'static str,
    name: &'static str,
    category: &'static str,
    price_cents: u64,
    stock: u32,
    tags: &'static [&'static str],
    dimensions: Option<(&'static str, &'static str, &'static str)>,
    discontinued: bool,
}

const CATALOG: [Item; 5] = [
    Item {
        sku: "CUP-1001",
        name: "Espresso cups (set of 4)",
        category: "kitchen",
        price_cents: 2490,
        stock: 12,
        tags: &["ceramic", "gift"],
        dimensions: Some(("20.5", "8", "1.25")),
        discontinued: false,
    },
    Item {
        sku: "KET-1002",
        name: "Pour-over kettle",
        category: "kitchen",
        price_cents: 3900,
        stock: 3,
        tags: &["steel"],
        dimensions: None,
        discontinued: false,
    },
    Item {
        sku: "LMP-2001",
        name: "Desk lamp",
        category: "office",
        price_cents: 4950,
        stock: 0,
        tags: &[],
        dimensions: Some(("15", "45", "2.1")),
        discontinued: true,
    },
    // The library's books, by ISBN (the demo's composed bookshop route reads their stock).
    Item {
        sku: "ISBN-9780199232765",
        name: "War and Peace",
        category: "books",
        price_cents: 1599,
        stock: 7,
        tags: &["paperback"],
        dimensions: None,
        discontinued: false,
    },
    Item {
        sku: "ISBN-9780465023820",
        name: "The Feynman Lectures on Physics",
        category: "books",
        price_cents: 7500,
        stock: 2,
        tags: &["hardcover", "boxed"],
        dimensions: None,
        discontinued: false,
    },
];

/// The first order id; ids are above 2^53, so JSON clients get them as strings.
pub const FIRST_ORDER_ID: u64 = 9_007_199_254_740_993;

#[derive(Default)]
struct State {
    orders: BTreeMap<u64, u64>,
}

/// Starts the Warehouse service on `addr` (`127.0.0.1:0` for any port).
pub async fn start_warehouse(addr: &str) -> std::io::Result<HttpServer> {
    let state = Arc::new(Mutex::new(State::default()));
    HttpServer::start_on(addr, None, move |request| {
        let state = state.clone();
        async move { answer(&request, &state) }
    })
    .await
}

fn answer(request: &Recorded, state: &Mutex<State>) -> Answer {
    let (envelope_ns, content_type) = match request.target.as_str() {
        "/warehouse" => (SOAP11, "text/xml; charset=utf-8"),
        "/warehouse12" => (SOAP12, "application/soap+xml; charset=utf-8"),
        _ => return Answer::new(404, "text/html", "<html><body>Not Found</body></html>"),
    };
    let version11 = envelope_ns == SOAP11;
    let reply = |status: u16, body: String| {
        Answer::new(status, content_type, envelope(envelope_ns, &body)).status(status)
    };
    let fault = |client: bool, subcode: &str, reason: &str, detail: &str| {
        let body = fault_body(version11, client, subcode, reason, detail);
        // SOAP 1.1 sends every fault with 500; SOAP 1.2 sends Sender faults with 400.
        reply(if !version11 && client { 400 } else { 500 }, body)
    };
    let Ok(document) = parse(request.text()) else {
        return fault(true, "", "the request is not well-formed XML", "");
    };
    let Some(operation) = document
        .at(&["Body"])
        .and_then(|body| body.children.first())
        .filter(|_| document.namespace.as_deref() == Some(envelope_ns))
    else {
        return fault(
            true,
            "",
            "the request is not a SOAP envelope of this version",
            "",
        );
    };
    let action = if version11 {
        request
            .header("soapaction")
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned()
    } else {
        request
            .header("content-type")
            .and_then(|ct| ct.split("action=").nth(1))
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned()
    };
    if action != format!("{SERVICE_NS}/{}", operation.name)
        || operation.namespace.as_deref() != Some(SERVICE_NS)
    {
        return fault(true, "", &format!("no operation for action '{action}'"), "");
    }
    match operation.name.as_str() {
        "GetItem" => {
            let sku = operation.text_at(&["sku"]);
            match CATALOG.iter().find(|item| item.sku == sku) {
                Some(item) => reply(
                    200,
                    wrap(
                        "GetItemResponse",
                        &format!("<w:item{}>{}</w:item>", discontinued(item), item_xml(item)),
                    ),
                ),
                None => fault(true, "", &format!("no item with SKU {sku}"), ""),
            }
        }
        "ListItems" => {
            let category = operation.text_at(&["category"]);
            let page: usize = operation.text_at(&["page"]).parse().unwrap_or(1).max(1);
            let size: usize = operation
                .text_at(&["pageSize"])
                .parse()
                .unwrap_or(10)
                .max(1);
            let found: Vec<&Item> = CATALOG
                .iter()
                .filter(|item| category.is_empty() || item.category == category)
                .collect();
            let items: String = found
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .map(|item| format!("<w:item{}>{}</w:item>", discontinued(item), item_xml(item)))
                .collect();
            reply(
                200,
                wrap(
                    "ListItemsResponse",
                    &format!("{items}<w:total>{}</w:total>", found.len()),
                ),
            )
        }
        "PlaceOrder" => place_order(operation, state, &reply, &fault),
        "CancelOrder" => {
            let id: u64 = operation.text_at(&["orderId"]).parse().unwrap_or(0);
            let known = state.lock().unwrap().orders.remove(&id).is_some();
            if known {
                reply(
                    200,
                    wrap("CancelOrderResponse", "<w:cancelled>true</w:cancelled>"),
                )
            } else {
                let detail = format!("<t:UnknownOrder xmlns:t=\"{TYPES_NS}\"><t:orderId>{id}</t:orderId></t:UnknownOrder>");
                fault(
                    false,
                    "UnknownOrder",
                    &format!("order {id} does not exist"),
                    &detail,
                )
            }
        }
        other => fault(true, "", &format!("unknown operation {other}"), ""),
    }
}

fn place_order(
    operation: &Element,
    state: &Mutex<State>,
    reply: &dyn Fn(u16, String) -> Answer,
    fault: &dyn Fn(bool, &str, &str, &str) -> Answer,
) -> Answer {
    let Some(order) = operation.child("order") else {
        return fault(true, "", "PlaceOrder needs an order", "");
    };
    let mut total = 0;
    for line in order.children_named("line") {
        let sku = line.text_at(&["sku"]);
        let quantity: u32 = line.text_at(&["quantity"]).parse().unwrap_or(0);
        let Some(item) = CATALOG.iter().find(|item| item.sku == sku) else {
            return fault(true, "", &format!("no item with SKU {sku}"), "");
        };
        if quantity > item.stock {
            let detail = format!(
                "<t:OutOfStock xmlns:t=\"{TYPES_NS}\"><t:sku>{}</t:sku><t:available>{}</t:available></t:OutOfStock>",
                escape(&sku),
                item.stock
            );
            return fault(
                true,
                "OutOfStock",
                &format!("only {} of {sku} in stock", item.stock),
                &detail,
            );
        }
        total += item.price_cents * u64::from(quantity);
    }
    if order.at(&["customer", "address", "zip"]).is_none() {
        return fault(true, "", "the customer's address needs a zip code", "");
    }
    let mut state = state.lock().unwrap();
    let id = FIRST_ORDER_ID + state.orders.len() as u64;
    state.orders.insert(id, total);
    reply(
        200,
        wrap(
            "PlaceOrderResponse",
            &format!(
                "<w:confirmation><t:orderId>{id}</t:orderId><t:total>{}</t:total><t:status>ACCEPTED</t:status><t:estimatedShipDate>2026-12-01</t:estimatedShipDate></w:confirmation>",
                money(total)
            ),
        ),
    )
}

fn discontinued(item: &Item) -> &'static str {
    if item.discontinued {
        " discontinued=\"true\""
    } else {
        ""
    }
}

fn item_xml(item: &Item) -> String {
    let mut xml = format!(
        "<t:sku>{}</t:sku><t:name>{}</t:name><t:category>{}</t:category><t:price>{}</t:price><t:stock>{}</t:stock>",
        item.sku,
        escape(item.name),
        item.category,
        money(item.price_cents),
        item.stock
    );
    for tag in item.tags {
        xml.push_str(&format!("<t:tag>{tag}</t:tag>"));
    }
    if let Some((width, height, weight)) = item.dimensions {
        xml.push_str(&format!(
            "<t:dimensions><t:widthCm>{width}</t:widthCm><t:heightCm>{height}</t:heightCm><t:weightKg>{weight}</t:weightKg></t:dimensions>"
        ));
    }
    xml
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The response element, in the service namespace, with the types namespace declared on it.
fn wrap(name: &str, content: &str) -> String {
    format!("<w:{name} xmlns:w=\"{SERVICE_NS}\" xmlns:t=\"{TYPES_NS}\">{content}</w:{name}>")
}

fn envelope(ns: &str, body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><S:Envelope xmlns:S=\"{ns}\"><S:Body>{body}</S:Body></S:Envelope>")
}

fn fault_body(version11: bool, client: bool, subcode: &str, reason: &str, detail: &str) -> String {
    if version11 {
        let mut code = String::from(if client { "S:Client" } else { "S:Server" });
        if !subcode.is_empty() {
            code.push('.');
            code.push_str(subcode);
        }
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!("<detail>{detail}</detail>")
        };
        format!(
            "<S:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring>{detail}</S:Fault>",
            escape(reason)
        )
    } else {
        let value = if client { "S:Sender" } else { "S:Receiver" };
        let subcode = if subcode.is_empty() {
            String::new()
        } else {
            format!(
                "<S:Subcode><S:Value xmlns:w=\"{SERVICE_NS}\">w:{subcode}</S:Value></S:Subcode>"
            )
        };
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!("<S:Detail>{detail}</S:Detail>")
        };
        format!(
            "<S:Fault><S:Code><S:Value>{value}</S:Value>{subcode}</S:Code><S:Reason><S:Text xml:lang=\"en\">{}</S:Text></S:Reason>{detail}</S:Fault>",
            escape(reason)
        )
    }
}
