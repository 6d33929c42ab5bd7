//! Watches the backend's first HTTP/2 frame on its way into h2: the server's SETTINGS.
//!
//! Two things need it and h2's client API gives neither: the connect timeout must cover the
//! backend actually speaking HTTP/2 (a server that accepts TCP and then says nothing is
//! unreachable, not slow), and outgoing metadata must fit the backend's advertised
//! `SETTINGS_MAX_HEADER_LIST_SIZE` — h2 sends an oversized header block anyway, and the backend
//! then resets the whole shared connection, failing every call on it.

use tokio::sync::oneshot;

use crate::io::Observed;

/// HTTP/2 frame header length.
const FRAME_HEADER: usize = 9;
/// The SETTINGS frame type.
const SETTINGS: u8 = 0x4;
/// The SETTINGS_MAX_HEADER_LIST_SIZE parameter.
const MAX_HEADER_LIST_SIZE: u16 = 0x6;
/// More than any real SETTINGS frame holds (a handful of 6-byte parameters).
const MAX_SETTINGS_PAYLOAD: usize = 1024;

/// What the backend's first frame said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstFrame {
    /// A SETTINGS frame, with its `SETTINGS_MAX_HEADER_LIST_SIZE` when it set one.
    Settings {
        /// The largest header list the backend accepts, if it said.
        max_header_list_size: Option<u32>,
    },
    /// Anything else: the peer does not speak HTTP/2 (h2 will fail the connection too).
    NotSettings,
}

/// An IO stream whose first frame is reported, then only passed through.
pub(crate) type Probed<I> = Observed<I, Box<dyn FnMut(&[u8]) + Send>>;

/// Wraps `io` so that its first frame is reported on the returned receiver.
pub(crate) fn probe<I>(io: I) -> (Probed<I>, oneshot::Receiver<FirstFrame>) {
    let (report, first) = oneshot::channel();
    let mut report = Some(report);
    let mut seen = Vec::with_capacity(FRAME_HEADER);
    let observe = move |bytes: &[u8]| {
        if report.is_none() {
            return;
        }
        seen.extend_from_slice(bytes);
        if let Some(frame) = parse_first_frame(&seen) {
            if let Some(report) = report.take() {
                let _ = report.send(frame);
            }
            seen = Vec::new();
        }
    };
    (Observed::new(io, Box::new(observe)), first)
}

/// The first frame of `bytes`, once enough of it has arrived to say what it is.
fn parse_first_frame(bytes: &[u8]) -> Option<FirstFrame> {
    let header = bytes.get(..FRAME_HEADER)?;
    let length =
        usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    if header[3] != SETTINGS || length > MAX_SETTINGS_PAYLOAD || length % 6 != 0 {
        return Some(FirstFrame::NotSettings);
    }
    let payload = bytes.get(FRAME_HEADER..FRAME_HEADER + length)?;
    // The last occurrence of a parameter counts (RFC 9113 §6.5).
    let max_header_list_size = payload
        .chunks_exact(6)
        .rev()
        .find(|entry| u16::from_be_bytes([entry[0], entry[1]]) == MAX_HEADER_LIST_SIZE)
        .map(|entry| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]));
    Some(FirstFrame::Settings {
        max_header_list_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
        let length = entries.len() * 6;
        let mut frame = vec![0, 0, length as u8, SETTINGS, 0, 0, 0, 0, 0];
        for (id, value) in entries {
            frame.extend_from_slice(&id.to_be_bytes());
            frame.extend_from_slice(&value.to_be_bytes());
        }
        frame
    }

    #[test]
    fn the_first_settings_frame_gives_the_header_list_limit() {
        let frame = settings(&[(0x3, 200), (MAX_HEADER_LIST_SIZE, 16384), (0x4, 65535)]);
        assert_eq!(parse_first_frame(&frame[..8]), None);
        assert_eq!(parse_first_frame(&frame[..14]), None);
        assert_eq!(
            parse_first_frame(&frame),
            Some(FirstFrame::Settings {
                max_header_list_size: Some(16384)
            })
        );
        assert_eq!(
            parse_first_frame(&settings(&[])),
            Some(FirstFrame::Settings {
                max_header_list_size: None
            })
        );
    }

    #[test]
    fn anything_but_settings_first_is_not_http2() {
        assert_eq!(
            parse_first_frame(b"HTTP/1.1 400 Bad Request\r\n"),
            Some(FirstFrame::NotSettings)
        );
    }

    #[tokio::test]
    async fn the_probe_reports_once_and_passes_every_byte_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut server, client) = tokio::io::duplex(64);
        let (mut probe, first) = probe(client);
        let mut sent = settings(&[(MAX_HEADER_LIST_SIZE, 8192)]);
        sent.extend_from_slice(b"rest");
        server.write_all(&sent).await.unwrap();
        drop(server);
        let mut received = Vec::new();
        probe.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, sent);
        assert_eq!(
            first.await.unwrap(),
            FirstFrame::Settings {
                max_header_list_size: Some(8192)
            }
        );
    }
}
