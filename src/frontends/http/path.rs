//! The one path normalization every HTTP request (and WebSocket upgrade) goes through before it
//! is routed, so that no route, and no policy that reads the route, can be reached or bypassed
//! by spelling its path another way. The rules are documented in docs/security.md, "HTTP
//! hygiene":
//!
//! - Percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (RFC 3986
//!   §6.2.2.2): `%2e` is `.`, `%41` is `A`. Nothing else is decoded here.
//! - Empty segments are merged (`//` is `/`); a trailing `/` is kept.
//! - Dot segments are resolved (RFC 3986 §5.2.4): `.` is dropped, `..` removes the segment
//!   before it and never climbs above the root.
//! - Refused with 400: a path not starting with `/`; a backslash, raw or encoded (`%5C`); an
//!   encoded control character (`%00`–`%1F`, `%7F`); an encoded slash (`%2F`) when the listener
//!   sets `escaped_slashes: reject`. By default an encoded slash is kept: it never splits a
//!   segment nor matches a literal, it is data for the variable it falls in.

use std::borrow::Cow;

use serde::Deserialize;

/// What an encoded slash (`%2F`) in a request path does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EscapedSlashes {
    /// Kept as data of the segment it is in (default).
    #[default]
    Keep,
    /// The request is refused with 400.
    Reject,
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/` (`OPTIONS *`, or no path at all).
    #[error("the request path must start with '/'")]
    NotAbsolute,
    /// A raw or encoded backslash.
    #[error("the request path holds a backslash (raw or %5C), which polygate refuses")]
    Backslash,
    /// An encoded control character.
    #[error("the request path holds an encoded control character (%00-%1F or %7F)")]
    Control,
    /// An encoded slash, refused by configuration.
    #[error("the request path holds an encoded slash (%2F), which this listener refuses")]
    EscapedSlash,
}

/// The normalized form of `path` (no query string), borrowed when it is already normal.
pub fn normalize(path: &str, slashes: EscapedSlashes) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plain(path.as_bytes()) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path, slashes)?;
    Ok(Cow::Owned(resolve_segments(&decoded)))
}

/// Whether a path needs no work: no escape, no backslash, no empty or dot segment. One pass over
/// the bytes, as every request takes it.
fn is_plain(bytes: &[u8]) -> bool {
    let mut after_slash = false;
    for &b in bytes {
        match b {
            b'%' | b'\\' => return false,
            b'/' | b'.' if after_slash => return false,
            _ => {}
        }
        after_slash = b == b'/';
    }
    true
}

/// Decodes escapes of unreserved characters; checks the others.
fn decode_unreserved(path: &str, slashes: EscapedSlashes) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    // Bytes, not chars: only ASCII escapes become ASCII bytes, every other byte is copied, so
    // the result is as valid UTF-8 as the path.
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            return Err(PathError::Backslash);
        }
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let value = high << 4 | low;
                if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                    out.push(value);
                } else if value < 0x20 || value == 0x7f {
                    return Err(PathError::Control);
                } else if value == b'\\' {
                    return Err(PathError::Backslash);
                } else if value == b'/' && slashes == EscapedSlashes::Reject {
                    return Err(PathError::EscapedSlash);
                } else {
                    out.extend_from_slice(&bytes[i..i + 3]);
                }
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// Merges empty segments and resolves dot segments; `path` starts with `/`.
fn resolve_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path[1..].split('/').peekable();
    let mut trailing_slash = false;
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "" => trailing_slash = last && !kept.is_empty(),
            "." => trailing_slash = last && !kept.is_empty(),
            ".." => {
                kept.pop();
                trailing_slash = last && !kept.is_empty();
            }
            _ => {
                kept.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(path: &str) -> Result<String, PathError> {
        normalize(path, EscapedSlashes::Keep).map(Cow::into_owned)
    }

    #[test]
    fn every_rule_applies_once_before_routing() {
        let cases: &[(&str, Result<&str, PathError>)] = &[
            ("/v1/shelves/1", Ok("/v1/shelves/1")),
            ("/", Ok("/")),
            ("/v1/shelves/", Ok("/v1/shelves/")),
            ("/public/../v1/shelves/1", Ok("/v1/shelves/1")),
            ("/public/%2e%2e/v1/shelves/1", Ok("/v1/shelves/1")),
            ("/public/%2E%2e/v1/shelves/1", Ok("/v1/shelves/1")),
            ("/public/.%2e/v1/shelves/1", Ok("/v1/shelves/1")),
            ("/v1//shelves///1", Ok("/v1/shelves/1")),
            ("//v1/shelves/1", Ok("/v1/shelves/1")),
            ("/v1/./shelves/1/.", Ok("/v1/shelves/1/")),
            ("/v1/shelves/1/..", Ok("/v1/shelves/")),
            ("/../../v1/shelves/1", Ok("/v1/shelves/1")),
            ("/..", Ok("/")),
            ("/.well-known/x", Ok("/.well-known/x")),
            ("/v1/%73helves/%31", Ok("/v1/shelves/1")),
            ("/v1/shelves/1%2F..%2F2", Ok("/v1/shelves/1%2F..%2F2")),
            ("/v1/shelves/a%20b%25c", Ok("/v1/shelves/a%20b%25c")),
            ("/v1/shelves/%zz", Ok("/v1/shelves/%zz")),
            ("/v1/shelves/1%", Ok("/v1/shelves/1%")),
            ("/v1/shelves/1%2", Ok("/v1/shelves/1%2")),
            ("/v1/shelves/1%00", Err(PathError::Control)),
            ("/v1/shelves/1%0d%0a", Err(PathError::Control)),
            ("/v1/shelves/1%7F", Err(PathError::Control)),
            ("/v1\\shelves", Err(PathError::Backslash)),
            ("/v1%5cshelves/1", Err(PathError::Backslash)),
            ("*", Err(PathError::NotAbsolute)),
            ("", Err(PathError::NotAbsolute)),
        ];
        for (path, expected) in cases {
            let expected = expected.map(str::to_owned);
            assert_eq!(normal(path), expected, "{path}");
        }
    }

    #[test]
    fn an_encoded_slash_is_refused_when_configured() {
        assert_eq!(
            normalize("/v1/a%2fb", EscapedSlashes::Reject),
            Err(PathError::EscapedSlash)
        );
        assert_eq!(
            normalize("/v1/a%2Fb", EscapedSlashes::Keep).unwrap(),
            "/v1/a%2Fb"
        );
    }

    #[test]
    fn a_normal_path_is_borrowed() {
        assert!(matches!(
            normalize("/v1/shelves/1", EscapedSlashes::Keep),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for path in ["/a/%2e%2e/b//c/./d/..", "/x%2Fy/../z", "/%7e/%41/"] {
            let once = normal(path).unwrap();
            assert_eq!(normal(&once).unwrap(), once, "{path}");
        }
    }
}
