//! Hostile and malformed XML: each case is refused with a precise error, quickly.

use std::time::{Duration, Instant};

use super::tests::{mapping, to_json};
use super::*;

fn plain(xml: &[u8]) -> Result<String, XmlError> {
    let mut out = Vec::new();
    xml_to_json(xml, &XmlMapping::default(), &mut out)?;
    Ok(String::from_utf8(out).expect("JSON output is UTF-8"))
}

fn malformed_reason(result: Result<String, XmlError>) -> String {
    match result {
        Err(XmlError::Malformed { reason, .. }) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"#;

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let started = Instant::now();
    assert_eq!(
        plain(BILLION_LAUGHS.as_bytes()),
        Err(XmlError::DoctypeForbidden { offset: 22 })
    );
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[test]
fn xxe_and_external_dtds_are_refused() {
    assert_eq!(
        plain(br#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#),
        Err(XmlError::DoctypeForbidden { offset: 0 })
    );
    assert_eq!(
        plain(br#"<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><r/>"#),
        Err(XmlError::DoctypeForbidden { offset: 0 })
    );
    assert_eq!(
        plain(br#"<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:1/x.dtd"><r/>"#),
        Err(XmlError::DoctypeForbidden { offset: 21 })
    );
}

#[test]
fn doctype_alone_is_refused() {
    assert_eq!(
        plain(b"<!DOCTYPE r><r/>"),
        Err(XmlError::DoctypeForbidden { offset: 0 })
    );
}

#[test]
fn undefined_entities_are_refused() {
    assert_eq!(
        plain(b"<r>&lol9;</r>"),
        Err(XmlError::UnknownEntity {
            name: "lol9".into(),
            offset: 3
        })
    );
    assert_eq!(
        plain(b"<r>a&nbsp;</r>"),
        Err(XmlError::UnknownEntity {
            name: "nbsp".into(),
            offset: 4
        })
    );
    assert!(matches!(
        plain(br#"<r a="&nbsp;"/>"#),
        Err(XmlError::UnknownEntity { name, .. }) if name == "nbsp"
    ));
}

#[test]
fn illegal_characters_are_refused() {
    for (xml, code) in [
        (&b"<r>&#1;</r>"[..], 1),
        (b"<r>&#xFFFE;</r>", 0xFFFE),
        (b"<r>a\x01</r>", 1),
        (b"<r a=\"&#1;\"/>", 1),
        (b"<r><![CDATA[\x0B]]></r>", 0xB),
    ] {
        assert!(
            matches!(plain(xml), Err(XmlError::IllegalChar { code: c, .. }) if c == code),
            "{:?} → {:?}",
            String::from_utf8_lossy(xml),
            plain(xml)
        );
    }
    for xml in [
        &b"<r>&#0;</r>"[..],
        b"<r>&#xD800;</r>",
        b"<r>&#x110000;</r>",
    ] {
        assert!(
            matches!(plain(xml), Err(XmlError::IllegalChar { .. })),
            "{:?} → {:?}",
            String::from_utf8_lossy(xml),
            plain(xml)
        );
    }
    assert_eq!(plain(b"<r>&#65;&#x42;</r>"), Ok(r#""AB""#.into()));
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
    let started = Instant::now();
    assert_eq!(
        plain(deep.as_bytes()),
        Err(XmlError::TooDeep {
            limit: 64,
            at: "byte 192".into()
        })
    );
    let unclosed = "<a>".repeat(100_000);
    assert!(matches!(
        plain(unclosed.as_bytes()),
        Err(XmlError::TooDeep { limit: 64, .. })
    ));
    assert!(started.elapsed() < Duration::from_millis(500));

    // Exactly at the limit passes.
    let at_limit = "<a>".repeat(64) + "x" + &"</a>".repeat(64);
    let expected = r#"{"a":"#.repeat(63) + r#""x""# + &"}".repeat(63);
    assert_eq!(plain(at_limit.as_bytes()), Ok(expected));
    let shallow = mapping(|c| c.limits.max_depth = 2);
    assert!(matches!(
        to_json("<a><b><c/></b></a>", &shallow),
        Err(XmlError::TooDeep { limit: 2, .. })
    ));
}

#[test]
fn oversize_documents_are_refused() {
    let small = mapping(|c| c.limits.max_bytes = 100);
    let big = format!("<r>{}</r>", "x".repeat(200));
    assert_eq!(
        to_json(&big, &small),
        Err(XmlError::TooLarge {
            limit: 100,
            size: 207
        })
    );
}

#[test]
fn oversize_payload_is_refused_by_element_to_json() {
    let small = mapping(|c| c.limits.max_bytes = 50);
    let xml = format!("<env><r>{}</r></env>", "<a>1</a>".repeat(20));
    let mut reader = quick_xml::reader::NsReader::from_str(&xml);
    let _env = reader.read_event();
    let root = reader.read_event().expect("event");
    let mut out = Vec::new();
    assert!(matches!(
        element_to_json(&mut reader, &root, &small, &mut out),
        Err(XmlError::TooLarge { limit: 50, .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn attribute_and_namespace_floods_are_refused_quickly() {
    let started = Instant::now();
    let many: String = (0..100_000).map(|n| format!(" a{n}=\"1\"")).collect();
    assert_eq!(
        plain(format!("<r{many}/>").as_bytes()),
        Err(XmlError::TooManyAttributes {
            limit: 256,
            element: "r".into(),
            offset: 0
        })
    );
    let bindings: String = (0..10_000)
        .map(|n| format!(" xmlns:p{n}=\"urn:{n}\""))
        .collect();
    assert!(matches!(
        plain(format!("<r{bindings}/>").as_bytes()),
        Err(XmlError::Malformed { .. })
    ));
    let huge_value = format!("<r a=\"{}\"/>", "v".repeat(10 * 1024 * 1024));
    assert!(matches!(
        plain(huge_value.as_bytes()),
        Err(XmlError::TooLarge { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn malformed_structures_are_refused() {
    assert_eq!(
        malformed_reason(plain(b"<r><a>")),
        "the document ends inside element r/a"
    );
    assert!(malformed_reason(plain(b"<a></b>")).contains("expected `</a>`, but `</b>` was found"));
    assert_eq!(
        malformed_reason(plain(b"<a/><b/>")),
        "a second root element"
    );
    assert_eq!(
        malformed_reason(plain(b"junk<a/>")),
        "text before the root element"
    );
    assert_eq!(
        malformed_reason(plain(b"<a/>junk")),
        "text after the root element"
    );
    assert_eq!(
        malformed_reason(plain(b"")),
        "the document has no root element"
    );
    assert_eq!(
        malformed_reason(plain(b"  \n")),
        "the document has no root element"
    );
    assert!(malformed_reason(plain(br#"<r x="1" x="2"/>"#)).contains("duplicated"));
    assert_eq!(
        malformed_reason(plain(br#"<r x="a<b"/>"#)),
        "'<' in the value of attribute x"
    );
    assert_eq!(
        malformed_reason(plain(b"<r><?xml version=\"1.0\"?></r>")),
        "XML declaration inside an element"
    );
    assert_eq!(
        plain(b"<p:r/>"),
        Err(XmlError::UndeclaredPrefix {
            prefix: "p".into(),
            offset: 0
        })
    );
    assert_eq!(
        plain(b"<r p:a=\"1\"/>"),
        Err(XmlError::UndeclaredPrefix {
            prefix: "p".into(),
            offset: 0
        })
    );
}

#[test]
fn latin1_and_windows_1252_prologs_are_decoded() {
    assert_eq!(
        plain(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>caf\xE9</r>"),
        Ok(r#""café""#.into())
    );
    assert_eq!(
        plain(b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><r a=\"\x80\">\x80\x93q\x94</r>"),
        Ok(r##"{"@a":"€","#text":"€“q”"}"##.into())
    );
}

#[test]
fn utf8_and_utf16_byte_order_marks() {
    assert_eq!(plain(b"\xEF\xBB\xBF<r>\xC3\xA9</r>"), Ok(r#""é""#.into()));
    let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r>é€</r>";
    let mut le = vec![0xFF, 0xFE];
    let mut be = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        le.extend_from_slice(&unit.to_le_bytes());
        be.extend_from_slice(&unit.to_be_bytes());
    }
    assert_eq!(plain(&le), Ok(r#""é€""#.into()));
    assert_eq!(plain(&be), Ok(r#""é€""#.into()));
}

#[test]
fn bad_and_unsupported_encodings() {
    assert_eq!(
        plain(b"<r>\xE9</r>"),
        Err(XmlError::BadEncoding {
            encoding: "UTF-8",
            offset: 3
        })
    );
    assert_eq!(
        plain(b"<?xml version=\"1.0\" encoding=\"x-bogus\"?><r/>"),
        Err(XmlError::UnsupportedEncoding("x-bogus".into()))
    );
    assert!(matches!(
        plain(b"\x00\x00\xFE\xFF\x00\x00\x00<"),
        Err(XmlError::UnsupportedEncoding(_))
    ));
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(
        XmlError::DoctypeForbidden { offset: 0 }.code(),
        "xml_doctype_forbidden"
    );
    assert_eq!(
        XmlError::UnknownEntity {
            name: "x".into(),
            offset: 0
        }
        .code(),
        "xml_undefined_entity"
    );
    assert_eq!(
        XmlError::DoctypeForbidden { offset: 22 }.to_string(),
        "XML document type declarations (DOCTYPE) are not allowed (at byte 22)"
    );
}

#[test]
fn names_that_are_not_xml_names_are_refused_before_they_become_json_keys() {
    // Found by fuzzing: the reader takes any bytes up to a space, '=', '/' or '>' as a name, and
    // such a name was written into the JSON as a key without escaping, giving invalid JSON (a
    // control character) or other keys (a quote).
    assert_eq!(
        plain(b"<r x(ml\x1fns=\"u\"/>"),
        Err(XmlError::Malformed {
            offset: 0,
            reason: "invalid name \"x(ml\\u{1f}ns\": the name contains a character not allowed in XML names (or a second ':')".into()
        })
    );
    assert_eq!(
        plain(br#"<r><a","b":"c>1</a","b":"c></r>"#),
        Err(XmlError::Malformed {
            offset: 3,
            reason: r#"invalid name "a\",\"b\":\"c": the name contains a character not allowed in XML names (or a second ':')"#.into()
        })
    );
    assert_eq!(
        malformed_reason(plain(b"<r><1a/></r>")),
        "invalid name \"1a\": a name must start with a letter or '_'"
    );
    assert_eq!(
        malformed_reason(plain(b"<r><p:/></r>")),
        "invalid name \"p:\": the name is empty"
    );
    // Names XML allows still convert, prefixes and non-ASCII letters included.
    assert_eq!(
        plain("<r xmlns:p=\"urn:p\" p:é-1.x=\"v\"><_a·b/></r>".as_bytes()),
        Err(XmlError::UnmappedNamespace {
            name: "@é-1.x".into(),
            uri: "urn:p".into(),
            at: "r".into()
        })
    );
    assert_eq!(
        plain("<r é-1.x=\"v\"><_a·b/></r>".as_bytes()),
        Ok(r#"{"@é-1.x":"v","_a·b":""}"#.into())
    );
}
