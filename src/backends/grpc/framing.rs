//! gRPC's wire details: length-prefixed messages, `grpc-timeout`, and status from trailers.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::model::{Code, ErrorSource, Status};

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// The 5-byte prefix of every gRPC message: a compression flag and a big-endian length.
pub(crate) const PREFIX_LEN: usize = 5;

/// Frames `message` as one uncompressed gRPC message.
pub(crate) fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(PREFIX_LEN + message.len());
    put_prefix(&mut framed, message.len());
    framed.extend_from_slice(message);
    framed.freeze()
}

/// Appends one message, with its gRPC length prefix, to `batch`.
pub(crate) fn append_frame(batch: &mut BytesMut, message: &[u8]) {
    batch.reserve(PREFIX_LEN + message.len());
    put_prefix(batch, message.len());
    batch.extend_from_slice(message);
}

fn put_prefix(buf: &mut BytesMut, len: usize) {
    buf.put_u8(0);
    // Messages are capped far below 4 GiB by the frontends' body limits.
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
}

/// Reassembles gRPC messages from DATA frames of any size.
#[derive(Debug)]
pub(crate) struct MessageDecoder {
    buffer: BytesMut,
    max_message_size: usize,
}

impl MessageDecoder {
    pub(crate) fn new(max_message_size: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            max_message_size,
        }
    }

    /// Adds the bytes of one DATA frame.
    pub(crate) fn push(&mut self, data: Bytes) {
        if self.buffer.is_empty() {
            // Saves a copy in the common case of one message per frame.
            self.buffer = BytesMut::from(data);
        } else {
            self.buffer.extend_from_slice(&data);
        }
    }

    /// The next complete message, if the buffer holds one.
    pub(crate) fn next_message(&mut self) -> Result<Option<Bytes>, Status> {
        if self.buffer.len() < PREFIX_LEN {
            return Ok(None);
        }
        let compressed = self.buffer[0];
        let len = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if compressed != 0 {
            return Err(Status::new(
                Code::Internal,
                "backend sent a compressed message, but polygate asked for none",
                ErrorSource::Backend,
            ));
        }
        if len > self.max_message_size {
            // The client did nothing wrong, so this is the gateway's INTERNAL (500), not
            // RESOURCE_EXHAUSTED (which HTTP clients would read as 429, "slow down").
            return Err(Status::new(
                Code::Internal,
                format!(
                    "the backend's answer of {len} bytes exceeds the limit of {} bytes",
                    self.max_message_size
                ),
                ErrorSource::Backend,
            ));
        }
        if self.buffer.len() < PREFIX_LEN + len {
            self.buffer.reserve(PREFIX_LEN + len - self.buffer.len());
            return Ok(None);
        }
        self.buffer.advance(PREFIX_LEN);
        Ok(Some(self.buffer.split_to(len).freeze()))
    }

    /// Whether bytes of an incomplete message remain.
    pub(crate) fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }
}

