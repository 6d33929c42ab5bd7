//! Response bodies: one buffer, or a stream of messages framed as NDJSON or Server-Sent Events.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::model::{MessageStream, Payload, Status};

/// How a streamed answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One JSON message per line; an error ends the stream as `{"error":{…}}`.
    Ndjson,
    /// `data: {…}` events; an error ends the stream as an `event: error`.
    ServerSentEvents,
    /// Raw `HttpBody` chunks, concatenated.
    Raw,
}

/// The body of a response.
pub(crate) enum ResponseBody {
    /// A complete body.
    Full(Option<Bytes>),
    /// Messages framed as they arrive.
    Stream {
        first: Option<Payload>,
        messages: MessageStream,
        framing: Framing,
        finished: bool,
        /// Resolves when the gateway cuts the stream (shutdown past its drain deadline).
        cut: Option<Cut>,
    },
}

/// A signal that ends a stream early.
pub(crate) type Cut = Pin<Box<dyn Future<Output = ()> + Send>>;

impl ResponseBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        ResponseBody::Full(Some(bytes.into()))
    }

    /// Ends a streamed body with an in-band `UNAVAILABLE` error once the signal `make` gives
    /// resolves (made only for streams: a complete body needs none).
    pub(crate) fn cut_by(&mut self, make: impl FnOnce() -> Cut) {
        if let ResponseBody::Stream { cut, .. } = self {
            *cut = Some(make());
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream {
                first,
                messages,
                framing,
                finished,
                cut,
            } => {
                if *finished {
                    return Poll::Ready(None);
                }
                if cut
                    .as_mut()
                    .is_some_and(|cut| cut.as_mut().poll(cx).is_ready())
                {
                    *finished = true;
                    let status = Status::unavailable("polygate is shutting down");
                    return Poll::Ready(Some(Ok(Frame::data(frame_error(*framing, &status)))));
                }
                let item = match first.take() {
                    Some(message) => Ok(message),
                    None => match messages.as_mut().poll_next(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => {
                            *finished = true;
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Some(item)) => item,
                    },
                };
                let chunk = match item {
                    Ok(message) => frame_message(*framing, &message),
                    Err(status) => {
                        *finished = true;
                        frame_error(*framing, &status)
                    }
                };
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::Stream { finished, .. } => *finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Stream { .. } => SizeHint::default(),
        }
    }
}

fn frame_message(framing: Framing, message: &Payload) -> Bytes {
    let data = message.bytes();
    match framing {
        Framing::Raw => data.clone(),
        Framing::Ndjson => {
            let mut line = Vec::with_capacity(data.len() + 1);
            line.extend_from_slice(data);
            line.push(b'\n');
            line.into()
        }
        Framing::ServerSentEvents => {
            let mut event = Vec::with_capacity(data.len() + 8);
            event.extend_from_slice(b"data: ");
            event.extend_from_slice(data);
            event.extend_from_slice(b"\n\n");
            event.into()
        }
    }
}

fn frame_error(framing: Framing, status: &Status) -> Bytes {
    let mut out = Vec::with_capacity(96 + status.message().len());
    match framing {
        Framing::Ndjson | Framing::Raw => {
            out.extend_from_slice(b"{\"error\":");
            status.write_json(&mut out);
            out.extend_from_slice(b"}\n");
        }
        Framing::ServerSentEvents => {
            out.extend_from_slice(b"event: error\ndata: ");
            status.write_json(&mut out);
            out.extend_from_slice(b"\n\n");
        }
    }
    out.into()
}
