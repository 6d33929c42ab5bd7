//! Options of routes that take published messages (topic routes): the subscription's QoS, the
//! payload format, the retry policy, where replies, errors and dead letters go, and the shared
//! subscription group. Written per entry in mapping files, checked once against the route.

use std::time::Duration;

use serde::Deserialize;

use crate::config::units::ConfigDuration;
use crate::model::{Code, CodeName};

/// How a message's payload becomes the request.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// proto3 JSON (default), merged with the topic variables.
    #[default]
    Json,
    /// The binary protobuf encoding of the method's input (or of the `body` field's message).
    Protobuf,
    /// The payload's bytes, untouched, into the `body` field (a `bytes`, `string` or
    /// `google.api.HttpBody` field).
    Raw,
}

/// `retry:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included; `0` retries without limit. Default 5.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// The wait before the second attempt; doubled after each attempt. Default `200ms`.
    #[serde(default)]
    pub initial_backoff: Option<ConfigDuration>,
    /// The longest wait between two attempts. Default `10s`.
    #[serde(default)]
    pub max_backoff: Option<ConfigDuration>,
    /// The gRPC codes worth retrying, by name (`UNAVAILABLE`). Default `UNAVAILABLE`,
    /// `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`.
    #[serde(default)]
    pub retryable_codes: Option<Vec<CodeName>>,
}

/// The message options of one entry, as written; unset ones inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageOptionsConfig {
    /// `qos`: the subscription's QoS (0, 1 or 2).
    pub qos: Option<u8>,
    /// `payload`.
    pub payload: Option<PayloadFormat>,
    /// `retry`.
    pub retry: Option<RetryConfig>,
    /// `error_topic`.
    pub error_topic: Option<String>,
    /// `dead_letter_topic`.
    pub dead_letter_topic: Option<String>,
    /// `reply_topic`.
    pub reply_topic: Option<String>,
    /// `shared_group`.
    pub shared_group: Option<String>,
    /// `stream_to`.
    pub stream_to: Option<String>,
}

impl MessageOptionsConfig {
    /// These options, with unset ones taken from `fallback`.
    pub fn or(&self, fallback: &Self) -> Self {
        Self {
            qos: self.qos.or(fallback.qos),
            payload: self.payload.or(fallback.payload),
            retry: self.retry.clone().or_else(|| fallback.retry.clone()),
            error_topic: self
                .error_topic
                .clone()
                .or_else(|| fallback.error_topic.clone()),
            dead_letter_topic: self
                .dead_letter_topic
                .clone()
                .or_else(|| fallback.dead_letter_topic.clone()),
            reply_topic: self
                .reply_topic
                .clone()
                .or_else(|| fallback.reply_topic.clone()),
            shared_group: self
                .shared_group
                .clone()
                .or_else(|| fallback.shared_group.clone()),
            stream_to: self
                .stream_to
                .clone()
                .or_else(|| fallback.stream_to.clone()),
        }
    }

    /// Whether any option is set (they apply to topic routes only).
    pub fn is_set(&self) -> bool {
        *self != Self::default()
    }

    /// The options a topic route runs with; `variables` are the route's topic variables, the
    /// only ones output topic templates may name.
    pub fn resolve(&self, variables: &[String]) -> Result<MessageOptions, String> {
        let qos = self.qos.unwrap_or(1);
        if qos > 2 {
            return Err(format!("qos must be 0, 1 or 2, not {qos}"));
        }
        let output = |key: &str, text: &Option<String>| -> Result<Option<OutputTopic>, String> {
            text.as_deref()
                .map(|t| OutputTopic::parse(t, variables).map_err(|e| format!("{key}: {e}")))
                .transpose()
        };
        if let Some(group) = &self.shared_group {
            if group.is_empty() || group.contains(['/', '+', '#']) {
                return Err(format!(
                    "shared_group '{group}' must be a non-empty name without '/', '+' or '#'"
                ));
            }
        }
        Ok(MessageOptions {
            qos,
            payload: self.payload.unwrap_or_default(),
            retry: RetryPolicy::from_config(self.retry.as_ref())?,
            error_topic: output("error_topic", &self.error_topic)?,
            dead_letter_topic: output("dead_letter_topic", &self.dead_letter_topic)?,
            reply_topic: output("reply_topic", &self.reply_topic)?,
            shared_group: self.shared_group.clone(),
            stream_to: self
                .stream_to
                .as_deref()
                .map(|t| OutputTopic::parse_any(t).map_err(|e| format!("stream_to: {e}")))
                .transpose()?,
        })
    }
}

