//! The direct binding: a route bound to a WebSocket path, one call per socket, framed as
//! grpc-websocket-proxy frames it. Each text frame is one request message (the first and only
//! one for unary and server-streaming methods); an empty text frame ends the client stream,
//! since browsers cannot half-close. Each answer message is a `{"result":…}` frame; a failed
//! call ends with an `{"error":…}` frame; the close code says how the call ended.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::connection::CLOSE_TIME;
use super::encode;
use super::session::Close;
use super::Connection;
use crate::model::{
    CallShape, GatewayRequest, MessageStream, Payload, RequestBody, RequestKey, ResponseBody,
    Status,
};

/// What ends the socket.
enum End {
    /// The call ended with OK, or with this status.
    Call(Option<Status>),
    /// The connection closes for a reason of its own.
    Close(Close),
    /// The client went away: nothing is sent.
    Gone,
}

/// Serves one socket bound to the route `key` finds; `shape` is that route's call shape.
pub(crate) async fn serve<S>(
    mut socket: WebSocketStream<S>,
    connection: Connection,
    key: RequestKey,
    shape: CallShape,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let end = run(&mut socket, connection, key, shape).await;
    let frame = match end {
        End::Gone => return,
        End::Close(close) => encode::close(&close),
        End::Call(None) => encode::status_close(None),
        End::Call(Some(status)) => {
            let _ = socket
                .send(encode::text(encode::error_frame(&status)))
                .await;
            encode::status_close(Some(&status))
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIME, socket.close(Some(frame))).await;
}

async fn run<S>(
    socket: &mut WebSocketStream<S>,
    connection: Connection,
    key: RequestKey,
    shape: CallShape,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let settings = connection.settings.clone();
    let telemetry = connection.pipeline.telemetry().clone();
    let counted = &telemetry.metrics.websocket;
    let (body, mut requests) = if shape.client_streams() {
        let (sender, receiver) = mpsc::channel(settings.max_queued_messages as usize);
        let stream: MessageStream = Box::pin(Frames(receiver));
        (RequestBody::Stream(stream), Some(sender))
    } else {
        match first_message(socket, settings.max_message_size).await {
            Ok(body) => {
                if matches!(body, RequestBody::Unary(_)) {
                    counted.messages_in.fetch_add(1, Ordering::Relaxed);
                }
                (body, None)
            }
            Err(end) => return end,
        }
    };
    let request = GatewayRequest {
        key,
        body,
        metadata: connection.metadata,
        timeout: None,
        caller: connection.caller,
    };
    // The pipeline admits the call through the policies, with the identity of the upgrade.
    let answer = connection.pipeline.handle(request);
    tokio::pin!(answer);
    let mut answers: Option<MessageStream> = None;
    let mut room: Option<mpsc::OwnedPermit<Payload>> = None;
    let shutdown = connection.shutdown.clone().fired();
    tokio::pin!(shutdown);
    let mut grace_until: Option<Instant> = None;
    let mut last_received = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let timer = tokio::time::sleep_until(last_received + settings.ping_interval);
    tokio::pin!(timer);
    loop {
        let reserve = async {
            match &requests {
                Some(sender) => sender.clone().reserve_owned().await.ok(),
                None => std::future::pending().await,
            }
        };
        let reading = room.is_some() || requests.is_none();
        tokio::select! {
            answered = &mut answer, if answers.is_none() => match answered {
                Err(status) => return End::Call(Some(status)),
                Ok(response) => match response.body {
                    ResponseBody::Unary { message, .. } => {
                        if socket.send(encode::text(encode::result_frame(&message))).await.is_err() {
                            return End::Gone;
                        }
                        counted.messages_out.fetch_add(1, Ordering::Relaxed);
                        return End::Call(None);
                    }
                    ResponseBody::Stream(stream) => answers = Some(stream),
                },
            },
            item = next(&mut answers), if answers.is_some() => match item {
                None => return End::Call(None),
                Some(Err(status)) => return End::Call(Some(status)),
                Some(Ok(message)) => {
                    if socket.send(encode::text(encode::result_frame(&message))).await.is_err() {
                        return End::Gone;
                    }
                    counted.messages_out.fetch_add(1, Ordering::Relaxed);
                }
            },
            permit = reserve, if requests.is_some() && room.is_none() => match permit {
                Some(permit) => room = Some(permit),
                // The call no longer reads its requests: it is ending.
                None => requests = None,
            },
            incoming = socket.next(), if reading => {
                last_received = Instant::now();
                ping_sent = None;
                match incoming {
                    None | Some(Ok(Message::Close(_))) => return End::Gone,
                    Some(Ok(Message::Text(text))) if text.is_empty() => {
                        // An empty frame ends the client stream.
                        room = None;
                        requests = None;
                    }
                    Some(Ok(Message::Text(text))) => match room.take() {
                        Some(permit) => {
                            counted.messages_in.fetch_add(1, Ordering::Relaxed);
                            permit.send(Payload::Json(Bytes::from(text)));
                        }
                        None => {
                            return End::Call(Some(Status::invalid_argument(
                                "the call takes no more messages (its client stream has ended)",
                            )))
                        }
                    },
                    Some(Ok(Message::Binary(_))) => return End::Close(Close::Binary),
                    Some(Ok(_)) => {}
                    Some(Err(tungstenite::Error::Capacity(_))) => {
                        return End::Close(Close::TooBig(settings.max_message_size))
                    }
                    Some(Err(_)) => return End::Gone,
                }
            }
            () = &mut timer => {
                let now = Instant::now();
                if grace_until.is_some_and(|grace| now >= grace) {
                    let status = Status::unavailable("the gateway is shutting down");
                    let _ = socket.send(encode::text(encode::error_frame(&status))).await;
                    return End::Close(Close::ShuttingDown);
                }
                match ping_sent {
                    Some(at) if now >= at + settings.ping_interval => return End::Gone,
                    Some(_) => {}
                    None if now >= last_received + settings.ping_interval => {
                        ping_sent = Some(now);
                        if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                            return End::Gone;
                        }
                    }
                    None => {}
                }
                let ping_due = ping_sent.unwrap_or(last_received) + settings.ping_interval;
                timer.as_mut().reset(grace_until.map_or(ping_due, |g| g.min(ping_due)));
            }
            () = &mut shutdown, if grace_until.is_none() => {
                let grace = Instant::now() + settings.shutdown_grace;
                grace_until = Some(grace);
                if grace < timer.deadline() {
                    timer.as_mut().reset(grace);
                }
            }
        }
    }
}

/// The one request message of a unary or server-streaming call: the first text frame (an
/// empty one is an empty message).
async fn first_message<S>(
    socket: &mut WebSocketStream<S>,
    max_message_size: usize,
) -> Result<RequestBody, End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match socket.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(End::Gone),
            Some(Ok(Message::Text(text))) if text.is_empty() => return Ok(RequestBody::Empty),
            Some(Ok(Message::Text(text))) => {
                return Ok(RequestBody::Unary(Payload::Json(Bytes::from(text))))
            }
            Some(Ok(Message::Binary(_))) => return Err(End::Close(Close::Binary)),
            Some(Ok(_)) => {}
            Some(Err(tungstenite::Error::Capacity(_))) => {
                return Err(End::Close(Close::TooBig(max_message_size)))
            }
            Some(Err(_)) => return Err(End::Gone),
        }
    }
}

async fn next(answers: &mut Option<MessageStream>) -> Option<Result<Payload, Status>> {
    match answers {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// The request messages of a streaming call, as the socket's frames bring them.
struct Frames(mpsc::Receiver<Payload>);

impl Stream for Frames {
    type Item = Result<Payload, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().0.poll_recv(cx).map(|item| item.map(Ok))
    }
}
