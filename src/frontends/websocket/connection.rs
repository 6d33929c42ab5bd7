//! The driver of one multiplexed connection: a thin loop that reads frames, asks the session
//! what they mean, starts call tasks, writes what they queue (batched, flushed once the queue
//! is empty), and keeps the timers (init, ping, idle, shutdown grace).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::call::{CallControl, CallTask, FrameKind, OutFrame, Outbox};
use super::decode::{self, Inbound, RequestStream};
use super::encode;
use super::protocol::{self, CallFrame, ClientMessage, IdTag, INIT_ACK};
use super::session::{CallSeq, Close, Refusal, Session};
use super::Connection;
use crate::model::{Code, ErrorSource, GatewayRequest, Payload, RequestBody, Status};
use crate::telemetry::metrics::WebSocketMetrics;

/// Frames written before a flush, at most, when many are queued.
const WRITE_BATCH: usize = 64;

/// How long the close frame may take to be written.
pub(crate) const CLOSE_TIME: Duration = Duration::from_secs(5);

/// A call under way, as the driver holds it.
struct CallHandle {
    tag: IdTag,
    /// Where `send` messages go; dropped on `half_close`.
    requests: Option<mpsc::Sender<Inbound>>,
    control: Arc<CallControl>,
    task: JoinHandle<()>,
}

struct Driver {
    connection: Connection,
    session: Session,
    calls: HashMap<CallSeq, CallHandle>,
    /// The queue call tasks write to, made with the first call (idle connections have none),
    /// and the writer's end of it.
    outbox: Option<Outbox>,
    queued: Option<mpsc::Receiver<OutFrame>>,
    /// Bytes of client messages queued for backends.
    inbound_bytes: Arc<Semaphore>,
    /// Metadata of every call: the upgrade's forwarded headers and `init`'s metadata.
    metadata: HeaderMap,
    /// Replies written after the frame that caused them.
    replies: Vec<Message>,
    started: Instant,
    last_received: Instant,
    last_activity: Instant,
    ping_sent: Option<Instant>,
    grace_until: Option<Instant>,
}

/// What a timer found.
enum Due {
    Nothing,
    Ping,
    Close(Close),
    /// The client answered nothing: drop the connection.
    Dead,
    /// The shutdown grace period is over.
    GraceOver,
}

/// Serves one multiplexed connection until it closes. `accepted` is false when the client did
/// not offer the `polygate.v1` subprotocol: it is told so with 4406 and closed.
pub(crate) async fn serve<S>(mut socket: WebSocketStream<S>, connection: Connection, accepted: bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !accepted {
        let refusal = socket.close(Some(encode::close(&Close::Subprotocol)));
        let _ = tokio::time::timeout(CLOSE_TIME, refusal).await;
        return;
    }
    let mut connection = connection;
    let settings = connection.settings.clone();
    let now = Instant::now();
    let mut driver = Driver {
        session: Session::new(settings.max_calls, settings.max_queued_messages),
        calls: HashMap::new(),
        outbox: None,
        queued: None,
        inbound_bytes: Arc::new(Semaphore::new(settings.max_queued_bytes)),
        metadata: std::mem::take(&mut connection.metadata),
        replies: Vec::new(),
        started: now,
        last_received: now,
        last_activity: now,
        ping_sent: None,
        grace_until: None,
        connection,
    };
    let shutdown = driver.connection.shutdown.clone().fired();
    tokio::pin!(shutdown);
    let timer = tokio::time::sleep_until(driver.deadline());
    tokio::pin!(timer);
    let mut draining = false;
    let close = loop {
        // Unbiased: a busy stream never starves the client's messages (credit, cancel).
        tokio::select! {
            Some(frame) = next_frame(&mut driver.queued) => {
                if let Err(close) = driver.write(&mut socket, frame).await {
                    break close;
                }
                if draining && driver.session.calls() == 0 {
                    break Some(Close::ShuttingDown);
                }
            }
            incoming = socket.next() => {
                let now = Instant::now();
                driver.last_received = now;
                driver.ping_sent = None;
                let outcome = match incoming {
                    None => break None,
                    Some(Ok(Message::Text(text))) => {
                        driver.last_activity = now;
                        driver.counted().messages_in.fetch_add(1, Ordering::Relaxed);
                        driver.on_text(text)
                    }
                    Some(Ok(Message::Binary(_))) => Err(Close::Binary),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
                    Some(Ok(Message::Close(_))) => break None,
                    Some(Err(tungstenite::Error::Capacity(_))) => {
                        Err(Close::TooBig(settings.max_message_size))
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "WebSocket connection failed");
                        break None;
                    }
                };
                if let Err(close) = outcome {
                    break Some(close);
                }
                if driver.flush_replies(&mut socket).await.is_err() {
                    break None;
                }
            }
            () = &mut timer => {
                match driver.due(Instant::now()) {
                    Due::Nothing => {}
                    Due::Ping => {
                        if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                            break None;
                        }
                    }
                    Due::Close(close) => break Some(close),
                    Due::Dead => break None,
                    Due::GraceOver => {
                        driver.end_calls(&mut socket).await;
                        break Some(Close::ShuttingDown);
                    }
                }
                timer.as_mut().reset(driver.deadline());
            }
            () = &mut shutdown, if !draining => {
                draining = true;
                driver.session.drain();
                if driver.session.calls() == 0 {
                    break Some(Close::ShuttingDown);
                }
                driver.grace_until = Some(Instant::now() + settings.shutdown_grace);
            }
        }
        let deadline = driver.deadline();
        if deadline < timer.deadline() {
            timer.as_mut().reset(deadline);
        }
    };
    for (_, call) in driver.calls.drain() {
        call.task.abort();
    }
    if let Some(close) = close {
        // A client that reads nothing more cannot hold the task: the close gets a few seconds.
        let _ = tokio::time::timeout(CLOSE_TIME, socket.close(Some(encode::close(&close)))).await;
    }
}

