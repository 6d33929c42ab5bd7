//! Deadlines for calls: a unary call, and every message of a stream, must arrive in time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::time::Sleep;

use crate::model::{GatewayResponse, MessageStream, Payload, ResponseBody, Status};

/// Runs `call` under `limit`, and keeps the limit on the messages of a streamed answer.
pub(crate) async fn within<F>(limit: Option<Duration>, call: F) -> Result<GatewayResponse, Status>
where
    F: Future<Output = Result<GatewayResponse, Status>>,
{
    let Some(limit) = limit else {
        return call.await;
    };
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(call);
    let mut deadline = Box::pin(deadline);
    let mut response = tokio::select! {
        response = &mut call => response?,
        () = &mut deadline => return Err(exceeded(limit)),
    };
    if let ResponseBody::Stream(messages) = response.body {
        response.body = ResponseBody::Stream(Box::pin(DeadlineStream {
            messages,
            deadline,
            limit,
            expired: false,
        }));
    }
    Ok(response)
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
