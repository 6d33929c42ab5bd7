//! Issue 5, item 8: hostile XML from a backend is refused, never expanded or fetched — DOCTYPE,
//! entities, illegal characters, depth, size, malformed markup — with a clear 502 and its
//! reason, encodings are decoded, and the gateway keeps serving.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::{envelope11, gateway, reason};

/// A plain-XML upstream serving `documents[n]` at `/doc/n`, and polygate in front of it with
/// a depth limit of 8 and `max_response_size: 64KiB`.
async fn serving(documents: Vec<Answer>) -> (crate::support::Gateway, HttpServer) {
    let documents = Arc::new(documents);
    let upstream = HttpServer::start(move |request: Recorded| {
        let documents = documents.clone();
        async move {
            let index: usize = request.target.trim_start_matches("/doc/").parse().unwrap();
            documents[index].clone()
        }
    })
    .await;
    let backends = format!(
        "  docs:\n    xml:\n      url: {}\n      max_response_size: 64KiB\n",
        upstream.url()
    );
    let mapping = "xml_mapping:\n  drop_prefixes: true\n  limits: {max_depth: 8}\nroutes:\n  - get: /v1/doc/{n}\n    backend: docs\n    xml: {path: \"/doc/{n}\"}\n";
    (gateway(&backends, mapping).await, upstream)
}

fn xml(body: impl Into<Bytes>) -> Answer {
    Answer::new(200, "application/xml", body)
}

/// Fetches every document and returns (status, body) per document.
async fn fetch_all(gateway: &crate::support::Gateway, count: usize) -> Vec<(u16, Value)> {
    let mut results = Vec::new();
    for index in 0..count {
        let response = gateway.client.get(&format!("/v1/doc/{index}")).await;
        results.push((response.status.as_u16(), response.json()));
    }
    results
}

