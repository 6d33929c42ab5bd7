//! A real WebSocket client (tokio-tungstenite) for the WebSocket frontend's tests: the
//! `polygate.v1` envelope with messages sorted by call, and plain sockets for the direct
//! binding.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A socket, with the messages read but not yet asked for.
pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    unread: VecDeque<Value>,
}

/// How the server closed the socket.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

fn closed(frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> Closed {
    frame.map_or(
        Closed {
            code: 1005,
            reason: String::new(),
        },
        |f| Closed {
            code: f.code.into(),
            reason: f.reason.to_string(),
        },
    )
}

impl WsClient {
    /// Opens `ws://addr{path}` with `headers`; the handshake's HTTP error as `Err`.
    pub async fn open(
        addr: SocketAddr,
        path: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{addr}{path}").into_client_request()?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self {
            socket,
            unread: VecDeque::new(),
        })
    }

    /// The multiplexed endpoint, `init` sent and `init_ack` read.
    pub async fn envelope(addr: SocketAddr) -> Self {
        Self::envelope_with(addr, json!({"type": "init"})).await
    }

    /// The multiplexed endpoint, initialised with `init`.
    pub async fn envelope_with(addr: SocketAddr, init: Value) -> Self {
        let mut client = Self::open(addr, "/ws", &[("sec-websocket-protocol", "polygate.v1")])
            .await
            .expect("the endpoint upgrades");
        client.send(init).await;
        assert_eq!(client.next().await, json!({"type": "init_ack"}));
        client
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    /// Sends a text frame as it is.
    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("the socket takes the frame");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: &[u8]) {
        self.socket
            .send(Message::binary(data.to_vec()))
            .await
            .expect("the socket takes the frame");
    }

    /// Reads the next text frame as it is (the direct binding), or the close frame.
    pub async fn text(&mut self) -> Result<String, Closed> {
        self.read_text().await
    }

    async fn read_text(&mut self) -> Result<String, Closed> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
                Some(Ok(Message::Close(frame))) => return Err(closed(frame)),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the socket failed: {e}"),
                None => panic!("the socket ended without a close frame"),
            }
        }
    }

    async fn read(&mut self) -> Result<Value, Closed> {
        let text = self.read_text().await?;
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
    }

    /// The next message, whichever call it is for.
    pub async fn next(&mut self) -> Value {
        if let Some(message) = self.unread.pop_front() {
            return message;
        }
        match self.read().await {
            Ok(message) => message,
            Err(closed) => panic!("the socket closed: {closed:?}"),
        }
    }

    /// The next message of call `id`; others are kept for later.
    pub async fn next_for(&mut self, id: &str) -> Value {
        if let Some(at) = self.unread.iter().position(|m| m["id"] == id) {
            return self.unread.remove(at).unwrap();
        }
        loop {
            let message = match self.read().await {
                Ok(message) => message,
                Err(closed) => panic!("the socket closed waiting for call {id}: {closed:?}"),
            };
            if message["id"] == id {
                return message;
            }
            self.unread.push_back(message);
        }
    }

    /// The next message that has no call id (pong, errors about dropped messages).
    pub async fn next_without_id(&mut self) -> Value {
        if let Some(at) = self.unread.iter().position(|m| m.get("id").is_none()) {
            return self.unread.remove(at).unwrap();
        }
        loop {
            let message = match self.read().await {
                Ok(message) => message,
                Err(closed) => panic!("the socket closed: {closed:?}"),
            };
            if message.get("id").is_none() {
                return message;
            }
            self.unread.push_back(message);
        }
    }

    /// Every message of call `id` up to its last (`complete` or `error`), the last included.
    pub async fn until_end(&mut self, id: &str) -> Vec<Value> {
        let mut messages = Vec::new();
        loop {
            let message = self.next_for(id).await;
            let last = message["type"] == "complete" || message["type"] == "error";
            messages.push(message);
            if last {
                return messages;
            }
        }
    }

    /// The close frame, skipping any messages before it.
    pub async fn closed(&mut self) -> Closed {
        loop {
            if let Err(closed) = self.read().await {
                return closed;
            }
        }
    }

    /// Messages that arrived before the close frame, and the close frame.
    pub async fn rest(&mut self) -> (Vec<Value>, Closed) {
        let mut messages: Vec<Value> = self.unread.drain(..).collect();
        loop {
            match self.read().await {
                Ok(message) => messages.push(message),
                Err(closed) => return (messages, closed),
            }
        }
    }

    /// Sends a ping message and waits for its pong: every frame the server wrote before has
    /// been read by then.
    pub async fn round_trip(&mut self, payload: u64) {
        self.send(json!({"type": "ping", "payload": payload})).await;
        assert_eq!(
            self.next_without_id().await,
            json!({"type": "pong", "payload": payload})
        );
    }

    /// The messages read but not asked for yet.
    pub fn unread(&self) -> &VecDeque<Value> {
        &self.unread
    }
}
