//! Why a shared-state command failed.

use std::time::Duration;

/// A Redis command that did not give a usable answer. Callers never pass these to clients:
/// a shared rate limit fails open or closed, and the cache tier is bypassed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    /// No answer within `command_timeout`.
    #[error("no answer from Redis within {0:?}")]
    Timeout(Duration),
    /// A connection failed less than `retry_interval` ago: not tried again yet.
    #[error("Redis is unreachable (a connection failed less than {0:?} ago)")]
    Down(Duration),
    /// The connection failed or was refused.
    #[error("Redis connection: {0}")]
    Connection(Box<str>),
    /// Redis answered with an error.
    #[error("Redis error: {0}")]
    Server(Box<str>),
    /// Redis answered something polygate did not expect.
    #[error("unexpected Redis reply: {0}")]
    Reply(Box<str>),
}

impl From<redis::RedisError> for SharedError {
    fn from(error: redis::RedisError) -> Self {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
        {
            Self::Connection(error.to_string().into())
        } else {
            Self::Server(error.to_string().into())
        }
    }
}
