//! Cache keys: the route, the method, the canonical bound values (path variables in template
//! order, query parameters by name), the listed request headers and, for a per-principal cache,
//! the principal. Every part is length-prefixed, so no two requests that bind differently can
//! write the same bytes, and keys are compared in full, never by hash alone.

use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use percent_encoding::percent_decode_str;

/// A complete cache key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Arc<[u8]>);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({} bytes)", self.0.len())
    }
}

impl CacheKey {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The parts of a request a key is built from.
#[derive(Debug, Clone, Copy)]
pub struct KeyParts<'a> {
    /// The route's identity: its method and template, e.g. `GET /v1/items/{sku}`.
    pub route: &'a str,
    /// The request's method (`HEAD` is keyed as `GET`: it is the same answer without a body).
    pub method: &'a str,
    /// What the path variables captured, decoded, in template order.
    pub captures: &'a [&'a str],
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The request headers (the listed ones are read).
    pub headers: &'a HeaderMap,
    /// The headers the route varies on, sorted.
    pub vary_headers: &'a [HeaderName],
    /// The principal, for a per-principal cache.
    pub principal: Option<&'a str>,
}

impl KeyParts<'_> {
    /// Builds the key.
    pub fn key(&self) -> CacheKey {
        let query_len = self.query.map_or(0, str::len);
        let mut out = Vec::with_capacity(
            self.route.len()
                + 64
                + query_len
                + self.captures.iter().map(|c| c.len() + 4).sum::<usize>(),
        );
        put(&mut out, self.route.as_bytes());
        let method = if self.method == "HEAD" {
            "GET"
        } else {
            self.method
        };
        put(&mut out, method.as_bytes());
        out.push(self.captures.len() as u8);
        for capture in self.captures {
            put(&mut out, capture.as_bytes());
        }
        put_query(&mut out, self.query.unwrap_or(""));
        for name in self.vary_headers {
            let values = self.headers.get_all(name);
            let mut count = 0u8;
            let at = out.len();
            out.push(0);
            for value in values {
                put(&mut out, value.as_bytes());
                count = count.saturating_add(1);
            }
            out[at] = count;
        }
        match self.principal {
            Some(principal) => {
                out.push(1);
                put(&mut out, principal.as_bytes());
            }
            None => out.push(0),
        }
        CacheKey(out.into())
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Writes `bytes` percent-decoded, length-prefixed.
fn put_decoded(out: &mut Vec<u8>, text: &str) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend(percent_decode_str(text));
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// The query's parameters sorted by name (a stable sort: repeated parameters keep their
/// order, which a repeated field keeps), decoded.
fn put_query(out: &mut Vec<u8>, query: &str) {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (name, value) in pairs {
        put_decoded(out, name);
        put_decoded(out, value);
    }
}

/// The query's parameters, decoded, for tags and purges by value.
pub fn query_values(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode_str(name).decode_utf8_lossy().into_owned(),
                percent_decode_str(value).decode_utf8_lossy().into_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn key(captures: &[&str], query: Option<&str>, headers: &HeaderMap) -> CacheKey {
        KeyParts {
            route: "GET /v1/items/{sku}",
            method: "GET",
            captures,
            query,
            headers,
            vary_headers: &[HeaderName::from_static("accept-language")],
            principal: None,
        }
        .key()
    }

    #[test]
    fn query_order_and_encoding_do_not_change_the_key() {
        let none = HeaderMap::new();
        let a = key(&["7"], Some("b=2&a=1&tag=x&tag=y"), &none);
        let b = key(&["7"], Some("a=%31&tag=x&b=2&tag=y"), &none);
        assert_eq!(a, b);
        // Repeated parameters keep their order: a repeated field would differ.
        assert_ne!(a, key(&["7"], Some("a=1&b=2&tag=y&tag=x"), &none));
        assert_ne!(a, key(&["8"], Some("a=1&b=2&tag=x&tag=y"), &none));
        assert_eq!(key(&["7"], None, &none), key(&["7"], Some("&"), &none));
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        let none = HeaderMap::new();
        assert_ne!(
            key(&["ab", "c"], None, &none),
            key(&["a", "bc"], None, &none)
        );
        assert_ne!(
            key(&["a"], Some("b=c"), &none),
            key(&["a"], Some("bc="), &none)
        );
        assert_ne!(
            key(&["a"], Some("x=1=2"), &none),
            key(&["a"], Some("x=1&2"), &none)
        );
    }

    #[test]
    fn listed_headers_and_the_principal_are_part_of_the_key_and_head_is_get() {
        let none = HeaderMap::new();
        let mut french = HeaderMap::new();
        french.insert("accept-language", HeaderValue::from_static("fr"));
        french.insert("x-other", HeaderValue::from_static("1"));
        let mut other = HeaderMap::new();
        other.insert("x-other", HeaderValue::from_static("2"));
        assert_ne!(key(&["7"], None, &none), key(&["7"], None, &french));
        assert_eq!(key(&["7"], None, &none), key(&["7"], None, &other));
        let parts = |method, principal| KeyParts {
            route: "GET /v1/items/{sku}",
            method,
            captures: &["7"],
            query: None,
            headers: &none,
            vary_headers: &[],
            principal,
        };
        assert_eq!(parts("HEAD", None).key(), parts("GET", None).key());
        assert_ne!(parts("GET", Some("ada")).key(), parts("GET", None).key());
        assert_ne!(
            parts("GET", Some("ada")).key(),
            parts("GET", Some("bob")).key()
        );
    }

    #[test]
    fn query_values_are_decoded_for_tags() {
        assert_eq!(
            query_values(Some("sku=a%20b&x")),
            vec![("sku".into(), "a b".into()), ("x".into(), String::new())]
        );
    }
}
