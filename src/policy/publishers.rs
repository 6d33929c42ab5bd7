//! Which publishers a topic route takes when the broker is external: polygate cannot see who
//! published a message there, so the client id is read from a topic level that the broker's own
//! ACL ties to the client id (Mosquitto `pattern write devices/%c/#`), and checked against the
//! route's allow-list.

use serde::Deserialize;

/// A topic route's `publishers:` as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PublishersConfig {
    /// The topic variable holding the publisher's client id (`device` in
    /// `devices/{device}/telemetry`): a whole level, which the broker's ACL must tie to the
    /// client id.
    pub client_id_from: String,
    /// The client ids accepted: exact ids, or patterns where `*` stands for any run of
    /// characters (`sensor-*`).
    pub allow: Vec<String>,
}

/// `publishers:` validated: which topic level to read and what it may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publishers {
    level: usize,
    allow: Vec<Box<str>>,
}

impl Publishers {
    /// Validates `config` for a route whose variable `client_id_from` is the topic's level
    /// `level` (as the topic template found it).
    pub fn build(config: &PublishersConfig, level: Option<usize>) -> Result<Self, String> {
        let Some(level) = level else {
            return Err(format!(
                "publishers.client_id_from: '{}' is not a variable of the route's topic",
                config.client_id_from
            ));
        };
        if config.allow.is_empty() {
            return Err("publishers.allow: list the client ids (or patterns) accepted".into());
        }
        if let Some(bad) = config
            .allow
            .iter()
            .find(|a| a.is_empty() || a.contains(['/', '+', '#']))
        {
            return Err(format!(
                "publishers.allow: '{bad}' cannot be a client id in a topic level"
            ));
        }
        Ok(Self {
            level,
            allow: config.allow.iter().map(|a| a.as_str().into()).collect(),
        })
    }

    /// The publisher's client id in `topic`, and whether it is allowed.
    pub(crate) fn check<'t>(&self, topic: &'t str) -> (&'t str, bool) {
        let client_id = topic.split('/').nth(self.level).unwrap_or_default();
        let allowed = !client_id.is_empty() && self.allow.iter().any(|p| matches(p, client_id));
        (client_id, allowed)
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publishers(allow: &[&str]) -> Publishers {
        let config = PublishersConfig {
            client_id_from: "device".into(),
            allow: allow.iter().map(|a| a.to_string()).collect(),
        };
        Publishers::build(&config, Some(1)).unwrap()
    }

    #[test]
    fn client_ids_are_read_from_their_level_and_matched_exactly_or_by_pattern() {
        let allowed = publishers(&["dev-1", "sensor-*", "*-edge", "a*b*c"]);
        assert_eq!(allowed.check("devices/dev-1/telemetry"), ("dev-1", true));
        assert_eq!(allowed.check("devices/dev-12/telemetry"), ("dev-12", false));
        assert_eq!(allowed.check("devices/sensor-9/t"), ("sensor-9", true));
        assert_eq!(allowed.check("devices/sensor-/t"), ("sensor-", true));
        assert_eq!(allowed.check("devices/x-edge/t"), ("x-edge", true));
        assert_eq!(allowed.check("devices/abc/t"), ("abc", true));
        assert_eq!(allowed.check("devices/a-b-c/t"), ("a-b-c", true));
        assert_eq!(allowed.check("devices/acb/t"), ("acb", false));
        assert_eq!(allowed.check("devices//t"), ("", false));
        assert_eq!(allowed.check("devices"), ("", false));
    }

    #[test]
    fn bad_settings_are_refused() {
        let config = |from: &str, allow: &[&str]| PublishersConfig {
            client_id_from: from.into(),
            allow: allow.iter().map(|a| a.to_string()).collect(),
        };
        assert_eq!(
            Publishers::build(&config("id", &["a"]), None).unwrap_err(),
            "publishers.client_id_from: 'id' is not a variable of the route's topic"
        );
        assert_eq!(
            Publishers::build(&config("id", &[]), Some(0)).unwrap_err(),
            "publishers.allow: list the client ids (or patterns) accepted"
        );
        assert_eq!(
            Publishers::build(&config("id", &["a/b"]), Some(0)).unwrap_err(),
            "publishers.allow: 'a/b' cannot be a client id in a topic level"
        );
    }
}
