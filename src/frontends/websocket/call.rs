//! One call of the multiplexed endpoint, in a task of its own: the pipeline's answer becomes
//! `headers`, `next` messages within the client's credit, and a last `complete` or `error`;
//! client messages the backend takes become send credit given back with `request` messages.
//! Nothing is buffered beyond the connection's bounded queue: a call without credit, or a
//! connection whose client reads slowly, stops pulling the backend's stream, so the backend's
//! own flow control pushes back.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use http::HeaderMap;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::encode;
use super::protocol::{self, IdTag};
use super::session::CallSeq;
use crate::model::{GatewayRequest, GatewayResponse, Payload, ResponseBody, Status};
use crate::pipeline::Pipeline;

/// What the driver and a call's task share: the client's grants and the backend's takings.
#[derive(Debug)]
pub(crate) struct CallControl {
    /// Answer messages the client has granted, in total.
    granted: AtomicU64,
    /// Client messages the backend took whose credit is not given back yet.
    taken: AtomicU64,
    wake: Notify,
}

impl CallControl {
    /// A call the client granted `initial` answer messages.
    pub(crate) fn new(initial: u64) -> Self {
        Self {
            granted: AtomicU64::new(initial),
            taken: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    /// `request n`: the client takes `n` more answer messages.
    pub(crate) fn grant(&self, n: u64) {
        // Saturates instead of wrapping: a client granting u64::MAX twice has unlimited credit.
        let _ = self
            .granted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |g| {
                Some(g.saturating_add(n))
            });
        self.wake.notify_one();
    }

    /// The backend took one client message.
    pub(crate) fn taken(&self) {
        self.taken.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }
}

/// What the writer does besides writing a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// An answer message (or `headers`).
    Message,
    /// A `request` message giving the client `n` sends.
    Grant(u64),
    /// The call's last message: its id is free once written.
    Terminal,
}

/// A frame queued for the client, holding its share of the connection's queued bytes.
#[derive(Debug)]
pub(crate) struct OutFrame {
    pub(crate) seq: CallSeq,
    pub(crate) kind: FrameKind,
    pub(crate) json: Vec<u8>,
    pub(crate) _bytes: OwnedSemaphorePermit,
}

/// The connection's queue of frames to the client, bounded in frames and in bytes.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    frames: mpsc::Sender<OutFrame>,
    bytes: Arc<Semaphore>,
    max_bytes: u32,
}

/// The connection is gone; the call stops.
#[derive(Debug)]
pub(crate) struct Gone;

/// How many frames the queue holds at most (besides its byte bound).
const QUEUED_FRAMES: usize = 64;

impl Outbox {
    /// A queue holding at most `max_bytes` bytes, and the writer's end of it.
    pub(crate) fn new(max_bytes: usize) -> (Self, mpsc::Receiver<OutFrame>) {
        let max_bytes = u32::try_from(max_bytes).unwrap_or(u32::MAX);
        let (frames, receiver) = mpsc::channel(QUEUED_FRAMES);
        let outbox = Self {
            frames,
            bytes: Arc::new(Semaphore::new(max_bytes as usize)),
            max_bytes,
        };
        (outbox, receiver)
    }

    /// Queues a frame, waiting while the queue is full. A frame larger than the whole bound
    /// waits for the queue to empty.
    pub(crate) async fn send(
        &self,
        seq: CallSeq,
        kind: FrameKind,
        json: Vec<u8>,
    ) -> Result<(), Gone> {
        let size = u32::try_from(json.len())
            .unwrap_or(u32::MAX)
            .clamp(1, self.max_bytes);
        let bytes = self
            .bytes
            .clone()
            .acquire_many_owned(size)
            .await
            .map_err(|_| Gone)?;
        self.frames
            .send(OutFrame {
                seq,
                kind,
                json,
                _bytes: bytes,
            })
            .await
            .map_err(|_| Gone)
    }
}

/// Everything a call's task needs.
pub(crate) struct CallTask {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) request: GatewayRequest,
    pub(crate) seq: CallSeq,
    pub(crate) tag: IdTag,
    pub(crate) outbox: Outbox,
    pub(crate) control: Arc<CallControl>,
}

/// How the call ended.
enum Ending {
    Ok(HeaderMap),
    Failed(Status),
}

impl CallTask {
    /// Runs the call to its last message. A panic inside the gateway ends the call with
    /// `INTERNAL` instead of leaving the client waiting.
    pub(crate) async fn run(self) {
        let seq = self.seq;
        let tag = self.tag.clone();
        let outbox = self.outbox.clone();
        let ending = match AssertUnwindSafe(self.answer()).catch_unwind().await {
            Ok(Ok(ending)) => ending,
            Ok(Err(Gone)) => return,
            Err(_) => Ending::Failed(Status::internal(
                "the gateway failed while serving the call",
            )),
        };
        let last = match ending {
            Ending::Ok(trailers) => protocol::complete(&tag, &trailers),
            Ending::Failed(status) => {
                tracing::debug!(code = ?status.code(), message = status.message(), "WebSocket call failed");
                encode::error_message(Some(&tag), &status)
            }
        };
        let _ = outbox.send(seq, FrameKind::Terminal, last).await;
    }

