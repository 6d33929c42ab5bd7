//! Response compression: a complete answer of at least `compression_min_size` bytes is sent
//! with brotli or gzip when the client's `Accept-Encoding` asks for one. Streamed answers
//! (NDJSON, Server-Sent Events, raw chunks) are never compressed: a compressor holds bytes back
//! until it has enough, which would delay each message (docs/security.md, "HTTP hygiene").

use std::io::Write as _;

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue, Response};

use super::body::ResponseBody;

/// A content coding polygate can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `br`, at quality 4 (fast; most of brotli's gain on JSON).
    Brotli,
    /// `gzip`, at level 5.
    Gzip,
}

impl Coding {
    fn token(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        })
    }
}

/// The coding the client prefers among those polygate applies: highest `q` wins, brotli on a
/// tie; `q=0` refuses a coding; `*` stands for any coding not named.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Coding> {
    let (mut br, mut gzip, mut any) = (None::<f32>, None::<f32>, None::<f32>);
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            if name.eq_ignore_ascii_case("br") {
                br = Some(q);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if name == "*" {
                any = Some(q);
            }
        }
    }
    let br = br.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    match (br > 0.0, gzip > 0.0) {
        (false, false) => None,
        _ if br >= gzip => Some(Coding::Brotli),
        _ => Some(Coding::Gzip),
    }
}

/// Bodies larger than this are compressed on a blocking thread, off the async workers.
const INLINE_LIMIT: usize = 64 << 10;

/// Compresses a complete body of `min_size` bytes or more with `coding` (when there is one),
/// and marks every complete body that could be compressed `Vary: Accept-Encoding`. Media that
/// is compressed already (images, audio, video, archives) is left as it is.
pub(crate) async fn compress(
    response: &mut Response<ResponseBody>,
    coding: Option<Coding>,
    min_size: usize,
) {
    let ResponseBody::Full(Some(body)) = response.body() else {
        return;
    };
    let body = body.clone();
    let headers = response.headers();
    if body.len() < min_size
        || headers.contains_key(CONTENT_ENCODING)
        || headers
            .get(CONTENT_TYPE)
            .is_some_and(|t| compressed_already(t.as_bytes()))
    {
        return;
    }
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("accept-encoding"));
    let Some(coding) = coding else { return };
    let compressed = if body.len() <= INLINE_LIMIT {
        encode(&body, coding)
    } else {
        tokio::task::spawn_blocking(move || encode(&body, coding))
            .await
            .ok()
            .flatten()
    };
    let Some(compressed) = compressed else {
        return;
    };
    *response.body_mut() = ResponseBody::full(compressed);
    let headers = response.headers_mut();
    headers.remove(CONTENT_LENGTH);
    headers.insert(CONTENT_ENCODING, coding.token());
}

/// Whether a content type names a format that is compressed already.
fn compressed_already(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    let essence = String::from_utf8_lossy(essence).trim().to_ascii_lowercase();
    (essence.starts_with("image/") && essence != "image/svg+xml")
        || essence.starts_with("audio/")
        || essence.starts_with("video/")
        || matches!(
            essence.as_str(),
            "application/gzip" | "application/zip" | "application/zstd" | "application/x-brotli"
        )
}

fn encode(body: &[u8], coding: Coding) -> Option<Bytes> {
    let mut out = Vec::with_capacity(body.len() / 4 + 64);
    match coding {
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(5));
            encoder.write_all(body).ok()?;
            encoder.finish().ok()?;
        }
        Coding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 4,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
        }
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<Coding> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn the_clients_preference_decides() {
        assert_eq!(negotiate(&HeaderMap::new()), None);
        assert_eq!(accept("gzip"), Some(Coding::Gzip));
        assert_eq!(accept("br"), Some(Coding::Brotli));
        assert_eq!(accept("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(accept("br;q=0.5, gzip"), Some(Coding::Gzip));
        assert_eq!(accept("br;q=0, gzip;q=0"), None);
        assert_eq!(accept("identity"), None);
        assert_eq!(accept("*"), Some(Coding::Brotli));
        assert_eq!(accept("br;q=0, *"), Some(Coding::Gzip));
        assert_eq!(accept("deflate"), None);
    }

    #[tokio::test]
    async fn small_and_already_compressed_bodies_stay_as_they_are_and_others_round_trip() {
        let mut small = Response::new(ResponseBody::full(Bytes::from_static(b"{}")));
        compress(&mut small, Some(Coding::Gzip), 1024).await;
        assert!(!small.headers().contains_key(CONTENT_ENCODING));
        assert!(!small.headers().contains_key(VARY));

        let big = Bytes::from(vec![b'a'; 4096]);
        let mut png = Response::new(ResponseBody::full(big.clone()));
        png.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
        compress(&mut png, Some(Coding::Gzip), 1024).await;
        assert!(!png.headers().contains_key(CONTENT_ENCODING));

        let mut large = Response::new(ResponseBody::full(big.clone()));
        compress(&mut large, Some(Coding::Gzip), 1024).await;
        assert_eq!(large.headers()[CONTENT_ENCODING], "gzip");
        let ResponseBody::Full(Some(gz)) = large.body() else {
            panic!("not a full body")
        };
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        assert_eq!(plain, big);

        // Over the inline limit: compressed on a blocking thread.
        let big = Bytes::from(vec![b'b'; INLINE_LIMIT + 1]);
        let mut large = Response::new(ResponseBody::full(big.clone()));
        compress(&mut large, Some(Coding::Brotli), 1024).await;
        assert_eq!(large.headers()[CONTENT_ENCODING], "br");
        let ResponseBody::Full(Some(br)) = large.body() else {
            panic!("not a full body")
        };
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut plain).unwrap();
        assert_eq!(plain, big);
    }
}
