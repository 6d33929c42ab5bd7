//! Benchmarks of the XML engine: XML → JSON and JSON → XML for a ~10 KB SOAP-style payload with
//! namespaces, attributes, arrays, type hints, schema order and nesting.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use polygate::codec::xml::{json_to_xml, xml_to_json, ValueType, XmlMapping, XmlMappingConfig};

const ROOT: &str = "o:GetOrdersResponse";

fn document() -> String {
    let mut xml = String::from(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<ns1:GetOrdersResponse xmlns:ns1="urn:example:orders" xmlns:cm="urn:example:common""#,
        r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><ns1:orders page="1">"#
    ));
    for n in 0..22 {
        xml.push_str(&format!(
            concat!(
                r#"<ns1:order id="{id}" status="{status}"><ns1:placed>2026-10-{day:02}T12:00:00Z</ns1:placed>"#,
                r#"<cm:customer><cm:name>Customer &amp; Sons {n}</cm:name><cm:zip>0{zip}</cm:zip>"#,
                r#"<cm:email>c{n}@example.com</cm:email></cm:customer><ns1:lines>"#
            ),
            n = n,
            id = 9_000_000_000_000u64 + n,
            status = if n % 3 == 0 { "open" } else { "shipped" },
            day = n % 28 + 1,
            zip = 1000 + n,
        ));
        for line in 0..2 {
            xml.push_str(&format!(
                r#"<ns1:line sku="SKU-{n}-{line}"><ns1:qty>{qty}</ns1:qty><ns1:price currency="EUR">{price}.50</ns1:price></ns1:line>"#,
                qty = line + 1,
                price = 10 + n,
            ));
        }
        xml.push_str("</ns1:lines>");
        if n % 5 == 0 {
            xml.push_str(r#"<ns1:note xsi:nil="true"/>"#);
        } else {
            xml.push_str("<ns1:note><![CDATA[leave at the door]]></ns1:note>");
        }
        xml.push_str("</ns1:order>");
    }
    xml.push_str("</ns1:orders></ns1:GetOrdersResponse>");
    xml
}

fn mapping() -> XmlMapping {
    let mut config = XmlMappingConfig::default();
    config
        .namespaces
        .insert("o".into(), "urn:example:orders".into());
    config
        .namespaces
        .insert("c".into(), "urn:example:common".into());
    config.arrays = vec![
        "o:GetOrdersResponse/o:orders/o:order".into(),
        "o:GetOrdersResponse/o:orders/o:order/o:lines/o:line".into(),
    ];
    for (path, value_type) in [
        ("o:GetOrdersResponse/o:orders/o:order/@id", ValueType::Int64),
        ("o:GetOrdersResponse/o:orders/@page", ValueType::Int),
        (
            "o:GetOrdersResponse/o:orders/o:order/o:lines/o:line/o:qty",
            ValueType::Int,
        ),
        (
            "o:GetOrdersResponse/o:orders/o:order/o:lines/o:line/o:price",
            ValueType::Decimal,
        ),
    ] {
        config.types.insert(path.into(), value_type);
    }
    config.order.insert(
        "o:GetOrdersResponse/o:orders/o:order".into(),
        vec![
            "o:placed".into(),
            "c:customer".into(),
            "o:lines".into(),
            "o:note".into(),
        ],
    );
    config.order.insert(
        "o:GetOrdersResponse/o:orders/o:order/o:lines/o:line".into(),
        vec!["o:qty".into(), "o:price".into()],
    );
    XmlMapping::new(&config).expect("valid mapping")
}

fn bench(c: &mut Criterion) {
    let xml = document();
    let mapping = mapping();
    let mut json = Vec::new();
    xml_to_json(xml.as_bytes(), &mapping, &mut json).expect("converts");
    let mut group = c.benchmark_group("xml");

    group.throughput(Throughput::Bytes(xml.len() as u64));
    let mut out = Vec::with_capacity(2 * xml.len());
    group.bench_function(format!("xml_to_json_{}B", xml.len()), |b| {
        b.iter(|| {
            out.clear();
            xml_to_json(black_box(xml.as_bytes()), &mapping, &mut out).expect("converts");
            black_box(out.len())
        })
    });

    group.throughput(Throughput::Bytes(json.len() as u64));
    let mut out = Vec::with_capacity(2 * xml.len());
    group.bench_function(format!("json_to_xml_{}B", json.len()), |b| {
        b.iter(|| {
            out.clear();
            json_to_xml(black_box(&json), ROOT, &mapping, &mut out).expect("converts");
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
