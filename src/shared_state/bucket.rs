//! The shared token bucket: one Lua script, so taking a token is atomic however many instances
//! ask at once, and refilled by Redis's own clock (`TIME`), so the instances' clocks do not
//! matter. The bucket is a hash (`tokens`, `at` in microseconds) that expires once it would be
//! full again.

use super::SharedError;

/// KEYS[1]: the bucket. ARGV[1]: burst (tokens). ARGV[2]: microseconds per token.
/// Returns `{1, 0}` when a token was taken, `{0, µs until one is back}` when not.
pub(super) const SCRIPT: &str = r#"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local burst = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) / per)
  at = now
end
local taken = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = math.ceil((1 - tokens) * per)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * per / 1000) + 1000)
return {taken, wait}
"#;

/// A bucket's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpec {
    /// How many tokens it holds.
    pub burst: u64,
    /// Microseconds until one more token is back (at least 1).
    pub per_token_micros: u64,
}

/// What taking a token gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A token was taken.
    Yes,
    /// None was left; one is back in this many microseconds.
    No {
        /// Microseconds until a token is back.
        wait_micros: u64,
    },
}

impl Taken {
    pub(super) fn from_reply(reply: &[i64]) -> Result<Self, SharedError> {
        match reply {
            [1, _] => Ok(Self::Yes),
            [0, wait] => Ok(Self::No {
                wait_micros: (*wait).max(0) as u64,
            }),
            other => Err(SharedError::Reply(
                format!("the bucket script answered {other:?}").into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_decisions_and_odd_ones_errors() {
        assert_eq!(Taken::from_reply(&[1, 0]), Ok(Taken::Yes));
        assert_eq!(
            Taken::from_reply(&[0, 250_000]),
            Ok(Taken::No {
                wait_micros: 250_000
            })
        );
        assert_eq!(
            Taken::from_reply(&[7]),
            Err(SharedError::Reply("the bucket script answered [7]".into()))
        );
    }
}