#[tokio::test]
async fn doctypes_and_entities_are_refused_and_nothing_is_read_or_fetched() {
    let canary = HttpServer::start(|_request: Recorded| async { Answer::xml("<x/>") }).await;
    let port = canary.addr.port();
    let laughs = {
        let mut dtd = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
        for level in 1..10 {
            dtd.push_str(&format!(
                "<!ENTITY lol{level} \"{}\">",
                format!("&lol{};", level - 1)
                    .repeat(10)
                    .replace("&lol0;", "&lol;")
            ));
        }
        dtd.push_str("]><lolz>&lol9;</lolz>");
        dtd
    };
    let documents = vec![
        xml(r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#),
        xml(format!(
            r#"<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/x.dtd"> %p;]><r/>"#
        )),
        xml(format!(
            r#"<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/x.dtd"><r/>"#
        )),
        xml(laughs),
        xml("<r>&lol9;</r>"),
        xml("<r>&nbsp;</r>"),
        xml(format!(
            r#"<?xml-stylesheet href="http://127.0.0.1:{port}/x.xsl"?><r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd"/></r>"#
        )),
    ];
    let count = documents.len();
    let (gateway, _upstream) = serving(documents).await;
    let results = fetch_all(&gateway, count).await;
    for (status, body) in &results[..4] {
        assert_eq!(*status, 502, "{body}");
        assert_eq!(reason(body), "XML_DOCTYPE_FORBIDDEN", "{body}");
        assert_eq!(body["code"], 13, "{body}");
    }
    assert_eq!(
        results[0].1["message"],
        "backend 'docs' answered with XML that cannot be used: XML document type declarations (DOCTYPE) are not allowed (at byte 0)"
    );
    for (status, body) in &results[4..6] {
        assert_eq!(
            (*status, reason(body)),
            (502, "XML_UNDEFINED_ENTITY".to_owned()),
            "{body}"
        );
    }
    assert_eq!(
        results[5].1["message"],
        "backend 'docs' answered with XML that cannot be used: undefined entity &nbsp; at byte 3 (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)"
    );
    // XInclude is data and a stylesheet PI is dropped: nothing acts on them.
    assert_eq!(
        results[6],
        (200, json!({"include": {"@href": "file:///etc/passwd"}}))
    );
    assert_eq!(canary.connections_accepted(), 0, "nothing was fetched");
    // The gateway keeps serving the same backend.
    assert_eq!(gateway.client.get("/v1/doc/6").await.status, 200);
}

#[tokio::test]
async fn characters_references_and_cdata_are_checked_and_read_as_text() {
    let documents = vec![
        xml("<r>&#65;&#x42;</r>"),
        xml("<r><![CDATA[&lt;x&gt; ]]]]><![CDATA[>]]></r>"),
        xml("<r>&#0;</r>"),
        xml("<r>&#1;</r>"),
        xml("<r>&#xD800;</r>"),
        xml("<r>&#x110000;</r>"),
        xml(b"<r>a\x01b</r>".to_vec()),
        xml("<r a=\"&#1;\"/>"),
    ];
    let (gateway, _upstream) = serving(documents).await;
    let results = fetch_all(&gateway, 8).await;
    assert_eq!(results[0], (200, json!("AB")));
    assert_eq!(results[1], (200, json!("&lt;x&gt; ]]>")));
    for (status, body) in &results[2..] {
        assert_eq!(
            (*status, reason(body)),
            (502, "XML_ILLEGAL_CHAR".to_owned()),
            "{body}"
        );
    }
    assert_eq!(
        results[6].1["message"],
        "backend 'docs' answered with XML that cannot be used: character U+0001 is not allowed in XML 1.0 (at byte 4)"
    );
}

#[tokio::test]
async fn depth_size_and_attribute_counts_are_bounded() {
    let nested = |depth: usize| format!("{}x{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let documents = vec![
        xml(nested(8)),
        xml(nested(9)),
        xml("<a>".repeat(20_000)),
        xml(format!("<r a=\"{}\"/>", "x".repeat(100 << 10))),
        Answer::new(200, "application/xml", "<r/>").header("content-encoding", "gzip"),
        xml(format!(
            "<r {}/>",
            (0..300)
                .map(|i| format!("a{i}=\"1\""))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        xml(format!(
            "<r {}/>",
            (0..2_000)
                .map(|i| format!("xmlns:p{i}=\"urn:{i}\""))
                .collect::<Vec<_>>()
                .join(" ")
        )),
    ];
    let (gateway, _upstream) = serving(documents).await;
    let results = fetch_all(&gateway, 7).await;
    assert_eq!(
        results[0],
        (
            200,
            json!({"a": {"a": {"a": {"a": {"a": {"a": {"a": "x"}}}}}}})
        )
    );
    assert_eq!(
        (results[1].0, reason(&results[1].1)),
        (502, "XML_TOO_DEEP".to_owned())
    );
    assert_eq!(
        results[1].1["message"],
        "backend 'docs' answered with XML that cannot be used: nesting deeper than the limit of 8 levels at byte 24"
    );
    assert_eq!(
        (results[2].0, reason(&results[2].1)),
        (502, "XML_TOO_DEEP".to_owned())
    );
    assert_eq!(
        results[3],
        (
            502,
            json!({"code": 13, "message": "backend 'docs': the answer exceeds max_response_size (65536 bytes): Content-Length is 102409", "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "UPSTREAM_RESPONSE_TOO_LARGE", "domain": "polygate"}]})
        )
    );
    assert_eq!(
        results[4],
        (
            502,
            json!({"code": 2, "message": "backend 'docs': the answer has Content-Encoding 'gzip', but polygate asks for identity and does not decompress", "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "UPSTREAM_CONTENT_ENCODING", "domain": "polygate"}]})
        )
    );
    assert_eq!(
        (results[5].0, reason(&results[5].1)),
        (502, "XML_TOO_MANY_ATTRIBUTES".to_owned())
    );
    assert_eq!(
        (results[6].0, reason(&results[6].1)),
        (502, "XML_MALFORMED".to_owned()),
        "{}",
        results[6].1
    );
}

#[tokio::test]
async fn malformed_documents_are_refused() {
    let documents: Vec<Answer> = [
        "<r><a>",
        "<a></b>",
        "<a/><b/>",
        "junk<a/>",
        "<r x=\"1\" x=\"2\"/>",
        "<r x=\"a<b\"/>",
        "<p:r/>",
        "<r><p:a/></r>",
    ]
    .into_iter()
    .map(xml)
    .collect();
    let (gateway, _upstream) = serving(documents).await;
    for (index, (status, body)) in fetch_all(&gateway, 8).await.into_iter().enumerate() {
        assert_eq!(
            (status, reason(&body)),
            (502, "XML_MALFORMED".to_owned()),
            "document {index}: {body}"
        );
    }
}

#[tokio::test]
async fn declared_and_content_type_encodings_are_decoded() {
    let utf16 = |big_endian: bool| {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r>é€</r>";
        let mut bytes = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            bytes.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        bytes
    };
    let documents = vec![
        xml(b"\xEF\xBB\xBF<r>\xC3\xA9</r>".to_vec()),
        xml(utf16(false)),
        xml(utf16(true)),
        xml(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>caf\xE9</r>".to_vec()),
        xml(
            b"<?xml version='1.0' encoding='windows-1252'?><r a=\"\x80\">\x80\x93q\x94</r>"
                .to_vec(),
        ),
        Answer::new(
            200,
            "text/xml; charset=windows-1252",
            b"<r>\x80</r>".to_vec(),
        ),
        xml(b"<r>caf\xE9</r>".to_vec()),
        xml("<?xml version=\"1.0\" encoding=\"x-bogus\"?><r/>"),
        xml("<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>"),
        xml(b"\xFF\xFE\x00\x00<\x00\x00\x00".to_vec()),
    ];
    let (gateway, _upstream) = serving(documents).await;
    let results = fetch_all(&gateway, 10).await;
    assert_eq!(results[0], (200, json!("é")));
    assert_eq!(results[1], (200, json!("é€")));
    assert_eq!(results[2], (200, json!("é€")));
    assert_eq!(results[3], (200, json!("café")));
    assert_eq!(results[4], (200, json!({"@a": "€", "#text": "€“q”"})));
    assert_eq!(results[5], (200, json!("€")));
    assert_eq!(
        (results[6].0, reason(&results[6].1)),
        (502, "XML_BAD_ENCODING".to_owned())
    );
    assert_eq!(
        results[6].1["message"],
        "backend 'docs' answered with XML that cannot be used: the document is not valid UTF-8: invalid bytes at offset 6"
    );
    for (status, body) in &results[7..] {
        assert_eq!(
            (*status, reason(body)),
            (502, "XML_UNSUPPORTED_ENCODING".to_owned()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn hostile_soap_answers_are_refused_the_same_way() {
    let answers = Arc::new(vec![
        Answer::xml(format!(
            "<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
            envelope11("<R>&x;</R>")
        )),
        Answer::xml(envelope11(&format!(
            "{}x{}",
            "<a>".repeat(20),
            "</a>".repeat(20)
        ))),
        Answer::xml(envelope11("<R>&nbsp;</R>")),
        Answer::xml(format!("{}<trailing/>", envelope11("<R>1</R>"))),
        Answer::xml(envelope11("<R>1</R>")),
    ]);
    let upstream = HttpServer::start(move |request: Recorded| {
        let answers = answers.clone();
        async move {
            let index: usize = request.target.trim_start_matches("/svc/").parse().unwrap();
            answers[index].clone()
        }
    })
    .await;
    let mut backends = String::new();
    let mut mapping = String::from("xml_mapping:\n  limits: {max_depth: 8}\nroutes:\n");
    for index in 0..5 {
        backends.push_str(&format!(
            "  s{index}:\n    soap:\n      url: {}/svc/{index}\n",
            upstream.url()
        ));
        mapping.push_str(&format!(
            "  - get: /v1/s/{index}\n    backend: s{index}\n    soap: {{operation: Get}}\n"
        ));
    }
    let gateway = gateway(&backends, &mapping).await;
    let mut results = Vec::new();
    for index in 0..5 {
        let response = gateway.client.get(&format!("/v1/s/{index}")).await;
        results.push((
            response.status.as_u16(),
            reason(&response.json()),
            response.json(),
        ));
    }
    assert_eq!(
        (results[0].0, results[0].1.as_str()),
        (502, "XML_DOCTYPE_FORBIDDEN")
    );
    assert_eq!((results[1].0, results[1].1.as_str()), (502, "XML_TOO_DEEP"));
    assert_eq!(
        (results[2].0, results[2].1.as_str()),
        (502, "XML_UNDEFINED_ENTITY")
    );
    assert_eq!(
        (results[3].0, results[3].1.as_str()),
        (502, "XML_MALFORMED")
    );
    assert_eq!((results[4].0, results[4].2.clone()), (200, json!("1")));
}
