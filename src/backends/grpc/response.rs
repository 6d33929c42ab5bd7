//! Reads a gRPC answer: messages as they arrive, then the status from the trailers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use h2::RecvStream;
use http::HeaderMap;

use super::framing::{status_from_trailers, MessageDecoder};
use super::stall::ReadProgress;
use crate::model::{Code, ErrorSource, Payload, Status};

/// The messages of one gRPC answer, ended by the status its trailers carry.
pub(crate) struct ResponseMessages {
    body: RecvStream,
    /// The DATA frames have all arrived; the trailers are next.
    data_done: bool,
    decoder: MessageDecoder,
    /// The call's end, once the trailers (or a failure) have been seen.
    end: Option<Result<(), Status>>,
    finished: bool,
    trailers: HeaderMap,
    /// What the stall watcher of a streamed answer sees of the reader.
    progress: Option<Arc<ReadProgress>>,
}

impl ResponseMessages {
    pub(crate) fn new(
        body: RecvStream,
        max_message_size: usize,
        progress: Option<Arc<ReadProgress>>,
    ) -> Self {
        Self {
            progress,
            body,
            data_done: false,
            decoder: MessageDecoder::new(max_message_size),
            end: None,
            finished: false,
            trailers: HeaderMap::new(),
        }
    }

    /// The trailers, once the stream has ended.
    pub(crate) fn take_trailers(&mut self) -> HeaderMap {
        std::mem::take(&mut self.trailers)
    }

    fn finish(&mut self, result: Result<(), Status>) -> Poll<Option<Result<Payload, Status>>> {
        self.finished = true;
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        match result {
            Ok(()) => Poll::Ready(None),
            Err(status) => Poll::Ready(Some(Err(status))),
        }
    }
}

impl Stream for ResponseMessages {
    type Item = Result<Payload, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.decoder.next_message() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(Payload::Protobuf(message)))),
                Ok(None) => {}
                Err(status) => return this.finish(Err(status)),
            }
            if let Some(end) = this.end.take() {
                let end = match end {
                    Ok(()) if this.decoder.has_partial() => Err(Status::new(
                        Code::Internal,
                        "backend ended the call in the middle of a message",
                        ErrorSource::Backend,
                    )),
                    other => other,
                };
                return this.finish(end);
            }
            if !this.data_done {
                match this.body.poll_data(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(data))) => {
                        // The bytes are buffered here now, so the backend may send more.
                        let _ = this.body.flow_control().release_capacity(data.len());
                        if let Some(progress) = &this.progress {
                            progress.took(data.len());
                        }
                        this.decoder.push(data);
                    }
                    Poll::Ready(Some(Err(error))) => this.end = Some(Err(broken_stream(&error))),
                    Poll::Ready(None) => this.data_done = true,
                }
                continue;
            }
            match this.body.poll_trailers(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Some(trailers))) => {
                    this.end = Some(status_from_trailers(&trailers).unwrap_or_else(|| {
                        Err(Status::new(
                            Code::Internal,
                            "backend sent trailers without grpc-status",
                            ErrorSource::Backend,
                        ))
                    }));
                    this.trailers = trailers;
                }
                Poll::Ready(Ok(None)) => {
                    this.end = Some(Err(Status::new(
                        Code::Internal,
                        "backend closed the call without sending a status",
                        ErrorSource::Backend,
                    )));
                }
                Poll::Ready(Err(error)) => this.end = Some(Err(broken_stream(&error))),
            }
        }
    }
}

impl Drop for ResponseMessages {
    fn drop(&mut self) {
        if let Some(progress) = &self.progress {
            progress.finish();
        }
    }
}

/// A transport failure in the middle of a call.
pub(crate) fn broken_stream(error: &h2::Error) -> Status {
    match error.reason() {
        Some(h2::Reason::CANCEL) => Status::new(
            Code::Cancelled,
            "backend cancelled the call",
            ErrorSource::Backend,
        ),
        // HTTP/2 promises a refused stream was not processed at all.
        Some(h2::Reason::REFUSED_STREAM) => {
            Status::unavailable("backend refused the call").with_unsent()
        }
        _ => Status::unavailable(format!("connection to the backend broke: {error}")),
    }
}
