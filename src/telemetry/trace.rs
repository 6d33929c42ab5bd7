//! W3C Trace Context (`traceparent`, `tracestate`): validated as requests arrive, so backends
//! receive only well-formed trace headers, and the trace id is known for the access log.

use http::{HeaderMap, HeaderName};

/// `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// A parsed `traceparent`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent<'a> {
    /// The trace id, 32 lower-case hex digits, not all zero.
    pub trace_id: &'a str,
    /// The caller's span id, 16 lower-case hex digits, not all zero.
    pub parent_id: &'a str,
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

/// Parses a `traceparent` value as W3C Trace Context level 1 says: version 00 exactly as
/// specified; a higher version is read by its first four fields; version ff is invalid.
pub fn parse(value: &str) -> Option<TraceParent<'_>> {
    let bytes = value.as_bytes();
    if bytes.len() < 55 {
        return None;
    }
    let (version, rest) = value.split_at(2);
    if !is_hex(version) || version == "ff" {
        return None;
    }
    if version == "00" && bytes.len() != 55 {
        return None;
    }
    if bytes.len() > 55 && bytes[55] != b'-' {
        return None;
    }
    let rest = rest.as_bytes();
    if rest[0] != b'-' || rest[33] != b'-' || rest[50] != b'-' {
        return None;
    }
    let trace_id = &value[3..35];
    let parent_id = &value[36..52];
    let flags = &value[53..55];
    if !is_hex(trace_id) || !is_hex(parent_id) || !is_hex(flags) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        flags: u8::from_str_radix(flags, 16).ok()?,
    })
}

fn is_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks the trace headers of a request's metadata: a valid `traceparent` (and its
/// `tracestate`) stays to be propagated and its trace id is returned; an invalid or repeated
/// one is removed together with `tracestate`, as the specification asks.
pub fn accept(metadata: &mut HeaderMap) -> Option<Box<str>> {
    let mut values = metadata.get_all(TRACEPARENT).iter();
    let first = values.next()?;
    let single = values.next().is_none();
    let trace_id = first
        .to_str()
        .ok()
        .filter(|_| single)
        .and_then(parse)
        .map(|parent| Box::from(parent.trace_id));
    if trace_id.is_none() {
        metadata.remove(TRACEPARENT);
        metadata.remove(TRACESTATE);
    }
    trace_id
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_examples_parse_and_broken_values_do_not() {
        let parent = parse(VALID).unwrap();
        assert_eq!(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.parent_id, "00f067aa0ba902b7");
        assert_eq!(parent.flags, 1);
        for broken in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(broken), None, "{broken}");
        }
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").is_some());
    }

    #[test]
    fn an_invalid_traceparent_is_removed_with_its_tracestate() {
        let mut metadata = HeaderMap::new();
        metadata.insert(TRACEPARENT, "00-zz".parse().unwrap());
        metadata.insert(TRACESTATE, "a=b".parse().unwrap());
        assert_eq!(accept(&mut metadata), None);
        assert!(metadata.is_empty());
        metadata.insert(TRACEPARENT, VALID.parse().unwrap());
        metadata.insert(TRACESTATE, "a=b".parse().unwrap());
        assert_eq!(
            accept(&mut metadata).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(metadata.len(), 2);
    }
}
