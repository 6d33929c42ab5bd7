//! Deadlines for calls: a unary call, and every message of a stream, must arrive in time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::model::{GatewayResponse, MessageStream, Payload, ResponseBody, Status};

pin_project! {
    /// A call that fails with `DEADLINE_EXCEEDED` when its deadline passes first; a streamed
    /// answer keeps the deadline for its messages.
    ///
    /// A hand-written future rather than an `async fn`: the call is polled where it lies, so the
    /// (large) call future is never moved again after it is boxed.
    pub(crate) struct Within<F> {
        #[pin]
        call: F,
        #[pin]
        deadline: Option<Sleep>,
        limit: Duration,
    }
}

/// Runs `call` under `limit`, when there is one.
pub(crate) fn within<F>(limit: Option<Duration>, call: F) -> Within<F> {
    Within {
        call,
        deadline: limit.map(tokio::time::sleep),
        limit: limit.unwrap_or_default(),
    }
}

impl<F> Future for Within<F>
where
    F: Future<Output = Result<GatewayResponse, Status>>,
{
    type Output = Result<GatewayResponse, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.call.poll(cx) {
            let deadline = this
                .deadline
                .as_ref()
                .as_pin_ref()
                .map(|sleep| sleep.deadline());
            return Poll::Ready(result.map(|response| match deadline {
                Some(deadline) => keep_deadline(response, deadline, *this.limit),
                None => response,
            }));
        }
        if let Some(sleep) = this.deadline.as_mut().as_pin_mut() {
            if sleep.poll(cx).is_ready() {
                return Poll::Ready(Err(exceeded(*this.limit)));
            }
        }
        Poll::Pending
    }
}

fn keep_deadline(
    mut response: GatewayResponse,
    deadline: Instant,
    limit: Duration,
) -> GatewayResponse {
    if let ResponseBody::Stream(messages) = response.body {
        response.body = ResponseBody::Stream(Box::pin(DeadlineStream {
            messages,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            limit,
            expired: false,
        }));
    }
    response
}

fn exceeded(limit: Duration) -> Status {
    Status::deadline_exceeded(format!("the backend did not answer within {limit:?}"))
}

/// A stream that ends with `DEADLINE_EXCEEDED` when its deadline passes first.
struct DeadlineStream {
    messages: MessageStream,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
    expired: bool,
}

impl Stream for DeadlineStream {
    type Item = Result<Payload, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = this.messages.as_mut().poll_next(cx) {
            return Poll::Ready(item);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired = true;
            return Poll::Ready(Some(Err(exceeded(this.limit))));
        }
        Poll::Pending
    }
}
