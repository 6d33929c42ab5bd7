//! Issue 5, item 4: `polygate import wsdl` turns the example legacy WSDL (several operations,
//! an imported XSD, arrays, nested complex types) into a mapping file that `polygate check`
//! accepts unchanged and that serves the real Warehouse service end to end; unsupported WSDLs
//! are refused with the reason.

use std::process::Command;

use serde_json::json;

use crate::support::legacy::{assert_xml_eq, envelope11};
use crate::support::warehouse::{start_warehouse, FIRST_ORDER_ID};
use crate::support::{root, scratch_dir, Gateway};

fn polygate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polygate"))
}

fn wsdl() -> std::path::PathBuf {
    root().join("examples/legacy/warehouse.wsdl")
}

#[tokio::test]
async fn the_warehouse_wsdl_imports_into_a_mapping_that_check_accepts_and_that_serves() {
    let dir = scratch_dir();
    let output = polygate()
        .args(["import", "wsdl"])
        .arg(wsdl())
        .arg("-o")
        .arg(dir.join("warehouse.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty());
    let mapping = std::fs::read_to_string(dir.join("warehouse.yaml")).unwrap();

    let warehouse = start_warehouse("127.0.0.1:0").await.unwrap();
    let config = format!(
        "http:\n  listen: 127.0.0.1:0\nbackends:\n  warehouse:\n    soap:\n      url: {}/warehouse\nmappings: [warehouse.yaml]\n",
        warehouse.url()
    );
    std::fs::write(dir.join("polygate.yaml"), &config).unwrap();
    let check = polygate()
        .args(["check", "-c"])
        .arg(dir.join("polygate.yaml"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(
        String::from_utf8(check.stdout).unwrap(),
        concat!(
            "METHOD  PATH                    BACKEND    AUTH    CACHE  OPERATION\n",
            "POST    /warehouse/GetItem      warehouse  PUBLIC  -      urn:example:warehouse/GetItem\n",
            "POST    /warehouse/ListItems    warehouse  PUBLIC  -      urn:example:warehouse/ListItems\n",
            "POST    /warehouse/PlaceOrder   warehouse  PUBLIC  -      urn:example:warehouse/PlaceOrder\n",
            "POST    /warehouse/CancelOrder  warehouse  PUBLIC  -      urn:example:warehouse/CancelOrder\n",
            "4 routes, configuration OK\n",
        )
    );

    let gateway = Gateway::start(&config, &[("warehouse.yaml", &mapping)]).await;
    let item = gateway
        .client
        .json("POST", "/warehouse/GetItem", json!({"sku": "CUP-1001"}))
        .await;
    assert_eq!(item.status, 200, "{}", item.text());
    assert_eq!(
        item.json(),
        json!({"item": {"sku": "CUP-1001", "name": "Espresso cups (set of 4)", "category": "kitchen",
                        "price": "24.90", "stock": 12, "tag": ["ceramic", "gift"],
                        "dimensions": {"widthCm": 20.5, "heightCm": 8, "weightKg": 1.25}}})
    );
    let listed = gateway
        .client
        .json(
            "POST",
            "/warehouse/ListItems",
            json!({"category": "kitchen", "pageSize": 1, "page": 2}),
        )
        .await;
    assert_eq!(
        listed.json(),
        json!({"item": [{"sku": "KET-1002", "name": "Pour-over kettle", "category": "kitchen",
                         "price": "39.00", "stock": 3, "tag": ["steel"]}], "total": 2})
    );
    assert_xml_eq(
        warehouse.last_request().text(),
        &envelope11(
            r#"<ListItems xmlns="urn:example:warehouse"><category>kitchen</category><page>2</page><pageSize>1</pageSize></ListItems>"#,
        ),
    );
    let order = json!({"order": {
        "line": [{"quantity": 2, "sku": "CUP-1001"}, {"sku": "KET-1002", "quantity": 1}],
        "note": null,
        "customer": {"address": {"country": "FR", "zip": "01234", "city": "Lyon", "street": "1 Loop Rd"},
                     "email": "ada@example.com", "name": "Ada"}
    }});
    let placed = gateway
        .client
        .json("POST", "/warehouse/PlaceOrder", order)
        .await;
    assert_eq!(placed.status, 200, "{}", placed.text());
    assert_eq!(
        placed.json(),
        json!({"confirmation": {"orderId": FIRST_ORDER_ID.to_string(), "total": "88.80",
                                "status": "ACCEPTED", "estimatedShipDate": "2026-12-01"}})
    );
    // The request went out qualified as the schemas say, in sequence order.
    assert_xml_eq(
        warehouse.last_request().text(),
        &envelope11(concat!(
            r#"<w:PlaceOrder xmlns:w="urn:example:warehouse" xmlns:t="urn:example:warehouse:types" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><w:order>"#,
            r#"<t:customer><t:name>Ada</t:name><t:email>ada@example.com</t:email><t:address><t:street>1 Loop Rd</t:street><t:city>Lyon</t:city><t:zip>01234</t:zip><t:country>FR</t:country></t:address></t:customer>"#,
            r#"<t:line><t:sku>CUP-1001</t:sku><t:quantity>2</t:quantity></t:line><t:line><t:sku>KET-1002</t:sku><t:quantity>1</t:quantity></t:line>"#,
            r#"<t:note xsi:nil="true"/></w:order></w:PlaceOrder>"#
        )),
    );
    let cancelled = gateway
        .client
        .json(
            "POST",
            "/warehouse/CancelOrder",
            json!({"orderId": FIRST_ORDER_ID.to_string(), "reason": "duplicate"}),
        )
        .await;
    assert_eq!(cancelled.json(), json!({"cancelled": true}));
    let unknown = gateway
        .client
        .json(
            "POST",
            "/warehouse/CancelOrder",
            json!({"orderId": "1", "reason": "x"}),
        )
        .await;
    assert_eq!(unknown.status, 502);
    assert_eq!(
        unknown.json()["details"][1]["detail"],
        json!({"UnknownOrder": {"orderId": "1"}})
    );
}

fn xml_mapping_block(text: &str) -> String {
    let start = text
        .find("\nxml_mapping:\n")
        .expect("an xml_mapping section");
    let end = text.find("\nroutes:\n").expect("a routes section");
    text[start..end].to_owned()
}

#[test]
fn the_demo_mapping_keeps_the_imported_xml_mapping() {
    let imported = polygate::import::wsdl::import_wsdl(&wsdl(), &Default::default()).unwrap();
    let demo = std::fs::read_to_string(root().join("mappings/warehouse.yaml")).unwrap();
    assert_eq!(xml_mapping_block(&demo), xml_mapping_block(&imported));
}

#[test]
fn the_soap12_port_and_names_are_chosen_on_request() {
    let options = polygate::import::wsdl::WsdlImportOptions {
        soap_version: Some(polygate::codec::soap::SoapVersion::V12),
        backend: Some("wh".into()),
        path_prefix: Some("/v2/warehouse/".into()),
        ..Default::default()
    };
    let text = polygate::import::wsdl::import_wsdl(&wsdl(), &options).unwrap();
    assert!(text.contains("port WarehouseSoap12 (SOAP 1.2)"), "{text}");
    assert!(text.contains("#     wh:\n#       soap:\n#         url: http://127.0.0.1:50052/warehouse12\n#         version: \"1.2\"\n"), "{text}");
    assert!(
        text.contains("  - post: \"/v2/warehouse/CancelOrder\"\n    backend: \"wh\"\n"),
        "{text}"
    );
}

#[test]
fn rpc_encoded_remote_schemas_and_wsdl2_are_refused_with_the_reason() {
    let dir = scratch_dir();
    let rpc = std::fs::read_to_string(wsdl())
        .unwrap()
        .replace(r#"<soap:binding style="document""#, r#"<soap:binding style="rpc""#)
        .replace(
            r#"<wsdl:input><soap:body use="literal"/></wsdl:input>"#,
            r#"<wsdl:input><soap:body use="encoded" encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></wsdl:input>"#,
        );
    std::fs::write(dir.join("rpc.wsdl"), rpc).unwrap();
    std::fs::copy(
        root().join("examples/legacy/warehouse-types.xsd"),
        dir.join("warehouse-types.xsd"),
    )
    .unwrap();
    let remote = std::fs::read_to_string(wsdl()).unwrap().replace(
        r#"schemaLocation="warehouse-types.xsd""#,
        r#"schemaLocation="http://example.com/types.xsd""#,
    );
    std::fs::write(dir.join("remote.wsdl"), remote).unwrap();
    std::fs::write(
        dir.join("v2.wsdl"),
        r#"<description xmlns="http://www.w3.org/ns/wsdl"/>"#,
    )
    .unwrap();
    for (file, expected) in [
        ("rpc.wsdl", "error: operation GetItem of binding WarehouseSoap is rpc/encoded (SOAP 1.1 section 5 encoding with xsi:type and soapenc arrays), which polygate does not support; only document/literal services can be imported. Map such an operation by hand with a soap: template route\n".to_owned()),
        ("remote.wsdl", format!("error: {} refers to http://example.com/types.xsd; polygate reads local files only: download it and point the location at the local copy\n", dir.join("remote.wsdl").display())),
        ("v2.wsdl", format!("error: {}: WSDL 2.0 is not supported; polygate imports WSDL 1.1\n", dir.join("v2.wsdl").display())),
    ] {
        let output = polygate().args(["import", "wsdl"]).arg(dir.join(file)).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{file}");
        assert!(output.stdout.is_empty(), "{file}");
        assert_eq!(String::from_utf8(output.stderr).unwrap(), expected, "{file}");
    }
}

/// Issue 15: the importer writes request checks from the schema's facts, with their defaults.
#[test]
fn request_checks_come_from_occurrence_nillable_enumerations_ranges_and_dates() {
    let dir = crate::support::scratch_dir();
    let path = dir.join("ship.wsdl");
    std::fs::write(
        &path,
        r#"<?xml version="1.0"?>
<wsdl:definitions targetNamespace="urn:ship" xmlns:tns="urn:ship" xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/">
  <wsdl:types>
    <xs:schema targetNamespace="urn:ship" elementFormDefault="qualified">
      <xs:simpleType name="Status">
        <xs:restriction base="xs:string"><xs:enumeration value="NEW"/><xs:enumeration value="SHIPPED"/></xs:restriction>
      </xs:simpleType>
      <xs:element name="Ship">
        <xs:complexType><xs:sequence>
          <xs:element name="status" type="tns:Status"/>
          <xs:element name="due" type="xs:date" minOccurs="0"/>
          <xs:element name="boxes" type="xs:unsignedShort"/>
          <xs:element name="weight" minOccurs="0">
            <xs:simpleType><xs:restriction base="xs:int"><xs:minInclusive value="1"/><xs:maxExclusive value="1000"/></xs:restriction></xs:simpleType>
          </xs:element>
          <xs:element name="note" type="xs:string" nillable="true" minOccurs="0"/>
          <xs:element name="ref">
            <xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{2}\d{3}"/></xs:restriction></xs:simpleType>
          </xs:element>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="ShipResponse"><xs:complexType><xs:sequence><xs:element name="id" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="ShipRequest"><wsdl:part name="parameters" element="tns:Ship"/></wsdl:message>
  <wsdl:message name="ShipReply"><wsdl:part name="parameters" element="tns:ShipResponse"/></wsdl:message>
  <wsdl:portType name="ShipPort"><wsdl:operation name="Ship"><wsdl:input message="tns:ShipRequest"/><wsdl:output message="tns:ShipReply"/></wsdl:operation></wsdl:portType>
  <wsdl:binding name="ShipSoap" type="tns:ShipPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Ship"><soap:operation soapAction="urn:ship/Ship"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="Shipping"><wsdl:port name="ShipSoap" binding="tns:ShipSoap"><soap:address location="http://127.0.0.1:1/ship"/></wsdl:port></wsdl:service>
</wsdl:definitions>"#,
    )
    .unwrap();
    let text = polygate::import::wsdl::import_wsdl(&path, &Default::default()).unwrap();
    let block = xml_mapping_block(&text);
    for line in [
        "  omit_empty_arrays: false",
        r#"    "Ship/boxes": {required: true, nillable: false, min: 0, max: 65535}"#,
        r#"    "Ship/due": {required: false, nillable: false, format: date}"#,
        r#"    "Ship/note": {required: false, nillable: true}"#,
        r#"    "Ship/ref": {required: true, nillable: false, pattern: "[A-Z]{2}\\d{3}"}"#,
        r#"    "Ship/status": {required: true, nillable: false, enum: ["NEW", "SHIPPED"]}"#,
        r#"    "Ship/weight": {required: false, nillable: false, min: 1, max: 999}"#,
    ] {
        assert!(
            block.contains(&format!("{line}\n")) || block.ends_with(line),
            "{line} missing in:\n{block}"
        );
    }
    // Only request elements get checks.
    assert!(!block.contains("ShipResponse/id"), "{block}");
}
