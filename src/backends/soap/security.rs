//! WS-Security UsernameToken (OASIS UsernameToken Profile 1.0): the `wsse:Security` header with
//! a fresh nonce and creation time on every call, the password as text or as
//! `Base64(SHA-1(nonce + created + password))`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use ring::rand::{SecureRandom, SystemRandom};

const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_TEXT: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
const PASSWORD_DIGEST: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// A UsernameToken, ready to be written into envelopes. Its `Debug` hides the password.
pub(crate) struct UsernameToken {
    username: String,
    password: String,
    digest: bool,
    must_understand: bool,
    random: SystemRandom,
}

impl std::fmt::Debug for UsernameToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsernameToken")
            .field("username", &self.username)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl UsernameToken {
    pub(crate) fn new(
        username: String,
        password: String,
        digest: bool,
        must_understand: bool,
    ) -> Self {
        Self {
            username,
            password,
            digest,
            must_understand,
            random: SystemRandom::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    /// Writes the `Security` header block with a fresh nonce and the current time;
    /// `envelope_prefix` is the envelope's prefix (for `mustUnderstand`).
    pub(crate) fn write(&self, envelope_prefix: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let mut nonce = [0u8; 16];
        self.random
            .fill(&mut nonce)
            .map_err(|_| "the system random generator failed".to_owned())?;
        let created = utc_timestamp(SystemTime::now());
        self.write_with(envelope_prefix, &nonce, &created, out);
        Ok(())
    }

    fn write_with(&self, envelope_prefix: &str, nonce: &[u8], created: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<wsse:Security xmlns:wsse=\"");
        out.extend_from_slice(WSSE_NS.as_bytes());
        out.extend_from_slice(b"\" xmlns:wsu=\"");
        out.extend_from_slice(WSU_NS.as_bytes());
        out.push(b'"');
        if self.must_understand {
            out.extend_from_slice(format!(" {envelope_prefix}:mustUnderstand=\"1\"").as_bytes());
        }
        out.extend_from_slice(b"><wsse:UsernameToken><wsse:Username>");
        escape(out, &self.username);
        out.extend_from_slice(b"</wsse:Username><wsse:Password Type=\"");
        if self.digest {
            out.extend_from_slice(PASSWORD_DIGEST.as_bytes());
            out.extend_from_slice(b"\">");
            out.extend_from_slice(password_digest(nonce, created, &self.password).as_bytes());
        } else {
            out.extend_from_slice(PASSWORD_TEXT.as_bytes());
            out.extend_from_slice(b"\">");
            escape(out, &self.password);
        }
        out.extend_from_slice(b"</wsse:Password><wsse:Nonce EncodingType=\"");
        out.extend_from_slice(BASE64_BINARY.as_bytes());
        out.extend_from_slice(b"\">");
        out.extend_from_slice(STANDARD.encode(nonce).as_bytes());
        out.extend_from_slice(b"</wsse:Nonce><wsu:Created>");
        out.extend_from_slice(created.as_bytes());
        out.extend_from_slice(b"</wsu:Created></wsse:UsernameToken></wsse:Security>");
    }
}

/// `Base64(SHA-1(nonce ‖ created ‖ password))` over the raw nonce bytes and the exact
/// `Created` text sent.
pub(crate) fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut input = Vec::with_capacity(nonce.len() + created.len() + password.len());
    input.extend_from_slice(nonce);
    input.extend_from_slice(created.as_bytes());
    input.extend_from_slice(password.as_bytes());
    STANDARD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, &input))
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
pub(crate) fn utc_timestamp(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn escape(out: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn digests_match_the_profile_s_published_vectors() {
        // The vectors python-zeep tests against (tests/test_wsse_username.py).
        assert_eq!(
            password_digest(b"mocked-random", "2016-05-08T12:00:00+00:00", "geheim"),
            "hVicspAQSg70JNhe67OHqD9gexc="
        );
        assert_eq!(
            password_digest(b"mocked-random", "2016-05-08T12:00:00Z", "geheim"),
            "a/bUolQwxU23q2OAk7C91iwSzlo="
        );
    }

    #[test]
    fn timestamps_are_utc_with_zulu() {
        let at = UNIX_EPOCH + Duration::from_secs(1_462_708_800);
        assert_eq!(utc_timestamp(at), "2016-05-08T12:00:00Z");
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn the_header_carries_the_token() {
        let token = UsernameToken::new("a&b".into(), "geheim".into(), true, true);
        let mut out = Vec::new();
        token.write_with(
            "soapenv",
            b"mocked-random",
            "2016-05-08T12:00:00Z",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(&format!("<wsse:Security xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\" soapenv:mustUnderstand=\"1\"><wsse:UsernameToken><wsse:Username>a&amp;b</wsse:Username>")));
        assert!(text.contains(">a/bUolQwxU23q2OAk7C91iwSzlo=</wsse:Password>"));
        assert!(text.contains(
            ">bW9ja2VkLXJhbmRvbQ==</wsse:Nonce><wsu:Created>2016-05-08T12:00:00Z</wsu:Created>"
        ));
        assert_eq!(
            format!("{token:?}"),
            "UsernameToken { username: \"a&b\", digest: true, .. }"
        );
    }
}
