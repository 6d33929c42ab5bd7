//! JSON → XML (`polygate::codec::xml::json_to_xml`) with three mappings and three root names,
//! picked by the first byte. What converts is well-formed XML: it reads back with `xml_to_json`
//! under a mapping that accepts any namespace. A failed call leaves the output as it was.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use polygate::codec::xml::{json_to_xml, xml_to_json, XmlMapping, XmlMappingConfig};
use polygate_fuzz::{assert_json, selector, xml_mapping};

const ROOTS: [&str; 3] = ["r", "m:orders", "t:Value"];
const PREFIX: &[u8] = b"prefix";

fn reader() -> &'static XmlMapping {
    static READER: OnceLock<XmlMapping> = OnceLock::new();
    READER.get_or_init(|| {
        let mut config = XmlMappingConfig {
            drop_prefixes: true,
            ..Default::default()
        };
        config.limits.max_depth = 256;
        config.limits.max_bytes = usize::MAX;
        config.limits.max_attributes = usize::MAX;
        XmlMapping::new(&config).expect("the read-back mapping is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let (which, json) = selector(data);
    let root = ROOTS[usize::from(which / 3) % ROOTS.len()];
    let mut xml = PREFIX.to_vec();
    if json_to_xml(json, root, xml_mapping(which), &mut xml).is_err() {
        assert_eq!(xml, PREFIX, "a failed json_to_xml changed its output");
        return;
    }
    let xml = &xml[PREFIX.len()..];
    let mut back = Vec::new();
    if let Err(error) = xml_to_json(xml, reader(), &mut back) {
        panic!(
            "{:?} as <{root}> gives XML that does not read back ({error}): {:?}",
            String::from_utf8_lossy(json),
            String::from_utf8_lossy(xml)
        );
    }
    assert_json(&back, "xml_to_json output");
});
