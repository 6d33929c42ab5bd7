//! The HTTP/2 request body of a gRPC call: one framed message, or a stream of them.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::framing::frame;
use crate::model::{MessageStream, Payload, Status};

/// The body of a gRPC request.
pub(crate) enum GrpcRequestBody {
    /// One message, already framed; `None` once sent.
    Unary(Option<Bytes>),
    /// Messages framed as they arrive; an `Err` from the stream cancels the call and is kept in
    /// the slot, because it, not the reset stream it causes, is the call's outcome.
    Stream(MessageStream, Arc<OnceLock<Status>>),
}

impl Body for GrpcRequestBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        match self.get_mut() {
            GrpcRequestBody::Unary(message) => {
                Poll::Ready(message.take().map(|m| Ok(Frame::data(m))))
            }
            GrpcRequestBody::Stream(stream, failure) => match stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(payload))) => match payload {
                    Payload::Protobuf(message) => {
                        Poll::Ready(Some(Ok(Frame::data(frame(&message)))))
                    }
                    other => Poll::Ready(Some(Err(Status::internal(format!(
                        "gRPC backend received a {} message instead of protobuf",
                        payload_kind(&other)
                    ))))),
                },
                Poll::Ready(Some(Err(status))) => {
                    let _ = failure.set(status.clone());
                    Poll::Ready(Some(Err(status)))
                }
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, GrpcRequestBody::Unary(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GrpcRequestBody::Unary(Some(m)) => SizeHint::with_exact(m.len() as u64),
            GrpcRequestBody::Unary(None) => SizeHint::with_exact(0),
            GrpcRequestBody::Stream(..) => SizeHint::default(),
        }
    }
}

pub(crate) fn payload_kind(payload: &Payload) -> &'static str {
    match payload {
        Payload::Json(_) => "JSON",
        Payload::Protobuf(_) => "protobuf",
        Payload::Xml(_) => "XML",
        Payload::Raw { .. } => "raw",
    }
}
