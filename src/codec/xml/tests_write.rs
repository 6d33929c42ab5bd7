//! Tests of JSON → XML: exact output text, schema order, name and character checks.

use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::Writer;

use super::tests::mapping;
use super::*;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

fn to_xml(json: &str, root: &str, mapping: &XmlMapping) -> Result<String, XmlError> {
    let mut out = Vec::new();
    json_to_xml(json.as_bytes(), root, mapping, &mut out)?;
    let text = String::from_utf8(out).expect("XML output is UTF-8");
    Ok(text
        .strip_prefix(DECL)
        .expect("declaration first")
        .to_owned())
}

fn orders() -> XmlMapping {
    mapping(|c| {
        c.namespaces.insert("m".into(), "urn:orders".into());
        c.namespaces.insert("x".into(), "urn:extra".into());
    })
}

#[test]
fn writes_attributes_text_arrays_and_nil() {
    let json = r##"{"@id":"7","m:item":[{"@sku":"a","#text":"2"},{"@sku":"b"}],"note":null,"empty":"","n":12.5,"ok":true,"x:tag":"t"}"##;
    assert_eq!(
        to_xml(json, "m:order", &orders()),
        Ok(concat!(
            r#"<m:order xmlns:m="urn:orders" xmlns:x="urn:extra" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="7">"#,
            r#"<m:item sku="a">2</m:item><m:item sku="b"/><note xsi:nil="true"/><empty/><n>12.5</n><ok>true</ok>"#,
            r#"<x:tag>t</x:tag></m:order>"#
        )
        .into())
    );
}

