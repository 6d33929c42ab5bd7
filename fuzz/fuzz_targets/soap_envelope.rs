//! The SOAP envelope reader (`polygate::codec::soap::SoapBody`) as the SOAP route reads an
//! answer: the document is decoded (`decode_document`, with a charset picked by the first byte),
//! the envelope opened, its first `Body` element converted to JSON (`element_to_json`, with one
//! of three mappings) and the rest of the envelope checked. What converts is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::codec::soap::SoapBody;
use polygate::codec::xml::{decode_document, element_to_json};
use polygate_fuzz::{assert_json, selector, xml_mapping};

const CHARSETS: [Option<&str>; 4] = [None, Some("utf-8"), Some("iso-8859-1"), Some("utf-16")];

fuzz_target!(|data: &[u8]| {
    let (which, bytes) = selector(data);
    let mapping = xml_mapping(which);
    let charset = CHARSETS[usize::from(which / 3) % CHARSETS.len()];
    let Ok(document) = decode_document(bytes, charset) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&document) else {
        return;
    };
    let Ok(mut body) = SoapBody::open(text, mapping.limits().max_depth) else {
        return;
    };
    let _ = (
        body.version(),
        body.is_fault(),
        body.first().map(|f| &f.local),
    );
    let (reader, first) = body.take_first();
    if let Some(element) = first {
        let mut json = Vec::new();
        if element_to_json(reader, &element, mapping, &mut json).is_err() {
            return;
        }
        assert_json(&json, "element_to_json output");
    }
    let _ = body.finish();
});