/// When and how often a failed call is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all; `None` without limit.
    pub max_attempts: Option<u32>,
    /// The wait before the second attempt.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// The codes worth retrying.
    pub retryable: Vec<Code>,
}

/// The codes retried when a route names none.
pub const DEFAULT_RETRYABLE: [Code; 3] = [
    Code::Unavailable,
    Code::DeadlineExceeded,
    Code::ResourceExhausted,
];

impl RetryPolicy {
    fn from_config(config: Option<&RetryConfig>) -> Result<Self, String> {
        let default = RetryConfig::default();
        let config = config.unwrap_or(&default);
        let initial_backoff = config
            .initial_backoff
            .map_or(Duration::from_millis(200), |d| d.0);
        let max_backoff = config.max_backoff.map_or(Duration::from_secs(10), |d| d.0);
        if max_backoff < initial_backoff {
            return Err("retry: max_backoff is shorter than initial_backoff".into());
        }
        let retryable = match &config.retryable_codes {
            None => DEFAULT_RETRYABLE.to_vec(),
            Some(names) => names.iter().map(|name| name.0).collect(),
        };
        Ok(Self {
            max_attempts: match config.max_attempts.unwrap_or(5) {
                0 => None,
                n => Some(n),
            },
            initial_backoff,
            max_backoff,
            retryable,
        })
    }

    /// Whether a call that failed with `code` on attempt `attempt` (1-based) is tried again.
    pub fn retries(&self, code: Code, attempt: u32) -> bool {
        self.retryable.contains(&code) && self.max_attempts.is_none_or(|max| attempt < max)
    }

    /// The wait after attempt `attempt` (1-based): the initial backoff doubled per attempt,
    /// at most the maximum.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// The options a topic route runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageOptions {
    /// The subscription's QoS. Default 1.
    pub qos: u8,
    /// The payload format. Default JSON.
    pub payload: PayloadFormat,
    /// The retry policy.
    pub retry: RetryPolicy,
    /// Where a failed call's error goes (unless the message names a response topic).
    pub error_topic: Option<OutputTopic>,
    /// Where a message goes once its retries are spent.
    pub dead_letter_topic: Option<OutputTopic>,
    /// Where the answer goes when the message names no response topic.
    pub reply_topic: Option<OutputTopic>,
    /// The shared-subscription group (`$share/<group>/<filter>`).
    pub shared_group: Option<String>,
    /// A downlink: the route's server-streaming method is opened by the frontend and every
    /// message it streams is published to this topic, its variables filled from the
    /// message's fields. The route's own topic only names the downlink; nothing subscribes.
    pub stream_to: Option<OutputTopic>,
}

/// A topic to publish to, with `{variable}` levels filled from named values (the matched
/// topic's variables, or a streamed message's fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTopic {
    source: String,
    levels: Vec<OutputLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OutputLevel {
    Literal(String),
    Variable(String),
}

impl OutputTopic {
    /// Parses a template whose variables must all be in `allowed`.
    pub fn parse(text: &str, allowed: &[String]) -> Result<Self, String> {
        let topic = Self::parse_any(text)?;
        for name in topic.variables() {
            if !allowed.iter().any(|a| a == name) {
                return Err(format!(
                    "topic '{text}' names {{{name}}}, which is not a variable of the route's topic"
                ));
            }
        }
        Ok(topic)
    }

