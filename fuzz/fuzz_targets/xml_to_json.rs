//! XML → JSON (`polygate::codec::xml::xml_to_json`) with three mappings (plain; namespaces,
//! arrays and type hints; lenient with small limits), picked by the first byte. What converts
//! is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::codec::xml::xml_to_json;
use polygate_fuzz::{assert_json, selector, xml_mapping};

fuzz_target!(|data: &[u8]| {
    let (which, xml) = selector(data);
    let mut json = Vec::new();
    if xml_to_json(xml, xml_mapping(which), &mut json).is_ok() {
        assert_json(&json, "xml_to_json output");
    }
});
