//! A SOAP backend's answer as the backend reads it after the exchange
//! (`polygate::backends::soap::read_answer_for_fuzzing`, a hidden entry point: the reader is
//! otherwise reached only through an HTTP exchange): the HTTP status and `Content-Type` are
//! picked by the first two bytes, the rest is the body. The answer, the envelope, faults of
//! both SOAP versions with their codes, texts and details, error pages and empty answers are
//! all read. A success is UTF-8 XML; a failure renders as the valid JSON error body the client
//! gets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::backends::soap::read_answer_for_fuzzing;
use polygate_fuzz::{assert_json, selector};

const STATUSES: [u16; 6] = [200, 500, 202, 204, 400, 503];
const CONTENT_TYPES: [&str; 6] = [
    "text/xml; charset=utf-8",
    "application/soap+xml; charset=\"UTF-8\"; action=\"urn:a\"",
    "text/xml; charset=iso-8859-1",
    "text/html",
    "multipart/related; type=\"application/xop+xml\"",
    "",
];

fuzz_target!(|data: &[u8]| {
    let (first, rest) = selector(data);
    let (second, body) = selector(rest);
    let status = STATUSES[usize::from(first) % STATUSES.len()];
    let expose = first & 0x80 != 0;
    let content_type = CONTENT_TYPES[usize::from(second) % CONTENT_TYPES.len()];
    match read_answer_for_fuzzing(status, content_type, body, expose) {
        Ok(xml) => assert!(std::str::from_utf8(&xml).is_ok(), "the answer is not UTF-8"),
        Err(status) => assert_json(&status.to_json(), "the error body"),
    }
});
