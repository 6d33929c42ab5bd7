//! `google.api.http` path templates (`polygate::mapping::template`): the parser never panics,
//! keeps the text as given, and its canonical form (`Display`) parses back to an equal template
//! that prints the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::mapping::template::{PathTemplate, Segment};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = PathTemplate::parse(text) else {
        return;
    };
    assert_eq!(template.as_str(), text);
    let segments = template.segments();
    for (index, segment) in segments.iter().enumerate() {
        if *segment == Segment::DoubleWildcard {
            assert_eq!(index + 1, segments.len(), "'**' must be last: {text:?}");
        }
    }
    for variable in template.variables() {
        assert!(variable.start_segment <= variable.end_segment, "{text:?}");
        assert!(variable.end_segment <= segments.len(), "{text:?}");
        assert!(!variable.field_path.segments().is_empty(), "{text:?}");
    }
    let canonical = template.to_string();
    let again = PathTemplate::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {text:?} does not parse: {e}"));
    assert_eq!(again, template, "{text:?} -> {canonical:?}");
    assert_eq!(again.to_string(), canonical, "{text:?}");
});
