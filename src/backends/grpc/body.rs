//! The request side of a call: one framed message, or a stream of them fed into the HTTP/2
//! stream as they arrive, within the flow-control window the backend grants.

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use h2::SendStream;

use super::framing::append_frame;
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
    let mut batch = BytesMut::new();
    let mut finished = false;
    while !finished {
        let first = tokio::select! {
            item = messages.next() => item,
            stalled = &mut ended => {
                if stalled {
                    stream.send_reset(h2::Reason::CANCEL);
                }
                return;
            }
        };
        let mut next = first;
        // Messages already waiting go out together: one DATA frame per tiny message would
        // spend the backend's budget for small frames (h2 answers with GOAWAY
        // ENHANCE_YOUR_CALM, failing every call on the connection).
        loop {
            match next {
                None => {
                    finished = true;
                    break;
                }
                Some(item) => {
                    let message = match protobuf(item) {
                        Ok(message) => message,
                        Err((status, reason)) => {
                            let _ = failure.set(status);
                            stream.send_reset(reason);
                            return;
                        }
                    };
                    append_frame(&mut batch, &message);
                }
            }
            if batch.len() >= BATCH_BYTES {
                break;
            }
            match messages.next().now_or_never() {
                Some(item) => next = item,
                None => break,
            }
        }
        if !batch.is_empty()
            && send_within_window(&mut stream, batch.split().freeze())
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

/// How many bytes of waiting messages are gathered into one DATA frame at most.
const BATCH_BYTES: usize = 16 << 10;

/// The protobuf bytes of a request message, or why the call must be reset.
fn protobuf(item: Result<Payload, Status>) -> Result<Bytes, (Status, h2::Reason)> {
    match item {
        Ok(Payload::Protobuf(message)) => Ok(message),
        Ok(other) => Err((
            Status::internal(format!(
                "gRPC backend received a {} message instead of protobuf",
                payload_kind(&other)
            )),
            h2::Reason::INTERNAL_ERROR,
        )),
        Err(status) => Err((status, h2::Reason::CANCEL)),
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