    async fn answer(self) -> Result<Ending, Gone> {
        let CallTask {
            pipeline,
            request,
            seq,
            tag,
            outbox,
            control,
        } = self;
        let call = Call {
            seq,
            tag,
            outbox,
            control,
            sent: 0,
        };
        let answer = pipeline.handle(request);
        tokio::pin!(answer);
        let answer = loop {
            tokio::select! {
                answer = &mut answer => break answer,
                () = call.control.wake.notified() => call.give_back().await?,
            }
        };
        match answer {
            Ok(response) => call.stream(response).await,
            Err(status) => Ok(Ending::Failed(status)),
        }
    }
}

struct Call {
    seq: CallSeq,
    tag: IdTag,
    outbox: Outbox,
    control: Arc<CallControl>,
    /// Answer messages sent so far.
    sent: u64,
}

impl Call {
    /// Gives the client back the credit of the messages the backend took.
    async fn give_back(&self) -> Result<(), Gone> {
        let taken = self.control.taken.swap(0, Ordering::AcqRel);
        if taken > 0 {
            self.outbox
                .send(
                    self.seq,
                    FrameKind::Grant(taken),
                    protocol::request(&self.tag, taken),
                )
                .await?;
        }
        Ok(())
    }

    fn has_credit(&self) -> bool {
        self.sent < self.control.granted.load(Ordering::Acquire)
    }

    /// Waits until the client grants another message, giving back send credit meanwhile.
    async fn credit(&self) -> Result<(), Gone> {
        while !self.has_credit() {
            self.control.wake.notified().await;
            self.give_back().await?;
        }
        Ok(())
    }

    async fn next(&mut self, message: &Payload) -> Result<(), Gone> {
        self.credit().await?;
        let json = protocol::next(&self.tag, &encode::message_json(message));
        self.outbox.send(self.seq, FrameKind::Message, json).await?;
        self.sent += 1;
        Ok(())
    }

    /// Sends the answer within the client's credit. One message is read ahead while the
    /// credit is spent, so that the end of the stream (or its failure) is told without
    /// waiting for more credit; nothing more is read until the client grants more.
    async fn stream(mut self, response: GatewayResponse) -> Result<Ending, Gone> {
        if !response.metadata.is_empty() {
            let headers = protocol::headers(&self.tag, &response.metadata);
            self.outbox
                .send(self.seq, FrameKind::Message, headers)
                .await?;
        }
        let mut messages = match response.body {
            ResponseBody::Unary { message, trailers } => {
                self.next(&message).await?;
                return Ok(Ending::Ok(trailers));
            }
            ResponseBody::Stream(messages) => messages,
        };
        let mut held: Option<Payload> = None;
        loop {
            if self.has_credit() {
                if let Some(message) = held.take() {
                    self.next(&message).await?;
                    continue;
                }
            }
            tokio::select! {
                item = messages.next(), if held.is_none() => match item {
                    Some(Ok(message)) => held = Some(message),
                    Some(Err(status)) => return Ok(Ending::Failed(status)),
                    None => return Ok(Ending::Ok(HeaderMap::new())),
                },
                () = self.control.wake.notified() => self.give_back().await?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_is_bounded_in_bytes() {
        let (outbox, mut frames) = Outbox::new(10);
        outbox
            .send(1, FrameKind::Message, vec![b'a'; 6])
            .await
            .unwrap();
        assert_eq!(outbox.bytes.available_permits(), 4);
        // 6 of 10 bytes are queued: 5 more wait until the first frame is written.
        assert!(outbox
            .send(1, FrameKind::Message, vec![b'b'; 5])
            .now_or_never()
            .is_none());
        let first = frames.recv().await.unwrap();
        assert_eq!(first.json, vec![b'a'; 6]);
        drop(first);
        assert_eq!(outbox.bytes.available_permits(), 10);
        outbox
            .send(1, FrameKind::Message, vec![b'b'; 5])
            .await
            .unwrap();
        assert_eq!(frames.recv().await.unwrap().json, vec![b'b'; 5]);
        // A frame over the whole bound still goes, alone.
        outbox
            .send(2, FrameKind::Terminal, vec![b'c'; 50])
            .await
            .unwrap();
        assert_eq!(frames.recv().await.unwrap().kind, FrameKind::Terminal);
    }

    #[test]
    fn credit_saturates() {
        let control = CallControl::new(u64::MAX - 1);
        control.grant(5);
        assert_eq!(control.granted.load(Ordering::Acquire), u64::MAX);
        control.taken();
        control.taken();
        assert_eq!(control.taken.load(Ordering::Acquire), 2);
    }
}
