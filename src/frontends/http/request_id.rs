//! `X-Request-Id`: kept when the client sends a well-formed one, generated when it sends none,
//! replaced (or refused, by configuration) when it is malformed; returned on every answer and
//! forwarded to every backend (docs/security.md, "HTTP hygiene").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::model::Status;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a client.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What a malformed `X-Request-Id` from a client does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MalformedRequestId {
    /// Replaced by a generated id (default); the client's value goes nowhere.
    #[default]
    Replace,
    /// The request is refused with 400.
    Reject,
}

/// Whether `value` is a well-formed request id: 1 to 128 characters out of `A-Z a-z 0-9` and
/// `- _ . : + / =` (UUIDs, W3C trace ids, ULIDs and base64 ids fit).
pub fn is_well_formed(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
        && value.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}

/// Sets the request's id in `headers` (keeping, generating or replacing it) and returns it;
/// a malformed one is refused when `malformed` says so.
pub(crate) fn assign(
    headers: &mut HeaderMap,
    malformed: MalformedRequestId,
) -> Result<HeaderValue, Status> {
    // One hash of the name for the lookup and the insert.
    let mut sent = match headers.entry(X_REQUEST_ID) {
        Entry::Vacant(vacant) => return Ok(vacant.insert(generate()).clone()),
        Entry::Occupied(sent) => sent,
    };
    let mut values = sent.iter();
    let reason = match (values.next(), values.next()) {
        (Some(one), None) if is_well_formed(one.as_bytes()) => return Ok(one.clone()),
        (_, None) => "X-Request-Id must be 1 to 128 characters of A-Z a-z 0-9 - _ . : + / =",
        (_, Some(_)) => "X-Request-Id may be sent once only",
    };
    if malformed == MalformedRequestId::Reject {
        return Err(Status::invalid_argument(reason));
    }
    let id = generate();
    sent.insert(id.clone());
    Ok(id)
}

/// A new request id in the textual layout of a version-4 UUID: a per-process random key mixed
/// with a counter, so ids never repeat within a process and cannot be guessed across processes,
/// at the cost of one atomic increment (no system call per request).
pub fn generate() -> HeaderValue {
    static KEY: OnceLock<[u64; 2]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = KEY.get_or_init(|| {
        use ring::rand::SecureRandom as _;
        let mut seed = [0u8; 16];
        if ring::rand::SystemRandom::new().fill(&mut seed).is_err() {
            // No system randomness: still unique within the process.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            seed[..8].copy_from_slice(&nanos.to_le_bytes());
            seed[8..].copy_from_slice(&u64::from(std::process::id()).to_le_bytes());
        }
        let (high, low) = seed.split_at(8);
        [
            u64::from_le_bytes(high.try_into().unwrap_or_default()),
            u64::from_le_bytes(low.try_into().unwrap_or_default()),
        ]
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let high = mix(key[0] ^ n);
    let low = mix(key[1].wrapping_add(n));
    let high = (high & !0xf000) | 0x4000; // version 4
    let low = (low & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    let mut text = *b"00000000-0000-0000-0000-000000000000";
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    for (byte, at) in bytes.into_iter().zip(DIGIT_AT) {
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0xf)];
    }
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("unknown"))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Where each byte's two hex digits go in the UUID layout (8-4-4-4-12).
const DIGIT_AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// splitmix64's finalizer: a bijection on `u64`, so distinct counters give distinct halves.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_look_like_uuids_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = generate();
            let text = id.to_str().unwrap().to_owned();
            assert_eq!(text.len(), 36, "{text}");
            assert_eq!(&text[14..15], "4", "{text}");
            assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
            assert!(is_well_formed(text.as_bytes()));
            assert!(seen.insert(text));
        }
    }

    #[test]
    fn a_well_formed_id_is_kept_and_others_replaced_or_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        let kept = assign(&mut headers, MalformedRequestId::Reject).unwrap();
        assert_eq!(kept, "abc-123");

        let mut headers = HeaderMap::new();
        let made = assign(&mut headers, MalformedRequestId::Reject).unwrap();
        assert_eq!(headers.get(X_REQUEST_ID), Some(&made));

        for bad in ["a b", "", "x;y", &"z".repeat(129)] {
            let mut headers = HeaderMap::new();
            headers.insert(X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let replaced = assign(&mut headers, MalformedRequestId::Replace).unwrap();
            assert_ne!(replaced, bad);
            assert_eq!(headers.get_all(X_REQUEST_ID).iter().count(), 1);
            assert_eq!(headers.get(X_REQUEST_ID), Some(&replaced));
            headers.insert(X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let refused = assign(&mut headers, MalformedRequestId::Reject).unwrap_err();
            assert_eq!(refused.code(), crate::model::Code::InvalidArgument);
        }

        let mut twice = HeaderMap::new();
        twice.append(X_REQUEST_ID, HeaderValue::from_static("a"));
        twice.append(X_REQUEST_ID, HeaderValue::from_static("b"));
        assert!(assign(&mut twice.clone(), MalformedRequestId::Reject).is_err());
        let replaced = assign(&mut twice, MalformedRequestId::Replace).unwrap();
        assert_eq!(
            twice.get_all(X_REQUEST_ID).iter().collect::<Vec<_>>(),
            [&replaced]
        );
    }
}