impl Driver {
    /// The WebSocket metrics.
    fn counted(&self) -> &WebSocketMetrics {
        &self.connection.pipeline.telemetry().metrics.websocket
    }
}

impl Driver {
    /// The next time a timer has something to do.
    fn deadline(&self) -> Instant {
        let settings = &self.connection.settings;
        if !self.session.initialized() {
            return self.started + settings.init_timeout;
        }
        let mut deadline = match self.ping_sent {
            Some(at) => at + settings.ping_interval,
            None => self.last_received + settings.ping_interval,
        };
        if self.session.calls() == 0 {
            deadline = deadline.min(self.last_activity + settings.idle_timeout);
        }
        if let Some(grace) = self.grace_until {
            deadline = deadline.min(grace);
        }
        deadline
    }

    fn due(&mut self, now: Instant) -> Due {
        let settings = &self.connection.settings;
        if !self.session.initialized() {
            return if now >= self.started + settings.init_timeout {
                Due::Close(Close::InitTimeout)
            } else {
                Due::Nothing
            };
        }
        if self.grace_until.is_some_and(|grace| now >= grace) {
            return Due::GraceOver;
        }
        if self.session.calls() == 0 && now >= self.last_activity + settings.idle_timeout {
            return Due::Close(Close::Idle);
        }
        match self.ping_sent {
            Some(at) if now >= at + settings.ping_interval => Due::Dead,
            Some(_) => Due::Nothing,
            None if now >= self.last_received + settings.ping_interval => {
                self.ping_sent = Some(now);
                Due::Ping
            }
            None => Due::Nothing,
        }
    }