#[test]
fn declares_only_used_namespaces_and_default_namespace() {
    let with_default = mapping(|c| {
        c.default_namespace = Some("urn:d".into());
        c.namespaces.insert("m".into(), "urn:orders".into());
    });
    assert_eq!(
        to_xml(r#"{"a":"1"}"#, "r", &with_default),
        Ok(r#"<r xmlns="urn:d"><a>1</a></r>"#.into())
    );
    assert_eq!(
        to_xml(r#"{"a":"1","@xml:lang":"en"}"#, "r", &orders()),
        Ok(r#"<r xml:lang="en"><a>1</a></r>"#.into())
    );
    assert_eq!(
        to_xml(r#"{"@x:a":"1"}"#, "r", &orders()),
        Ok(r#"<r xmlns:x="urn:extra" x:a="1"/>"#.into())
    );
}

#[test]
fn root_scalars_and_null() {
    assert_eq!(
        to_xml(r#""hi""#, "m:r", &orders()),
        Ok(r#"<m:r xmlns:m="urn:orders">hi</m:r>"#.into())
    );
    assert_eq!(
        to_xml("null", "r", &orders()),
        Ok(r#"<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>"#.into())
    );
    assert_eq!(
        to_xml(r##"{"@a":"1","#text":null}"##, "r", &orders()),
        Ok(
            r#"<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" a="1" xsi:nil="true"/>"#
                .into()
        )
    );
    assert_eq!(to_xml("{}", "r", &orders()), Ok("<r/>".into()));
    assert_eq!(
        to_xml("[1]", "r", &orders()),
        Err(XmlError::Unrepresentable {
            at: "r".into(),
            reason: "the root element's value cannot be an array"
        })
    );
}

#[test]
fn children_follow_schema_order_not_json_order() {
    let ordered = |unknown| {
        mapping(move |c| {
            c.namespaces.insert("m".into(), "urn:orders".into());
            c.order.insert(
                "m:Order".into(),
                vec!["m:id".into(), "m:customer".into(), "m:lines".into()],
            );
            c.order.insert(
                "m:Order/m:lines/line".into(),
                vec!["sku".into(), "qty".into()],
            );
            c.unknown_children = unknown;
        })
    };
    let json = r#"{"extra":"e","m:lines":{"line":[{"qty":"1","sku":"a"},{"qty":"2","sku":"b"}]},"@v":"1","m:customer":"c","m:id":"9"}"#;
    assert_eq!(
        to_xml(json, "m:Order", &ordered(UnknownChildren::Append)),
        Ok(concat!(
            r#"<m:Order xmlns:m="urn:orders" v="1"><m:id>9</m:id><m:customer>c</m:customer>"#,
            r#"<m:lines><line><sku>a</sku><qty>1</qty></line><line><sku>b</sku><qty>2</qty></line></m:lines>"#,
            r#"<extra>e</extra></m:Order>"#
        )
        .into())
    );
    assert_eq!(
        to_xml(json, "m:Order", &ordered(UnknownChildren::Reject)),
        Err(XmlError::UnknownChild {
            key: "extra".into(),
            at: "m:Order".into()
        })
    );
}

#[test]
fn invalid_names_are_refused() {
    let cases = [
        (r#"{"a b":1}"#, "a b"),
        (r#"{"1x":1}"#, "1x"),
        (r#"{"x\"/><y":1}"#, "x\"/><y"),
        (r#"{"xmlns:evil":"x"}"#, "xmlns:evil"),
        (r#"{"@xmlns":"x"}"#, "@xmlns"),
        (r##"{"#comment":"x"}"##, "#comment"),
        (r#"{"":"x"}"#, ""),
        (r#"{"@xsi:nil":"true"}"#, "@xsi:nil"),
    ];
    for (json, key) in cases {
        assert!(
            matches!(to_xml(json, "r", &orders()), Err(XmlError::InvalidName { key: k, at, .. }) if k == key && at == "r"),
            "{json} → {:?}",
            to_xml(json, "r", &orders())
        );
    }
    assert_eq!(
        to_xml(r#"{"a":{"q:b":1}}"#, "r", &orders()),
        Err(XmlError::UnknownPrefix {
            key: "q:b".into(),
            prefix: "q".into(),
            at: "r/a".into()
        })
    );
    assert_eq!(
        to_xml("{}", "a b", &orders()),
        Err(XmlError::InvalidRoot {
            name: "a b".into(),
            reason: "the name contains a character not allowed in XML names (or a second ':')"
        })
    );
}

#[test]
fn invalid_characters_are_refused() {
    assert_eq!(
        to_xml(r#"{"a":"x\u0001"}"#, "r", &orders()),
        Err(XmlError::InvalidChar {
            key: "a".into(),
            at: "r/a".into(),
            code: 1
        })
    );
    assert_eq!(
        to_xml(r#"{"a":[{"@b":"\u0000"}]}"#, "r", &orders()),
        Err(XmlError::InvalidChar {
            key: "@b".into(),
            at: "r/a[0]".into(),
            code: 0
        })
    );
    assert_eq!(
        to_xml(r#"{"a":"\uFFFE"}"#, "r", &orders()),
        Err(XmlError::InvalidChar {
            key: "a".into(),
            at: "r/a".into(),
            code: 0xFFFE
        })
    );
    assert!(matches!(
        to_xml(r#"{"a":"\ud800"}"#, "r", &orders()),
        Err(XmlError::Json(_))
    ));
}

#[test]
fn values_are_escaped() {
    assert_eq!(
        to_xml(r#"{"@x":"\"<&\t\n","a":"]]>","b":"<&>\r"}"#, "r", &orders()),
        Ok(r#"<r x="&quot;&lt;&amp;&#9;&#10;"><a>]]&gt;</a><b>&lt;&amp;&gt;&#13;</b></r>"#.into())
    );
}

#[test]
fn type_hints_check_values_when_writing() {
    let typed = mapping(|c| {
        c.types.insert("r/i".into(), ValueType::Int);
        c.types.insert("r/l".into(), ValueType::Int64);
        c.types.insert("r/d".into(), ValueType::Decimal);
        c.types.insert("r/b".into(), ValueType::Boolean);
        c.types.insert("r/@n".into(), ValueType::Int);
    });
    assert_eq!(
        to_xml(
            r#"{"@n":3,"i":5,"l":"9223372036854775807","d":"12.50","b":false}"#,
            "r",
            &typed
        ),
        Ok(r#"<r n="3"><i>5</i><l>9223372036854775807</l><d>12.50</d><b>false</b></r>"#.into())
    );
    assert_eq!(
        to_xml(r#"{"d":1e2}"#, "r", &typed),
        Err(XmlError::InvalidValue {
            at: "r/d".into(),
            expected: "decimal",
            found: "1e2".into()
        })
    );
    assert_eq!(
        to_xml(r#"{"i":1.5}"#, "r", &typed),
        Err(XmlError::InvalidValue {
            at: "r/i".into(),
            expected: "int",
            found: "1.5".into()
        })
    );
    assert_eq!(
        to_xml(r#"{"@n":"x"}"#, "r", &typed),
        Err(XmlError::InvalidValue {
            at: "r/@n".into(),
            expected: "int",
            found: "x".into()
        })
    );
}

#[test]
fn shapes_without_xml_form_are_refused() {
    assert_eq!(
        to_xml(r#"{"a":[[1]]}"#, "r", &orders()),
        Err(XmlError::Unrepresentable {
            at: "r/a[0]".into(),
            reason: "an array inside an array has no XML form"
        })
    );
    assert_eq!(
        to_xml(r#"{"@a":{"b":1}}"#, "r", &orders()),
        Err(XmlError::Unrepresentable {
            at: "r/@a".into(),
            reason: "an attribute value must be a string, number or boolean"
        })
    );
    assert_eq!(
        to_xml(r#"{"a":1,"a":2}"#, "r", &orders()),
        Err(XmlError::DuplicateKey {
            key: "a".into(),
            at: "r".into()
        })
    );
    assert!(matches!(
        to_xml(r#"{"a":"#, "r", &orders()),
        Err(XmlError::Json(_))
    ));
}

#[test]
fn json_depth_is_bounded() {
    let shallow = mapping(|c| c.limits.max_depth = 3);
    assert_eq!(
        to_xml(r#"{"a":{"b":"1"}}"#, "r", &shallow),
        Ok("<r><a><b>1</b></a></r>".into())
    );
    assert_eq!(
        to_xml(r#"{"a":{"b":{"c":"1"}}}"#, "r", &shallow),
        Err(XmlError::TooDeep {
            limit: 3,
            at: "r/a/b/c".into()
        })
    );
    let deep = r#"{"a":"#.repeat(10_000) + "1" + &"}".repeat(10_000);
    assert!(matches!(
        to_xml(&deep, "r", &orders()),
        Err(XmlError::TooDeep { limit: 64, .. })
    ));
    let small = mapping(|c| c.limits.max_bytes = 10);
    assert_eq!(
        to_xml(r#"{"a":"0123456789"}"#, "r", &small),
        Err(XmlError::TooLarge {
            limit: 10,
            size: 18
        })
    );
}

#[test]
fn write_element_nests_in_an_existing_writer() {
    let mut writer = Writer::new(Vec::new());
    writer
        .write_event(Event::Start(
            BytesStart::new("soap:Envelope")
                .with_attributes([("xmlns:soap", "http://schemas.xmlsoap.org/soap/envelope/")]),
        ))
        .expect("write");
    write_element(&mut writer, br#"{"m:id":"1"}"#, "m:Get", &orders()).expect("converts");
    assert!(write_element(&mut writer, br#"{"a b":1}"#, "m:Get", &orders()).is_err());
    writer
        .write_event(Event::End(BytesEnd::new("soap:Envelope")))
        .expect("write");
    assert_eq!(
        String::from_utf8(writer.into_inner()).expect("UTF-8"),
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><m:Get xmlns:m="urn:orders"><m:id>1</m:id></m:Get></soap:Envelope>"#
    );
}

#[test]
fn int64_strings_round_trip_through_xml() {
    let typed = mapping(|c| {
        c.types.insert("r/l".into(), ValueType::Int64);
    });
    let xml = to_xml(r#"{"l":"9223372036854775807"}"#, "r", &typed).expect("writes");
    let mut json = Vec::new();
    xml_to_json(xml.as_bytes(), &typed, &mut json).expect("reads");
    assert_eq!(json, br#"{"l":"9223372036854775807"}"#);
}

#[test]
fn unprefixed_keys_take_the_namespace_the_schema_order_lists() {
    // Wrappers in the default namespace, types in `t`: with drop_prefixes the JSON has local
    // names only, and the order lists put each child back in its namespace.
    let schema = mapping(|c| {
        c.default_namespace = Some("urn:svc".into());
        c.namespaces.insert("t".into(), "urn:types".into());
        c.drop_prefixes = true;
        c.order.insert("Put".into(), vec!["item".into()]);
        c.order
            .insert("Put/item".into(), vec!["t:sku".into(), "t:qty".into()]);
    });
    let xml = to_xml(r#"{"item":{"qty":2,"sku":"a"}}"#, "Put", &schema).unwrap();
    assert_eq!(
        xml,
        r#"<Put xmlns="urn:svc" xmlns:t="urn:types"><item><t:sku>a</t:sku><t:qty>2</t:qty></item></Put>"#
    );
    let mut json = Vec::new();
    xml_to_json(xml.as_bytes(), &schema, &mut json).unwrap();
    assert_eq!(json, br#"{"item":{"sku":"a","qty":"2"}}"#);
    // Both spellings at once are the same element twice.
    assert!(matches!(
        to_xml(r#"{"item":{"sku":"a","t:sku":"b"}}"#, "Put", &schema),
        Err(XmlError::DuplicateKey { .. })
    ));
}
