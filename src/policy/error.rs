//! Why a policy refused a request, and the one conversion into [`Status`].

use crate::model::{Code, ErrorSource, Rejection, Status};

/// A policy's refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PolicyError {
    /// No credential of a kind the route accepts.
    #[error("this route requires authentication: {hint}")]
    Missing {
        /// What to send, e.g. "an API key in the x-api-key header".
        hint: Box<str>,
        /// The `WWW-Authenticate` challenge.
        challenge: Box<str>,
    },
    /// A credential was sent but is not valid.
    #[error("invalid credentials: {reason}")]
    Invalid {
        /// Why, e.g. "the token has expired".
        reason: Box<str>,
        /// The `WWW-Authenticate` challenge.
        challenge: Box<str>,
    },
    /// The caller is authenticated, but lacks a scope the route requires.
    #[error("the caller lacks the scope '{scope}' this route requires")]
    MissingScope {
        /// The first scope missing.
        scope: Box<str>,
    },
    /// A topic route's `publishers:` does not list the client id in the message's topic.
    #[error("the publisher '{client_id}' may not publish to this route")]
    PublisherRefused {
        /// The client id read from the topic.
        client_id: Box<str>,
    },
    /// The credential could not be checked: the token introspection endpoint cannot be
    /// reached, timed out or answered badly. Not the caller's fault, so not a 401.
    #[error("the credential cannot be checked now: {reason}; try again later")]
    CheckUnavailable {
        /// What went wrong with the endpoint.
        reason: Box<str>,
    },
    /// A concurrency limit is reached and its queue is full (or the wait timed out).
    #[error(
        "the route has {max} calls under way, its limit, and no room in its queue; try again later"
    )]
    Overloaded {
        /// The limit.
        max: u32,
    },
    /// A shared rate limit configured `fail: closed` cannot reach Redis.
    #[error("rate limit '{name}' cannot be checked now (its shared state is unavailable); try again later")]
    SharedUnavailable {
        /// The policy's name.
        name: Box<str>,
    },
    /// A rate limit is reached.
    #[error("rate limit '{name}' reached: retry in {retry_after} s")]
    RateLimited {
        /// The policy's name.
        name: Box<str>,
        /// Seconds until a token is back.
        retry_after: u64,
        /// `RateLimit-Policy` value.
        policy: Box<str>,
        /// `RateLimit` value.
        state: Box<str>,
    },
}

impl PolicyError {
    /// The canonical error: UNAUTHENTICATED (401 with a challenge), PERMISSION_DENIED (403) or
    /// UNAVAILABLE (503), RESOURCE_EXHAUSTED (429 with `Retry-After` and the `RateLimit` fields).
    pub(crate) fn status(self) -> Status {
        let message = self.to_string();
        match self {
            PolicyError::Missing { challenge, .. } | PolicyError::Invalid { challenge, .. } => {
                Status::new(Code::Unauthenticated, message, ErrorSource::Client)
                    .with_rejection(Rejection::Unauthenticated { challenge })
            }
            PolicyError::MissingScope { .. } | PolicyError::PublisherRefused { .. } => {
                Status::new(Code::PermissionDenied, message, ErrorSource::Client)
            }
            PolicyError::Overloaded { .. }
            | PolicyError::CheckUnavailable { .. }
            | PolicyError::SharedUnavailable { .. } => {
                Status::new(Code::Unavailable, message, ErrorSource::Gateway)
            }
            PolicyError::RateLimited {
                retry_after,
                policy,
                state,
                ..
            } => Status::new(Code::ResourceExhausted, message, ErrorSource::Client).with_rejection(
                Rejection::RateLimited {
                    retry_after,
                    policy,
                    state,
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_code_and_rejection() {
        let missing = PolicyError::Missing {
            hint: "an API key in the x-api-key header".into(),
            challenge: "ApiKey realm=\"polygate\"".into(),
        }
        .status();
        assert_eq!(missing.code(), Code::Unauthenticated);
        assert_eq!(
            missing.message(),
            "this route requires authentication: an API key in the x-api-key header"
        );
        assert_eq!(
            missing.rejection(),
            Some(&Rejection::Unauthenticated {
                challenge: "ApiKey realm=\"polygate\"".into()
            })
        );
        let scope = PolicyError::MissingScope {
            scope: "write".into(),
        }
        .status();
        assert_eq!(scope.code(), Code::PermissionDenied);
        assert_eq!(scope.rejection(), None);
        let unavailable = PolicyError::CheckUnavailable {
            reason: "the introspection endpoint answered 502 Bad Gateway".into(),
        }
        .status();
        assert_eq!(unavailable.code(), Code::Unavailable);
        assert_eq!(
            unavailable.message(),
            "the credential cannot be checked now: the introspection endpoint answered 502 Bad Gateway; try again later"
        );
        assert_eq!(unavailable.rejection(), None);
        let limited = PolicyError::RateLimited {
            name: "default".into(),
            retry_after: 2,
            policy: "\"default\";q=1;w=1".into(),
            state: "\"default\";r=0;t=2".into(),
        }
        .status();
        assert_eq!(limited.code(), Code::ResourceExhausted);
        let unavailable = PolicyError::SharedUnavailable {
            name: "orders".into(),
        }
        .status();
        assert_eq!(unavailable.code(), Code::Unavailable);
        assert_eq!(
            unavailable.message(),
            "rate limit 'orders' cannot be checked now (its shared state is unavailable); try again later"
        );
        assert_eq!(unavailable.rejection(), None);
        assert_eq!(
            limited.message(),
            "rate limit 'default' reached: retry in 2 s"
        );
    }
}