/// Formats a timeout as a `grpc-timeout` header value (at most 8 digits and a unit).
pub(crate) fn format_timeout(timeout: Duration) -> HeaderValue {
    let nanos = timeout.as_nanos();
    const UNITS: [(u128, u8); 6] = [
        (1, b'n'),
        (1_000, b'u'),
        (1_000_000, b'm'),
        (1_000_000_000, b'S'),
        (60_000_000_000, b'M'),
        (3_600_000_000_000, b'H'),
    ];
    // Formatted by hand: `format!` of a u128 showed in every call's profile.
    let (mut value, unit) = UNITS
        .iter()
        .map(|(scale, unit)| (nanos.div_ceil(*scale), *unit))
        .find(|(value, _)| *value < 100_000_000)
        .map_or((99_999_999, b'H'), |(value, unit)| (value as u64, unit));
    let mut text = [0u8; 9];
    let mut start = 8;
    text[8] = unit;
    loop {
        start -= 1;
        text[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    HeaderValue::from_bytes(&text[start..]).unwrap_or(HeaderValue::from_static("99999999H"))
}

/// Reads `grpc-status`, `grpc-message` and `grpc-status-details-bin` from trailers (or from the
/// headers of a trailers-only answer). `None` means the map carries no status.
pub(crate) fn status_from_trailers(trailers: &HeaderMap) -> Option<Result<(), Status>> {
    let code = trailers.get(GRPC_STATUS)?;
    let code = code
        .to_str()
        .ok()
        .and_then(|c| c.parse::<i32>().ok())
        .map(Code::from_i32)
        .unwrap_or(Code::Unknown);
    if code == Code::Ok {
        return Some(Ok(()));
    }
    let message = trailers
        .get(GRPC_MESSAGE)
        .map(|m| {
            percent_encoding::percent_decode(m.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let mut status = Status::new(code, message, ErrorSource::Backend);
    if let Some(details) = trailers.get(GRPC_STATUS_DETAILS) {
        if let Ok(decoded) = decode_base64_header(details.as_bytes()) {
            status = status.with_encoded_details(Bytes::from(decoded));
        }
    }
    Some(Err(status))
}

/// Decodes a `-bin` metadata value: base64, padded or not.
pub(crate) fn decode_base64_header(value: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine as _;
    if value.ends_with(b"=") {
        STANDARD.decode(value)
    } else {
        STANDARD_NO_PAD.decode(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_reassembles_split_messages() {
        let framed = frame(b"hello");
        let mut decoder = MessageDecoder::new(1024);
        decoder.push(framed.slice(..3));
        assert_eq!(decoder.next_message().unwrap(), None);
        decoder.push(framed.slice(3..));
        let mut two = BytesMut::new();
        two.extend_from_slice(&frame(b"a"));
        two.extend_from_slice(&frame(b""));
        decoder.push(two.freeze());
        assert_eq!(
            decoder.next_message().unwrap().unwrap(),
            Bytes::from_static(b"hello")
        );
        assert_eq!(
            decoder.next_message().unwrap().unwrap(),
            Bytes::from_static(b"a")
        );
        assert_eq!(decoder.next_message().unwrap().unwrap(), Bytes::new());
        assert_eq!(decoder.next_message().unwrap(), None);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn decoder_rejects_oversized_and_compressed_messages() {
        let mut decoder = MessageDecoder::new(3);
        decoder.push(frame(b"toolong"));
        assert_eq!(decoder.next_message().unwrap_err().code(), Code::Internal);
        let mut decoder = MessageDecoder::new(100);
        decoder.push(Bytes::from_static(&[1, 0, 0, 0, 1, 7]));
        assert_eq!(decoder.next_message().unwrap_err().code(), Code::Internal);
    }

    #[test]
    fn timeouts_use_at_most_eight_digits() {
        assert_eq!(format_timeout(Duration::from_millis(1500)), "1500000u");
        assert_eq!(format_timeout(Duration::from_secs(30)), "30000000u");
        assert_eq!(format_timeout(Duration::from_secs(3600 * 24)), "86400000m");
        assert_eq!(format_timeout(Duration::from_secs(3600 * 72)), "259200S");
        assert_eq!(format_timeout(Duration::ZERO), "0n");
        assert_eq!(
            format_timeout(Duration::from_nanos(99_999_999)),
            "99999999n"
        );
        assert_eq!(format_timeout(Duration::MAX), "99999999H");
    }

    #[test]
    fn status_comes_from_trailers_with_decoded_message() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "5".parse().unwrap());
        trailers.insert("grpc-message", "shelf%20not%20found".parse().unwrap());
        let status = status_from_trailers(&trailers).unwrap().unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "shelf not found");
        trailers.insert("grpc-status", "0".parse().unwrap());
        assert!(status_from_trailers(&trailers).unwrap().is_ok());
        assert!(status_from_trailers(&HeaderMap::new()).is_none());
    }
}