    /// Parses a template whose variables may name anything.
    pub fn parse_any(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a topic is empty".into());
        }
        if text.starts_with('$') {
            return Err(format!(
                "topic '{text}': topics starting with '$' are reserved"
            ));
        }
        let mut levels = Vec::new();
        for level in text.split('/') {
            if level.starts_with('{') && level.ends_with('}') && level.len() > 2 {
                levels.push(OutputLevel::Variable(level[1..level.len() - 1].to_owned()));
            } else if level.contains(['+', '#', '{', '}', '\0']) {
                return Err(format!(
                    "topic '{text}': level '{level}' holds a wildcard, a brace or NUL; a topic to publish to has none, and a {{variable}} is a whole level"
                ));
            } else {
                levels.push(OutputLevel::Literal(level.to_owned()));
            }
        }
        Ok(Self {
            source: text.to_owned(),
            levels,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The variables it names, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.levels.iter().filter_map(|level| match level {
            OutputLevel::Variable(name) => Some(name.as_str()),
            OutputLevel::Literal(_) => None,
        })
    }

    /// The topic with every variable filled by `value(name)`. A value that is missing, empty,
    /// or holds `/`, `+`, `#` or NUL would change the topic's shape and is refused.
    pub fn render<'a>(
        &self,
        mut value: impl FnMut(&str) -> Option<&'a str>,
    ) -> Result<String, String> {
        let mut topic = String::with_capacity(self.source.len() + 16);
        for (index, level) in self.levels.iter().enumerate() {
            if index > 0 {
                topic.push('/');
            }
            match level {
                OutputLevel::Literal(text) => topic.push_str(text),
                OutputLevel::Variable(name) => {
                    let text = value(name).filter(|t| !t.is_empty()).ok_or_else(|| {
                        format!("topic '{}': {{{name}}} has no value", self.source)
                    })?;
                    if text.contains(['/', '+', '#', '\0']) {
                        return Err(format!(
                            "topic '{}': the value of {{{name}}} holds '/', '+', '#' or NUL",
                            self.source
                        ));
                    }
                    topic.push_str(text);
                }
            }
        }
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_are_qos_1_json_and_five_attempts_on_the_transient_codes() {
        let options = MessageOptionsConfig::default().resolve(&[]).unwrap();
        assert_eq!(options.qos, 1);
        assert_eq!(options.payload, PayloadFormat::Json);
        assert_eq!(options.retry.max_attempts, Some(5));
        assert_eq!(options.retry.retryable, DEFAULT_RETRYABLE.to_vec());
        assert!(options.retry.retries(Code::Unavailable, 4));
        assert!(!options.retry.retries(Code::Unavailable, 5));
        assert!(!options.retry.retries(Code::InvalidArgument, 1));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let config = MessageOptionsConfig {
            retry: Some(RetryConfig {
                max_attempts: Some(0),
                initial_backoff: Some(ConfigDuration(Duration::from_millis(100))),
                max_backoff: Some(ConfigDuration(Duration::from_millis(350))),
                retryable_codes: Some(vec![CodeName(Code::Aborted)]),
            }),
            ..Default::default()
        };
        let retry = config.resolve(&[]).unwrap().retry;
        assert_eq!(retry.max_attempts, None);
        assert!(retry.retries(Code::Aborted, 1_000_000));
        let waits: Vec<u128> = (1..=5).map(|a| retry.backoff(a).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 350, 350, 350]);
        assert_eq!(retry.backoff(u32::MAX), Duration::from_millis(350));
    }

    #[test]
    fn bad_options_say_why() {
        let error = |config: MessageOptionsConfig| config.resolve(&names(&["id"])).unwrap_err();
        assert_eq!(
            error(MessageOptionsConfig {
                qos: Some(3),
                ..Default::default()
            }),
            "qos must be 0, 1 or 2, not 3"
        );
        assert_eq!(
            error(MessageOptionsConfig {
                reply_topic: Some("r/{other}".into()),
                ..Default::default()
            }),
            "reply_topic: topic 'r/{other}' names {other}, which is not a variable of the route's topic"
        );
        assert_eq!(
            error(MessageOptionsConfig {
                error_topic: Some("e/+".into()),
                ..Default::default()
            }),
            "error_topic: topic 'e/+': level '+' holds a wildcard, a brace or NUL; a topic to publish to has none, and a {variable} is a whole level"
        );
        assert_eq!(
            error(MessageOptionsConfig {
                shared_group: Some("a/b".into()),
                ..Default::default()
            }),
            "shared_group 'a/b' must be a non-empty name without '/', '+' or '#'"
        );
    }

    #[test]
    fn output_topics_fill_whole_levels_and_refuse_values_that_change_the_shape() {
        let topic =
            OutputTopic::parse("devices/{id}/replies/{req}", &names(&["id", "req"])).unwrap();
        let values = |name: &str| match name {
            "id" => Some("d-1"),
            "req" => Some("42"),
            _ => None,
        };
        assert_eq!(topic.render(values).unwrap(), "devices/d-1/replies/42");
        assert_eq!(
            topic.render(|_| Some("a/b")).unwrap_err(),
            "topic 'devices/{id}/replies/{req}': the value of {id} holds '/', '+', '#' or NUL"
        );
        assert_eq!(
            topic.render(|_| None).unwrap_err(),
            "topic 'devices/{id}/replies/{req}': {id} has no value"
        );
    }
}
