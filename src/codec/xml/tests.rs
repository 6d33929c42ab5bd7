//! Tests of the XML → JSON convention, one rule at a time, with exact expected JSON.

use quick_xml::events::Event;
use quick_xml::reader::NsReader;

use super::*;

pub(super) fn mapping(configure: impl FnOnce(&mut XmlMappingConfig)) -> XmlMapping {
    let mut config = XmlMappingConfig::default();
    configure(&mut config);
    XmlMapping::new(&config).expect("valid mapping")
}

pub(super) fn to_json(xml: &str, mapping: &XmlMapping) -> Result<String, XmlError> {
    let mut out = Vec::new();
    xml_to_json(xml.as_bytes(), mapping, &mut out)?;
    Ok(String::from_utf8(out).expect("JSON output is UTF-8"))
}

fn plain(xml: &str) -> Result<String, XmlError> {
    to_json(xml, &XmlMapping::default())
}

fn orders_mapping(configure: impl FnOnce(&mut XmlMappingConfig)) -> XmlMapping {
    mapping(|c| {
        c.namespaces.insert("m".into(), "urn:orders".into());
        configure(c);
    })
}

#[test]
fn attributes_become_at_keys() {
    assert_eq!(
        plain(r#"<r id="7" xml:lang="en"><name>x</name></r>"#),
        Ok(r#"{"@id":"7","@xml:lang":"en","name":"x"}"#.into())
    );
}

#[test]
fn attribute_values_are_normalised_and_may_be_guessed() {
    assert_eq!(
        plain("<r a=\"x\ny\tz\" b=\"x&#10;y\"/>"),
        Ok(r#"{"@a":"x y z","@b":"x\ny"}"#.into())
    );
    let guessing = mapping(|c| c.recognise_scalars = true);
    assert_eq!(
        to_json(r#"<r n="5" z="007" e=""/>"#, &guessing),
        Ok(r#"{"@n":5,"@z":"007","@e":""}"#.into())
    );
}

#[test]
fn error_messages_name_the_place() {
    let typed = mapping(|c| {
        c.types.insert("r/n".into(), ValueType::Boolean);
    });
    assert_eq!(
        to_json("<r><n>maybe</n></r>", &typed).map_err(|e| e.to_string()),
        Err("value at r/n is not a valid boolean: \"maybe\"".into())
    );
    assert_eq!(
        plain("<r><a><b/></a><a><p:c/></a></r>").map_err(|e| e.to_string()),
        Err("namespace prefix 'p' is not declared (at byte 17)".into())
    );
    assert_eq!(
        XmlError::TooDeep {
            limit: 64,
            at: "byte 192".into()
        }
        .to_string(),
        "nesting deeper than the limit of 64 levels at byte 192"
    );
}

#[test]
fn text_beside_attributes_is_hash_text() {
    assert_eq!(
        plain(r#"<price currency="EUR">12.50</price>"#),
        Ok(r##"{"@currency":"EUR","#text":"12.50"}"##.into())
    );
}

#[test]
fn mixed_content_concatenates_text_after_children() {
    assert_eq!(
        plain("<p>Hello <b>big</b> world</p>"),
        Ok(r##"{"b":"big","#text":"Hello  world"}"##.into())
    );
}

#[test]
fn whitespace_between_children_is_dropped_but_kept_in_leaves() {
    let xml = "<r>\n  <a> x </a>\n  <b>\n    <c>1</c>\n  </b>\n  <d a=\"1\">\n  </d>\n</r>\n";
    assert_eq!(
        plain(xml),
        Ok(r#"{"a":" x ","b":{"c":"1"},"d":{"@a":"1"}}"#.into())
    );
}

#[test]
fn namespaces_match_by_uri_whatever_the_document_prefix() {
    let mapping = orders_mapping(|_| {});
    let expected = r#"{"m:order":{"@id":"1","m:item":"x"}}"#;
    for xml in [
        r#"<a:orders xmlns:a="urn:orders"><a:order id="1"><a:item>x</a:item></a:order></a:orders>"#,
        r#"<orders xmlns="urn:orders"><order id="1"><item>x</item></order></orders>"#,
        r#"<b:orders xmlns:b="urn:orders"><order xmlns="urn:orders" id="1"><c:item xmlns:c="urn:orders">x</c:item></order></b:orders>"#,
    ] {
        assert_eq!(to_json(xml, &mapping), Ok(expected.into()), "{xml}");
    }
}

#[test]
fn default_namespace_gives_unprefixed_keys() {
    let mapping = mapping(|c| c.default_namespace = Some("urn:orders".into()));
    assert_eq!(
        to_json(
            r#"<o:orders xmlns:o="urn:orders"><o:order>1</o:order><plain>2</plain></o:orders>"#,
            &mapping
        ),
        Ok(r#"{"order":"1","plain":"2"}"#.into())
    );
}

#[test]
fn namespaced_attributes_use_mapping_prefixes() {
    let mapping = orders_mapping(|_| {});
    assert_eq!(
        to_json(
            r#"<x:r xmlns:x="urn:orders" x:code="A" plain="B"/>"#,
            &mapping
        ),
        Ok(r#"{"@m:code":"A","@plain":"B"}"#.into())
    );
}

#[test]
fn drop_prefixes_writes_local_names_and_accepts_unknown_namespaces() {
    let mapping = orders_mapping(|c| c.drop_prefixes = true);
    assert_eq!(
        to_json(
            r#"<a:orders xmlns:a="urn:orders" xmlns:z="urn:zzz"><a:order a:id="1">x</a:order><z:note>n</z:note></a:orders>"#,
            &mapping
        ),
        Ok(r##"{"order":{"@id":"1","#text":"x"},"note":"n"}"##.into())
    );
}

#[test]
fn unmapped_namespace_is_an_error_without_drop_prefixes() {
    let mapping = orders_mapping(|_| {});
    assert_eq!(
        to_json(
            r#"<a:orders xmlns:a="urn:orders"><z:note xmlns:z="urn:zzz">n</z:note></a:orders>"#,
            &mapping
        ),
        Err(XmlError::UnmappedNamespace {
            name: "note".into(),
            uri: "urn:zzz".into(),
            at: "m:orders".into(),
        })
    );
}

#[test]
fn repeated_elements_become_arrays_even_when_interleaved() {
    assert_eq!(
        plain("<r><a>1</a><b>2</b><a>3</a><c/><b>4</b><a>5</a></r>"),
        Ok(r#"{"a":["1","3","5"],"b":["2","4"],"c":""}"#.into())
    );
}

#[test]
fn adjacent_repeats_of_objects() {
    assert_eq!(
        plain(r#"<r x="0"><i n="1"><v>a</v><v>b</v></i><i n="2"/><j/></r>"#),
        Ok(r#"{"@x":"0","i":[{"@n":"1","v":["a","b"]},{"@n":"2"}],"j":""}"#.into())
    );
}

#[test]
fn interleaving_inside_interleaved_values() {
    let xml = "<r t=\"1\"><a><x>1</x><y>2</y><x>3</x></a><b>b</b><a><y>4</y></a>text</r>";
    assert_eq!(
        plain(xml),
        Ok(r##"{"@t":"1","a":[{"x":["1","3"],"y":"2"},{"y":"4"}],"b":"b","#text":"text"}"##.into())
    );
}

#[test]
fn many_distinct_children_with_repeats() {
    let mut xml = String::from("<r>");
    for round in 0..2 {
        for n in 0..40 {
            xml.push_str(&format!("<k{n}>{round}</k{n}>"));
        }
    }
    xml.push_str("</r>");
    let mut expected = String::from("{");
    for n in 0..40 {
        if n > 0 {
            expected.push(',');
        }
        expected.push_str(&format!(r#""k{n}":["0","1"]"#));
    }
    expected.push('}');
    assert_eq!(plain(&xml), Ok(expected));
}

#[test]
fn declared_arrays_with_no_occurrence_are_empty_arrays() {
    let mapping = orders_mapping(|c| {
        c.arrays.push("m:resp/m:orders/m:order".into());
        c.arrays.push("m:resp/m:orders/m:order/tag".into());
        c.arrays.push("m:resp/*/note".into());
    });
    let xml = r#"<m:resp xmlns:m="urn:orders"><m:orders><m:order><id>1</id></m:order></m:orders></m:resp>"#;
    assert_eq!(
        to_json(xml, &mapping),
        Ok(r#"{"m:orders":{"m:order":[{"id":"1","tag":[]}]}}"#.into())
    );
    let empty = r#"<m:resp xmlns:m="urn:orders"><m:orders/></m:resp>"#;
    assert_eq!(
        to_json(empty, &mapping),
        Ok(r#"{"m:orders":{"m:order":[]}}"#.into())
    );
    let omitted = orders_mapping(|c| {
        c.arrays.push("m:resp/m:orders/m:order".into());
        c.omit_empty_arrays = true;
    });
    assert_eq!(to_json(empty, &omitted), Ok(r#"{"m:orders":""}"#.into()));
}

#[test]
fn forced_arrays_with_one_element() {
    let mapping = orders_mapping(|c| {
        c.arrays.push("m:resp/m:orders/m:order".into());
        c.arrays.push("m:resp/*/tag".into());
    });
    let xml = r#"<m:resp xmlns:m="urn:orders"><m:orders><m:order><tag>t</tag></m:order></m:orders><other><tag>u</tag></other></m:resp>"#;
    assert_eq!(
        to_json(xml, &mapping),
        Ok(r#"{"m:orders":{"m:order":[{"tag":"t"}]},"other":{"tag":["u"]}}"#.into())
    );
}

#[test]
fn forced_arrays_keep_growing_and_interleave() {
    let mapping = mapping(|c| c.arrays.push("r/a".into()));
    assert_eq!(
        to_json("<r><a>1</a><a>2</a><b/><a>3</a></r>", &mapping),
        Ok(r#"{"a":["1","2","3"],"b":""}"#.into())
    );
}

#[test]
fn empty_elements_by_option() {
    let xml = "<r><a/><b></b><n/></r>";
    let hinted = |empty_as| {
        mapping(move |c| {
            c.empty_as = empty_as;
            c.types.insert("r/n".into(), ValueType::Int);
        })
    };
    assert_eq!(
        to_json(xml, &hinted(EmptyAs::EmptyString)),
        Ok(r#"{"a":"","b":"","n":null}"#.into())
    );
    assert_eq!(
        to_json(xml, &hinted(EmptyAs::Null)),
        Ok(r#"{"a":null,"b":null,"n":null}"#.into())
    );
    assert_eq!(plain("<r/>"), Ok(r#""""#.into()));
}

#[test]
fn xsi_nil_is_null() {
    let xml = r#"<r xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><a i:nil="true"/><b i:nil="1" x="1"></b><c i:nil="false">v</c></r>"#;
    assert_eq!(
        plain(xml),
        Ok(r##"{"a":null,"b":{"@x":"1","#text":null},"c":"v"}"##.into())
    );
    assert_eq!(
        plain(
            r#"<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a xsi:nil="true">x</a></r>"#
        ),
        Err(XmlError::NilWithContent { at: "r/a".into() })
    );
}

#[test]
fn xsi_type_and_schema_location_are_dropped() {
    assert_eq!(
        plain(
            r#"<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x x.xsd"><a xsi:type="T">1</a></r>"#
        ),
        Ok(r#"{"a":"1"}"#.into())
    );
}

#[test]
fn zip_code_stays_a_string_even_when_guessing() {
    let guessing = mapping(|c| c.recognise_scalars = true);
    let xml = "<r><zip>01234</zip><n>12</n><f>-1.5e3</f><b>true</b><big>9007199254740993</big><s> 5</s></r>";
    assert_eq!(
        to_json(xml, &guessing),
        Ok(
            r#"{"zip":"01234","n":12,"f":-1.5e3,"b":true,"big":"9007199254740993","s":" 5"}"#
                .into()
        )
    );
    assert_eq!(
        plain("<r><zip>01234</zip><n>12</n></r>"),
        Ok(r#"{"zip":"01234","n":"12"}"#.into())
    );
}

#[test]
fn type_hints() {
    let hints = |int64_as_number, decimal_as_number| {
        mapping(move |c| {
            c.int64_as_number = int64_as_number;
            c.decimal_as_number = decimal_as_number;
            for (path, value_type) in [
                ("r/i", ValueType::Int),
                ("r/d", ValueType::Double),
                ("r/b", ValueType::Boolean),
                ("r/l", ValueType::Int64),
                ("r/m", ValueType::Decimal),
                ("r/s", ValueType::String),
                ("r/inf", ValueType::Double),
            ] {
                c.types.insert(path.into(), value_type);
            }
        })
    };
    let xml = "<r><i> +007 </i><d>1.5E3</d><b>1</b><l>-9223372036854775808</l><m>.50</m><s>007</s><inf>-INF</inf></r>";
    assert_eq!(
        to_json(xml, &hints(false, false)),
        Ok(r#"{"i":7,"d":1.5e3,"b":true,"l":"-9223372036854775808","m":"0.50","s":"007","inf":"-INF"}"#.into())
    );
    assert_eq!(
        to_json(xml, &hints(true, true)),
        Ok(r#"{"i":7,"d":1.5e3,"b":true,"l":-9223372036854775808,"m":0.50,"s":"007","inf":"-INF"}"#.into())
    );
}

#[test]
fn hint_mismatch_names_the_path() {
    let mapping = mapping(|c| {
        c.types.insert("r/*/i".into(), ValueType::Int);
        c.arrays.push("r/o".into());
    });
    assert_eq!(
        to_json("<r><o><i>1</i></o><o><i>abc</i></o></r>", &mapping),
        Err(XmlError::InvalidValue {
            at: "r/o[1]/i".into(),
            expected: "int",
            found: "abc".into(),
        })
    );
}

#[test]
fn attribute_and_text_hints() {
    let mapping = orders_mapping(|c| {
        c.types.insert("m:r/m:price/@qty".into(), ValueType::Int);
        c.types.insert("m:r/m:price".into(), ValueType::Decimal);
        c.types.insert("m:r/@m:flag".into(), ValueType::Boolean);
    });
    let xml = r#"<m:r xmlns:m="urn:orders" m:flag="false"><m:price qty="3" cur="EUR">12.5</m:price></m:r>"#;
    assert_eq!(
        to_json(xml, &mapping),
        Ok(r##"{"@m:flag":false,"m:price":{"@qty":3,"@cur":"EUR","#text":"12.5"}}"##.into())
    );
}

#[test]
fn cdata_is_text() {
    assert_eq!(
        plain("<r><![CDATA[<x> & y]]></r>"),
        Ok(r#""<x> & y""#.into())
    );
    assert_eq!(
        plain("<r><![CDATA[&lt;x&gt; ]]]]><![CDATA[>]]></r>"),
        Ok(r#""&lt;x&gt; ]]>""#.into())
    );
    assert_eq!(plain("<r>a<![CDATA[b]]>c</r>"), Ok(r#""abc""#.into()));
}

#[test]
fn entities_and_character_references() {
    assert_eq!(
        plain("<r>&lt;&amp;&#x41;&#66;&gt;&quot;&apos;</r>"),
        Ok(r#""<&AB>\"'""#.into())
    );
    assert_eq!(
        plain(r#"<r a="&lt;&#x41;&amp;"/>"#),
        Ok(r#"{"@a":"<A&"}"#.into())
    );
}

#[test]
fn json_escaping_of_text() {
    assert_eq!(
        plain("<r>a\"b\\c\td\ne\u{7F}é😀</r>"),
        Ok("\"a\\\"b\\\\c\\td\\ne\u{7F}é😀\"".into())
    );
    assert_eq!(plain("<r>a\r\nb</r>"), Ok(r#""a\nb""#.into()));
    assert_eq!(plain("<r>a&#13;b</r>"), Ok(r#""a\rb""#.into()));
}

#[test]
fn comments_and_processing_instructions_are_dropped() {
    assert_eq!(
        plain("<?xml version=\"1.0\"?><!-- c --><?pi x?><r><!-- c -->a<?pi?>b</r><!-- end -->\n"),
        Ok(r#""ab""#.into())
    );
}

#[test]
fn element_to_json_converts_a_payload_inside_an_envelope() {
    let mapping = orders_mapping(|c| c.arrays.push("m:GetOrdersResponse/m:order".into()));
    let xml = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="urn:orders">
  <soap:Body><o:GetOrdersResponse><o:order id="1"/></o:GetOrdersResponse></soap:Body>
</soap:Envelope>"#;
    let mut reader = NsReader::from_str(xml);
    let mut out = Vec::new();
    loop {
        let event = reader.read_event().expect("well-formed");
        guard_event(&event, 0).expect("no hostile event");
        if let Event::Start(start) = &event {
            if start.local_name().as_ref() == "GetOrdersResponse" {
                element_to_json(&mut reader, &event, &mapping, &mut out).expect("converts");
                break;
            }
        }
    }
    assert_eq!(out, br#"{"m:order":[{"@id":"1"}]}"#);
    // The reader continues after the payload's end tag.
    assert!(
        matches!(reader.read_event(), Ok(Event::End(end)) if end.name().as_ref() == "soap:Body")
    );
}

#[test]
fn guard_event_refuses_hostile_events() {
    let mut reader = NsReader::from_str("<!DOCTYPE r><r>&x;\u{1}</r>");
    let doctype = reader.read_event().expect("event");
    assert_eq!(
        guard_event(&doctype, 0),
        Err(XmlError::DoctypeForbidden { offset: 0 })
    );
    let _start = reader.read_event();
    let reference = reader.read_event().expect("event");
    assert_eq!(
        guard_event(&reference, 5),
        Err(XmlError::UnknownEntity {
            name: "x".into(),
            offset: 5
        })
    );
    let text = reader.read_event().expect("event");
    assert_eq!(
        guard_event(&text, 9),
        Err(XmlError::IllegalChar { code: 1, offset: 9 })
    );
}

#[test]
fn output_is_appended_and_untouched_on_error() {
    let mut out = b"prefix:".to_vec();
    xml_to_json(b"<r>1</r>", &XmlMapping::default(), &mut out).expect("converts");
    assert_eq!(out, b"prefix:\"1\"");
    let result = xml_to_json(b"<r><a>1</a><b>", &XmlMapping::default(), &mut out);
    assert!(matches!(result, Err(XmlError::Malformed { .. })));
    assert_eq!(out, b"prefix:\"1\"");
}
