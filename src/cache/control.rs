//! `Cache-Control` (RFC 9111 §5.2, with RFC 5861's stale directives), `Expires` and `Vary`:
//! what a backend's answer allows the cache to do with it.

use std::time::{Duration, SystemTime};

use http::header::{CACHE_CONTROL, EXPIRES, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName};

/// The directives of one or more `Cache-Control` values that the cache acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (without field names: the whole answer).
    pub no_cache: bool,
    /// `private`.
    pub private: bool,
    /// `max-age=N`.
    pub max_age: Option<Duration>,
    /// `s-maxage=N`.
    pub s_maxage: Option<Duration>,
    /// `stale-while-revalidate=N`.
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error=N`.
    pub stale_if_error: Option<Duration>,
}

impl CacheControl {
    /// Parses every `Cache-Control` value in `headers` under `name`. Unknown directives are
    /// ignored; a malformed number leaves its directive unset, except that a malformed
    /// `max-age` or `s-maxage` counts as 0 (stale), as RFC 9111 §4.2.1 asks.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut control = Self::default();
        for value in values {
            let Ok(text) = std::str::from_utf8(value) else {
                continue;
            };
            for directive in split_directives(text) {
                let (name, argument) = match directive.split_once('=') {
                    Some((name, argument)) => {
                        (name.trim(), Some(argument.trim().trim_matches('"')))
                    }
                    None => (directive.trim(), None),
                };
                let seconds = || {
                    argument
                        .and_then(|a| a.parse::<u64>().ok())
                        .map(Duration::from_secs)
                };
                if name.eq_ignore_ascii_case("no-store") {
                    control.no_store = true;
                } else if name.eq_ignore_ascii_case("no-cache") {
                    // `no-cache="Set-Cookie"` names fields: the rest may be stored.
                    control.no_cache |= argument.is_none();
                } else if name.eq_ignore_ascii_case("private") {
                    control.private |= argument.is_none();
                } else if name.eq_ignore_ascii_case("max-age") {
                    control.max_age = Some(seconds().unwrap_or(Duration::ZERO));
                } else if name.eq_ignore_ascii_case("s-maxage") {
                    control.s_maxage = Some(seconds().unwrap_or(Duration::ZERO));
                } else if name.eq_ignore_ascii_case("stale-while-revalidate") {
                    control.stale_while_revalidate = seconds();
                } else if name.eq_ignore_ascii_case("stale-if-error") {
                    control.stale_if_error = seconds();
                }
            }
        }
        control
    }

    /// The directives in `headers`' `Cache-Control` (or a gRPC backend's `cache-control`
    /// metadata, which has the same name).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::parse(headers.get_all(CACHE_CONTROL).iter().map(|v| v.as_bytes()))
    }
}

/// Splits on commas outside quoted strings.
fn split_directives(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut quoted = false;
    let mut pieces = Vec::new();
    for (index, byte) in text.bytes().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                pieces.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    pieces.into_iter().filter(|p| !p.trim().is_empty())
}

/// What the backend's headers allow, for a route with `ttl` (and its stale defaults) in a cache
/// of `scope_private` (per principal) or shared scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storability {
    /// Store it: fresh this long, then servable stale these windows.
    Store {
        /// How long it is fresh.
        fresh: Duration,
        /// How long after that it may be served while a refresh runs.
        stale_while_revalidate: Duration,
        /// How long after that it may be served when a refresh fails.
        stale_if_error: Duration,
    },
    /// Do not store it; the reason is what `Cache-Status` and logs say.
    Refuse(&'static str),
}

/// The route's defaults that backend headers override.
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    /// Freshness when the backend says nothing.
    pub ttl: Duration,
    /// `stale-while-revalidate` when the backend says nothing.
    pub stale_while_revalidate: Duration,
    /// `stale-if-error` when the backend says nothing.
    pub stale_if_error: Duration,
    /// The cache is per principal, so `private` answers may be kept.
    pub per_principal: bool,
    /// The request headers in the key: a backend `Vary` naming others refuses storage.
    pub vary_headers: &'a [HeaderName],
}

/// Decides whether, and how long, an answer with `headers` may be kept.
pub fn storability(headers: &HeaderMap, defaults: Defaults<'_>, now: SystemTime) -> Storability {
    if headers.contains_key(SET_COOKIE) {
        return Storability::Refuse("set-cookie");
    }
    for value in headers.get_all(VARY) {
        let Ok(text) = value.to_str() else {
            return Storability::Refuse("vary");
        };
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                return Storability::Refuse("vary");
            }
            // The gateway asks its backends for identity encoding and compresses itself.
            if name.eq_ignore_ascii_case("accept-encoding") {
                continue;
            }
            if !defaults
                .vary_headers
                .iter()
                .any(|h| h.as_str().eq_ignore_ascii_case(name))
            {
                return Storability::Refuse("vary");
            }
        }
    }
    let control = CacheControl::from_headers(headers);
    if control.no_store {
        return Storability::Refuse("no-store");
    }
    if control.private && !defaults.per_principal {
        return Storability::Refuse("private");
    }
    if control.no_cache {
        return Storability::Refuse("no-cache");
    }
    let fresh = control
        .s_maxage
        .or(control.max_age)
        .or_else(|| expires(headers, now))
        .unwrap_or(defaults.ttl);
    let stale_while_revalidate = control
        .stale_while_revalidate
        .unwrap_or(defaults.stale_while_revalidate);
    let stale_if_error = control.stale_if_error.unwrap_or(defaults.stale_if_error);
    if fresh.is_zero() && stale_while_revalidate.is_zero() && stale_if_error.is_zero() {
        return Storability::Refuse("stale");
    }
    Storability::Store {
        fresh,
        stale_while_revalidate,
        stale_if_error,
    }
}

/// Freshness from `Expires`; an invalid date means already expired.
fn expires(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(EXPIRES)?;
    let Some(at) = value.to_str().ok().and_then(parse_http_date) else {
        return Some(Duration::ZERO);
    };
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form senders may generate.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let rest = text.trim().split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if parts.next()? != "GMT" || day == 0 || day > 31 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let seconds = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const DEFAULTS: Defaults<'static> = Defaults {
        ttl: Duration::from_secs(30),
        stale_while_revalidate: Duration::ZERO,
        stale_if_error: Duration::ZERO,
        per_principal: false,
        vary_headers: &[],
    };

    #[test]
    fn directives_are_parsed_case_insensitively_across_values_and_quotes() {
        let control = CacheControl::from_headers(&headers(&[
            (
                "cache-control",
                "Public, MAX-AGE=60, no-cache=\"set-cookie, x-a\"",
            ),
            (
                "cache-control",
                "s-maxage=\"120\", stale-while-revalidate=5, stale-if-error=oops",
            ),
        ]));
        assert_eq!(
            control,
            CacheControl {
                no_store: false,
                no_cache: false,
                private: false,
                max_age: Some(Duration::from_secs(60)),
                s_maxage: Some(Duration::from_secs(120)),
                stale_while_revalidate: Some(Duration::from_secs(5)),
                stale_if_error: None,
            }
        );
        let control = CacheControl::parse([b"no-store, private, max-age=x".as_slice()]);
        assert!(control.no_store && control.private);
        assert_eq!(control.max_age, Some(Duration::ZERO));
    }

    #[test]
    fn storability_follows_the_backend_then_the_route() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let store = |fresh, swr, sie| Storability::Store {
            fresh: Duration::from_secs(fresh),
            stale_while_revalidate: Duration::from_secs(swr),
            stale_if_error: Duration::from_secs(sie),
        };
        assert_eq!(
            storability(&HeaderMap::new(), DEFAULTS, now),
            store(30, 0, 0)
        );
        let cases: [(&[(&'static str, &'static str)], Storability); 10] = [
            (&[("cache-control", "max-age=10")], store(10, 0, 0)),
            (
                &[("cache-control", "max-age=10, s-maxage=20")],
                store(20, 0, 0),
            ),
            (
                &[(
                    "cache-control",
                    "max-age=1, stale-while-revalidate=4, stale-if-error=9",
                )],
                store(1, 4, 9),
            ),
            (
                &[("cache-control", "no-store")],
                Storability::Refuse("no-store"),
            ),
            (
                &[("cache-control", "private")],
                Storability::Refuse("private"),
            ),
            (
                &[("cache-control", "no-cache")],
                Storability::Refuse("no-cache"),
            ),
            (
                &[("cache-control", "max-age=0")],
                Storability::Refuse("stale"),
            ),
            (&[("vary", "*")], Storability::Refuse("vary")),
            (&[("vary", "Accept-Encoding")], store(30, 0, 0)),
            (&[("set-cookie", "a=b")], Storability::Refuse("set-cookie")),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                storability(&headers(pairs), DEFAULTS, now),
                expected,
                "{pairs:?}"
            );
        }
        let listed = [HeaderName::from_static("accept-language")];
        let defaults = Defaults {
            vary_headers: &listed,
            per_principal: true,
            ..DEFAULTS
        };
        let varying = headers(&[("vary", "accept-language"), ("cache-control", "private")]);
        assert_eq!(storability(&varying, defaults, now), store(30, 0, 0));
        let other = headers(&[("vary", "x-tenant")]);
        assert_eq!(
            storability(&other, defaults, now),
            Storability::Refuse("vary")
        );
        // Expires, 100 s after `now`; an invalid date is already stale.
        let expiring = headers(&[("expires", "Sun, 06 Nov 1994 08:51:17 GMT")]);
        assert_eq!(storability(&expiring, DEFAULTS, now), store(100, 0, 0));
        let invalid = headers(&[("expires", "0")]);
        assert_eq!(
            storability(&invalid, DEFAULTS, now),
            Storability::Refuse("stale")
        );
    }

    #[test]
    fn http_dates_are_read_as_utc() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }
}
