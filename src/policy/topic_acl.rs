//! Topic ACLs of the embedded MQTT broker: per user, the topic filters it may publish to and
//! subscribe to. `{user}` in a filter stands for the user's name; the entry `*` applies to
//! users not listed and to anonymous clients. Without any entry, everything is allowed.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One user's rights, as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TopicAclConfig {
    /// Topic filters the user may publish to (`+` and `#` allowed).
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topic filters the user may subscribe within.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

/// Validated ACLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicAcl {
    users: BTreeMap<String, TopicAclConfig>,
}

impl TopicAcl {
    /// Checks every filter of `config`.
    pub fn build(config: &BTreeMap<String, TopicAclConfig>) -> Result<Self, String> {
        for (user, rights) in config {
            for filter in rights.publish.iter().chain(&rights.subscribe) {
                if !valid_filter(filter) {
                    return Err(format!(
                        "acl.{user}: '{filter}' is not a topic filter ('#' only last, '+' and '#' alone in their level)"
                    ));
                }
            }
        }
        Ok(Self {
            users: config.clone(),
        })
    }

    /// Whether any ACL is configured.
    pub fn is_set(&self) -> bool {
        !self.users.is_empty()
    }

    fn rights<'a>(&'a self, user: Option<&'a str>) -> Option<(&'a TopicAclConfig, &'a str)> {
        let user = user.unwrap_or("");
        let rights = self
            .users
            .get(user)
            .filter(|_| !user.is_empty())
            .or_else(|| self.users.get("*"))?;
        Some((rights, user))
    }

    /// Whether `user` may publish to `topic`.
    pub fn may_publish(&self, user: Option<&str>, topic: &str) -> bool {
        if !self.is_set() {
            return true;
        }
        self.rights(user).is_some_and(|(rights, name)| {
            rights
                .publish
                .iter()
                .any(|f| covers(&f.replace("{user}", name), topic))
        })
    }

    /// Whether `user` may subscribe to `filter` (every topic it matches must be allowed).
    pub fn may_subscribe(&self, user: Option<&str>, filter: &str) -> bool {
        if !self.is_set() {
            return true;
        }
        self.rights(user).is_some_and(|(rights, name)| {
            rights
                .subscribe
                .iter()
                .any(|f| covers(&f.replace("{user}", name), filter))
        })
    }
}

fn valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    !filter.is_empty()
        && levels.iter().enumerate().all(|(i, level)| {
            (*level == "#" && i == levels.len() - 1)
                || *level == "+"
                || !(level.contains('#') || level.contains('+'))
        })
}

/// Whether `allowed` covers `wanted` (a topic, or a filter whose wildcards must be covered by
/// wildcards of `allowed`).
fn covers(allowed: &str, wanted: &str) -> bool {
    let mut wanted_levels = wanted.split('/');
    for level in allowed.split('/') {
        if level == "#" {
            return true;
        }
        match wanted_levels.next() {
            None => return false,
            Some("#") => return false,
            Some(w) if level == "+" || level == w => {}
            Some(_) => return false,
        }
    }
    wanted_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> TopicAcl {
        let config: BTreeMap<String, TopicAclConfig> = [
            (
                "dev-1".to_owned(),
                TopicAclConfig {
                    publish: vec!["devices/{user}/#".into()],
                    subscribe: vec!["commands/{user}/+".into()],
                },
            ),
            (
                "*".to_owned(),
                TopicAclConfig {
                    publish: vec![],
                    subscribe: vec!["public/#".into()],
                },
            ),
        ]
        .into();
        TopicAcl::build(&config).unwrap()
    }

    #[test]
    fn users_publish_and_subscribe_within_their_filters() {
        let acl = acl();
        assert!(acl.may_publish(Some("dev-1"), "devices/dev-1/telemetry"));
        assert!(!acl.may_publish(Some("dev-1"), "devices/dev-2/telemetry"));
        assert!(!acl.may_publish(Some("other"), "devices/other/telemetry"));
        assert!(!acl.may_publish(None, "public/x"));
        assert!(acl.may_subscribe(Some("dev-1"), "commands/dev-1/+"));
        assert!(acl.may_subscribe(Some("dev-1"), "commands/dev-1/reboot"));
        assert!(!acl.may_subscribe(Some("dev-1"), "commands/#"));
        assert!(!acl.may_subscribe(Some("dev-1"), "commands/dev-1/reboot/now"));
        assert!(acl.may_subscribe(None, "public/news/#"));
        assert!(TopicAcl::default().may_publish(None, "anything"));
    }

    #[test]
    fn bad_filters_are_refused_at_load() {
        let config: BTreeMap<String, TopicAclConfig> = [(
            "u".to_owned(),
            TopicAclConfig {
                publish: vec!["a/#/b".into()],
                subscribe: vec![],
            },
        )]
        .into();
        assert_eq!(
            TopicAcl::build(&config).unwrap_err(),
            "acl.u: 'a/#/b' is not a topic filter ('#' only last, '+' and '#' alone in their level)"
        );
    }
}