    /// Writes `first` and whatever else is queued (up to a batch), then flushes.
    async fn write<S>(
        &mut self,
        socket: &mut WebSocketStream<S>,
        first: OutFrame,
    ) -> Result<(), Option<Close>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(frame) = next.take() {
            if self.session.is_current(frame.seq) {
                match frame.kind {
                    FrameKind::Message => {}
                    FrameKind::Grant(n) => self.session.granted(frame.seq, n),
                    FrameKind::Terminal => {
                        self.session.end(frame.seq);
                        self.calls.remove(&frame.seq);
                        self.last_activity = Instant::now();
                    }
                }
                socket
                    .feed(encode::text(frame.json))
                    .await
                    .map_err(write_failed)?;
                self.counted().messages_out.fetch_add(1, Ordering::Relaxed);
                written += 1;
            }
            if written < WRITE_BATCH {
                next = self.queued.as_mut().and_then(|q| q.try_recv().ok());
            }
        }
        socket.flush().await.map_err(write_failed)
    }

    async fn flush_replies<S>(&mut self, socket: &mut WebSocketStream<S>) -> Result<(), ()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if self.replies.is_empty() {
            return Ok(());
        }
        let replies = self.replies.len() as u64;
        for reply in self.replies.drain(..) {
            socket.feed(reply).await.map_err(drop)?;
        }
        self.counted()
            .messages_out
            .fetch_add(replies, Ordering::Relaxed);
        socket.flush().await.map_err(drop)
    }

    fn reply(&mut self, json: Vec<u8>) {
        self.replies.push(encode::text(json));
    }

    fn refuse(&mut self, refusal: &Refusal, id: &str) {
        let tag = refusal.ends_call().then(|| IdTag::new(id));
        self.reply(encode::error_message(tag.as_ref(), &refusal.status()));
    }

    /// Handles one text frame; an `Err` closes the connection.
    fn on_text(&mut self, text: Utf8Bytes) -> Result<(), Close> {
        let frame: Bytes = text.clone().into();
        let message = match protocol::parse(&text) {
            Ok(message) => message,
            Err(error) => {
                if !self.session.initialized() {
                    return Err(Close::BadMessage(error.message));
                }
                // A bad `call` ends the call it would have started, unless its id is taken.
                let tag = error
                    .call_id
                    .filter(|id| self.session.seq_of(id).is_err())
                    .map(|id| IdTag::new(&id));
                let status = Status::invalid_argument(error.message);
                self.reply(encode::error_message(tag.as_ref(), &status));
                return Ok(());
            }
        };
        if let ClientMessage::Init { metadata } = message {
            self.session.init()?;
            let metadata = decode::metadata(&metadata)
                .map_err(|status| Close::BadMessage(status.message().to_owned()))?;
            self.metadata = decode::call_metadata(&self.metadata, metadata);
            self.replies
                .push(Message::Text(Utf8Bytes::from_static(INIT_ACK)));
            return Ok(());
        }
        self.session.ready()?;
        match message {
            ClientMessage::Init { .. } => {}
            ClientMessage::Call(call) => self.start(call, &frame),
            ClientMessage::Send { id, message } => {
                self.forward(&id, decode::message_bytes(&frame, message))
            }
            ClientMessage::HalfClose { id } => match self.session.half_close(&id) {
                Ok(seq) => {
                    if let Some(call) = self.calls.get_mut(&seq) {
                        call.requests = None;
                    }
                }
                Err(refusal) => self.refuse(&refusal, &id),
            },
            ClientMessage::Cancel { id } => match self.session.cancel(&id) {
                Ok(seq) => {
                    if let Some(call) = self.calls.remove(&seq) {
                        call.task.abort();
                    }
                }
                Err(refusal) => self.refuse(&refusal, &id),
            },
            ClientMessage::Request { id, n } => match self.session.seq_of(&id) {
                Ok(seq) => {
                    if let Some(call) = self.calls.get(&seq) {
                        call.control.grant(n);
                    }
                }
                Err(refusal) => self.refuse(&refusal, &id),
            },
            ClientMessage::Ping { payload } => self.reply(protocol::pong(payload)),
            ClientMessage::Pong => {}
        }
        Ok(())
    }

    /// Starts a call: routes it, builds its request and spawns its task.
    fn start(&mut self, call: CallFrame<'_>, frame: &Bytes) {
        let id = call.id.clone();
        if let Err(refusal) = self.session.admit(&id) {
            self.refuse(&refusal, &id);
            return;
        }
        let tag = IdTag::new(&id);
        let (request, requests, control) = match self.request(call, frame) {
            Ok(built) => built,
            Err(status) => {
                self.reply(encode::error_message(Some(&tag), &status));
                return;
            }
        };
        // The pipeline admits each call through the policies (policy::Policies::admit), with
        // the identity the upgrade established.
        let seq = match self.session.open(&id, requests.is_some()) {
            Ok(seq) => seq,
            Err(refusal) => {
                self.refuse(&refusal, &id);
                return;
            }
        };
        let outbox = match &self.outbox {
            Some(outbox) => outbox.clone(),
            None => {
                let (outbox, queued) = Outbox::new(self.connection.settings.max_queued_bytes);
                self.queued = Some(queued);
                self.outbox.insert(outbox).clone()
            }
        };
        let task = CallTask {
            pipeline: self.connection.pipeline.clone(),
            request,
            seq,
            tag: tag.clone(),
            outbox,
            control: control.clone(),
        };
        let task = tokio::spawn(task.run());
        self.calls.insert(
            seq,
            CallHandle {
                tag,
                requests,
                control,
                task,
            },
        );
    }

    /// The request of a call, the sender of its client stream (for streaming calls) and the
    /// credit it shares with its task.
    #[allow(clippy::type_complexity)]
    fn request(
        &self,
        call: CallFrame<'_>,
        frame: &Bytes,
    ) -> Result<
        (
            GatewayRequest,
            Option<mpsc::Sender<Inbound>>,
            Arc<CallControl>,
        ),
        Status,
    > {
        let settings = &self.connection.settings;
        let key = decode::key(&call.target)?;
        let shape = self.connection.pipeline.call_shape(&key)?;
        let metadata = decode::call_metadata(&self.metadata, decode::metadata(&call.metadata)?);
        let first = call.message.map(|m| decode::message_bytes(frame, m));
        let control = Arc::new(CallControl::new(
            call.credit.unwrap_or(u64::from(settings.initial_credit)),
        ));
        let (body, requests) = if shape.client_streams() {
            let (sender, receiver) = mpsc::channel(settings.max_queued_messages as usize);
            let stream = RequestStream::new(first, receiver, control.clone());
            (RequestBody::Stream(Box::pin(stream)), Some(sender))
        } else {
            (first.map_or(RequestBody::Empty, RequestBody::Unary), None)
        };
        let request = GatewayRequest {
            key,
            body,
            metadata,
            timeout: call.timeout,
            caller: self.connection.caller.clone(),
        };
        Ok((request, requests, control))
    }

    /// `send`: queues a client message for the call's backend.
    fn forward(&mut self, id: &str, message: Payload) {
        let seq = match self.session.send(id) {
            Ok(seq) => seq,
            Err(Refusal::NoCredit { id, seq }) => {
                let status = Refusal::NoCredit {
                    id: id.clone(),
                    seq,
                }
                .status();
                self.end_call(seq, &id, &status);
                return;
            }
            Err(refusal) => {
                self.refuse(&refusal, id);
                return;
            }
        };
        let Some(requests) = self.calls.get(&seq).and_then(|call| call.requests.as_ref()) else {
            return;
        };
        let size = u32::try_from(message.bytes().len().max(1)).unwrap_or(u32::MAX);
        let full = match self.inbound_bytes.clone().try_acquire_many_owned(size) {
            Ok(bytes) => matches!(
                requests.try_send(Inbound {
                    message,
                    _bytes: bytes,
                }),
                Err(mpsc::error::TrySendError::Full(_))
            ),
            Err(_) => true,
        };
        // (A closed queue means the call is ending: its last message is on its way.)
        if full {
            let status = Status::new(
                Code::ResourceExhausted,
                format!(
                    "the client messages queued on this connection would exceed {} bytes",
                    self.connection.settings.max_queued_bytes
                ),
                ErrorSource::Client,
            );
            self.end_call(seq, id, &status);
        }
    }

    /// Ends call `seq` now with `status`: its task stops and its id is free.
    fn end_call(&mut self, seq: CallSeq, id: &str, status: &Status) {
        self.session.end(seq);
        if let Some(call) = self.calls.remove(&seq) {
            call.task.abort();
        }
        self.reply(encode::error_message(Some(&IdTag::new(id)), status));
    }

    /// The grace period is over: every call still under way ends with `UNAVAILABLE`.
    async fn end_calls<S>(&mut self, socket: &mut WebSocketStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let status = Status::unavailable("the gateway is shutting down");
        for (seq, call) in self.calls.drain() {
            call.task.abort();
            self.session.end(seq);
            self.replies.push(encode::text(encode::error_message(
                Some(&call.tag),
                &status,
            )));
        }
        let _ = self.flush_replies(socket).await;
    }
}

/// The next frame a call queued; never, while no call was made.
async fn next_frame(queued: &mut Option<mpsc::Receiver<OutFrame>>) -> Option<OutFrame> {
    match queued {
        Some(queued) => queued.recv().await,
        None => std::future::pending().await,
    }
}

fn write_failed(error: tungstenite::Error) -> Option<Close> {
    match error {
        tungstenite::Error::Io(_)
        | tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed => None,
        other => Some(Close::Internal(format!("writing failed: {other}"))),
    }
}
