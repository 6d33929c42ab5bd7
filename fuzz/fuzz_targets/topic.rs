//! Topic templates and the topic trie (`polygate::mapping::topic`). The input is lines: topic
//! templates, an empty line, then published topics. Every template that parses is inserted;
//! every topic is looked up. A match has one capture per variable of the matched template, and
//! a template's subscription filter never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygate::mapping::topic::{TopicRouter, TopicTemplate};

const MAX_ROUTES: usize = 64;
const MAX_TOPICS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (templates, topics) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut router = TopicRouter::new();
    for (index, line) in templates.lines().take(MAX_ROUTES).enumerate() {
        let Ok(template) = TopicTemplate::parse(line) else {
            continue;
        };
        assert_eq!(template.as_str(), line);
        let _ = template.filter();
        let _ = router.insert(template, index);
    }
    for topic in topics.lines().take(MAX_TOPICS) {
        if let Some(found) = router.find(topic) {
            assert_eq!(
                found.captures.len(),
                found.template.variables().len(),
                "{} on {topic:?}",
                found.template.as_str()
            );
            for (capture, variable) in found.captures.iter().zip(found.template.variables()) {
                assert_eq!(capture.field_path, variable);
            }
        }
    }
});
