//! The request side of a call: one framed message, or a stream of them fed into the HTTP/2
//! stream as they arrive, within the flow-control window the backend grants.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use h2::SendStream;

use super::framing::frame;
use super::stall::PumpSignal;
use crate::model::{MessageStream, Payload, Status};

/// Sends every message of `messages`, then ends the stream. A failing message stream (a bad
/// NDJSON line) resets the call and leaves its status in `failure`, because it, not the reset
/// it causes, is the call's outcome.
///
/// When the answer streams, `answer` says when it ended or its reader stalled: a stalled
/// answer's call is reset here, where its stream is, even after the request ended.
pub(crate) async fn pump(
    mut messages: MessageStream,
    mut stream: SendStream<Bytes>,
    failure: Arc<OnceLock<Status>>,
    answer: Option<Arc<PumpSignal>>,
) {
    let ended = async {
        match &answer {
            Some(signal) => signal.ended().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(ended);
    loop {
        let item = tokio::select! {
            item = messages.next() => match item {
                Some(item) => item,
                None => break,
            },
            stalled = &mut ended => {
                if stalled {
                    stream.send_reset(h2::Reason::CANCEL);
                }
                return;
            }
        };
        let message = match item {
            Ok(Payload::Protobuf(message)) => message,
            Ok(other) => {
                let _ = failure.set(Status::internal(format!(
                    "gRPC backend received a {} message instead of protobuf",
                    payload_kind(&other)
                )));
                stream.send_reset(h2::Reason::INTERNAL_ERROR);
                return;
            }
            Err(status) => {
                let _ = failure.set(status);
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
        };
        if send_within_window(&mut stream, frame(&message))
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
    // The request is sent; a streamed answer may still stall, and only this stream can say so.
    if answer.is_some() && ended.await {
        stream.send_reset(h2::Reason::CANCEL);
    }
}

/// Sends `data` in pieces no larger than the capacity the peer has granted.
async fn send_within_window(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
) -> Result<(), h2::Error> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(h2::Reason::CANCEL)),
        };
        let piece = data.split_to(granted.min(data.len()));
        stream.send_data(piece, false)?;
    }
    Ok(())
}

/// The name of a payload's form, for error messages.
pub(crate) fn payload_kind(payload: &Payload) -> &'static str {
    match payload {
        Payload::Json(_) => "JSON",
        Payload::Protobuf(_) => "protobuf",
        Payload::Xml(_) => "XML",
        Payload::Raw { .. } => "raw",
    }
}
