//! The state of one multiplexed connection, kept apart from IO: the lifecycle (`init` first,
//! once), the calls under way by client id, each call's send credit, the call limit and
//! draining. The connection driver asks it before acting and tells it what was written.

use std::collections::HashMap;

use crate::model::{Code, ErrorSource, Status};

/// A call's number on its connection: ids are reused by clients, numbers never, so messages of
/// a call that has ended can be recognised and dropped.
pub(crate) type CallSeq = u64;

/// Where the connection is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Connected; only `init` is accepted.
    AwaitingInit,
    /// `init_ack` sent; calls are accepted.
    Ready,
    /// Shutting down: calls under way go on, new ones are refused.
    Draining,
}

#[derive(Debug)]
struct CallEntry {
    seq: CallSeq,
    /// The call takes a stream of client messages.
    streams_requests: bool,
    half_closed: bool,
    /// Client messages the client may still send.
    send_credit: u64,
}

/// Why a client message is refused. Each refusal has one [`Status`]; those that
/// [end a call](Refusal::ends_call) answer with that call's `error`, the others with an
/// `error` without id, and the call they name (if any) goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `call` with the id of a call under way.
    Duplicate(String),
    /// A message for an id with no call under way (never started, ended or cancelled).
    NoSuchCall(String),
    /// `send` or `half_close` for a call that takes one message.
    NotStreaming(String),
    /// `send` or `half_close` after `half_close`.
    HalfClosed(String),
    /// `send` beyond the call's credit: the call ends.
    NoCredit {
        /// The call's id.
        id: String,
        /// The call's number.
        seq: CallSeq,
    },
    /// `call` while the connection has its maximum of calls under way.
    TooManyCalls(usize),
    /// `call` while the gateway shuts down.
    ShuttingDown,
}

impl Refusal {
    /// The status the client is told.
    pub(crate) fn status(&self) -> Status {
        let client = |code, message: String| Status::new(code, message, ErrorSource::Client);
        match self {
            Refusal::Duplicate(id) => client(
                Code::AlreadyExists,
                format!("call '{id}' is already under way; an id can be reused once its call has ended"),
            ),
            Refusal::NoSuchCall(id) => client(
                Code::NotFound,
                format!("no call '{id}' is under way (it has ended, was cancelled or never started)"),
            ),
            Refusal::NotStreaming(id) => client(
                Code::FailedPrecondition,
                format!("call '{id}' takes one request message, given with its call message; it takes no send or half_close"),
            ),
            Refusal::HalfClosed(id) => client(
                Code::FailedPrecondition,
                format!("call '{id}' was half-closed; it takes no more messages"),
            ),
            Refusal::NoCredit { id, .. } => client(
                Code::ResourceExhausted,
                format!("call '{id}' sent a message beyond its credit; wait for a request message before sending more"),
            ),
            Refusal::TooManyCalls(max) => client(
                Code::ResourceExhausted,
                format!("this connection already has {max} calls under way, its limit"),
            ),
            Refusal::ShuttingDown => Status::unavailable("the gateway is shutting down"),
        }
    }

    /// Whether the refusal ends a call (its own or the one it would have started).
    pub(crate) fn ends_call(&self) -> bool {
        matches!(
            self,
            Refusal::NoCredit { .. } | Refusal::TooManyCalls(_) | Refusal::ShuttingDown
        )
    }
}

/// Why the connection is closed. Each reason has one close code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Close {
    /// A message other than `init` came first (graphql-ws: 4401 Unauthorized).
    NotInitialized,
    /// A second `init` (graphql-ws: 4429 Too many initialisation requests).
    SecondInit,
    /// No `init` within the init timeout (graphql-ws: 4408).
    InitTimeout,
    /// A binary frame: `polygate.v1` is text (1003 Unsupported Data).
    Binary,
    /// The client did not offer the `polygate.v1` subprotocol (graphql-ws: 4406).
    Subprotocol,
    /// A message that cannot be read before `init`, or an `init` that cannot (graphql-ws:
    /// 4400 bad request).
    BadMessage(String),
    /// A message or frame over the size limit (1009 Message Too Big).
    TooBig(usize),
    /// No call and no message for the idle timeout (1001 Going Away).
    Idle,
    /// The gateway shuts down (1001 Going Away).
    ShuttingDown,
    /// The gateway failed (1011 Internal Error).
    Internal(String),
}

impl Close {
    /// The close code.
    pub(crate) fn code(&self) -> u16 {
        match self {
            Close::NotInitialized => 4401,
            Close::SecondInit => 4429,
            Close::InitTimeout => 4408,
            Close::Binary => 1003,
            Close::Subprotocol => 4406,
            Close::BadMessage(_) => 4400,
            Close::TooBig(_) => 1009,
            Close::Idle | Close::ShuttingDown => 1001,
            Close::Internal(_) => 1011,
        }
    }

    /// The reason sent with the code.
    pub(crate) fn reason(&self) -> String {
        match self {
            Close::NotInitialized => "Unauthorized: send init first".into(),
            Close::SecondInit => "Too many initialisation requests".into(),
            Close::InitTimeout => "Connection initialisation timeout".into(),
            Close::Binary => "polygate.v1 takes text frames only".into(),
            Close::Subprotocol => "Subprotocol not acceptable: offer polygate.v1".into(),
            Close::BadMessage(message) => message.clone(),
            Close::TooBig(limit) => format!("message larger than {limit} bytes"),
            Close::Idle => "idle".into(),
            Close::ShuttingDown => "the gateway is shutting down".into(),
            Close::Internal(message) => message.clone(),
        }
    }
}

/// The state of one connection.
#[derive(Debug)]
pub(crate) struct Session {
    phase: Phase,
    calls: HashMap<Box<str>, CallEntry>,
    ids: HashMap<CallSeq, Box<str>>,
    next_seq: CallSeq,
    max_calls: usize,
    send_credit: u64,
}

impl Session {
    /// A connection that may have `max_calls` calls at once, each starting with `send_credit`.
    pub(crate) fn new(max_calls: usize, send_credit: u32) -> Self {
        Self {
            phase: Phase::AwaitingInit,
            calls: HashMap::new(),
            ids: HashMap::new(),
            next_seq: 1,
            max_calls,
            send_credit: u64::from(send_credit),
        }
    }

    /// `init`: accepted once, first.
    pub(crate) fn init(&mut self) -> Result<(), Close> {
        match self.phase {
            Phase::AwaitingInit => {
                self.phase = Phase::Ready;
                Ok(())
            }
            Phase::Ready | Phase::Draining => Err(Close::SecondInit),
        }
    }

    /// Any other message: only after `init`.
    pub(crate) fn ready(&self) -> Result<(), Close> {
        match self.phase {
            Phase::AwaitingInit => Err(Close::NotInitialized),
            Phase::Ready | Phase::Draining => Ok(()),
        }
    }

    /// Whether `init` has been accepted.
    pub(crate) fn initialized(&self) -> bool {
        self.phase != Phase::AwaitingInit
    }

    /// Checks that a `call` with `id` may start, before it is routed.
    pub(crate) fn admit(&self, id: &str) -> Result<(), Refusal> {
        if self.calls.contains_key(id) {
            return Err(Refusal::Duplicate(id.to_owned()));
        }
        if self.phase == Phase::Draining {
            return Err(Refusal::ShuttingDown);
        }
        if self.calls.len() >= self.max_calls {
            return Err(Refusal::TooManyCalls(self.max_calls));
        }
        Ok(())
    }

    /// Starts the call `id` (after [`Session::admit`]); `streams_requests` when it takes
    /// `send` messages.
    pub(crate) fn open(&mut self, id: &str, streams_requests: bool) -> Result<CallSeq, Refusal> {
        self.admit(id)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.calls.insert(
            Box::from(id),
            CallEntry {
                seq,
                streams_requests,
                half_closed: !streams_requests,
                send_credit: self.send_credit,
            },
        );
        self.ids.insert(seq, Box::from(id));
        Ok(seq)
    }

    fn streaming_call(&mut self, id: &str) -> Result<&mut CallEntry, Refusal> {
        let entry = self
            .calls
            .get_mut(id)
            .ok_or_else(|| Refusal::NoSuchCall(id.to_owned()))?;
        if !entry.streams_requests {
            return Err(Refusal::NotStreaming(id.to_owned()));
        }
        if entry.half_closed {
            return Err(Refusal::HalfClosed(id.to_owned()));
        }
        Ok(entry)
    }

    /// `send`: takes one credit. Without credit the call ends.
    pub(crate) fn send(&mut self, id: &str) -> Result<CallSeq, Refusal> {
        let entry = self.streaming_call(id)?;
        if entry.send_credit == 0 {
            let seq = entry.seq;
            self.end(seq);
            return Err(Refusal::NoCredit {
                id: id.to_owned(),
                seq,
            });
        }
        entry.send_credit -= 1;
        Ok(entry.seq)
    }

    /// `half_close`.
    pub(crate) fn half_close(&mut self, id: &str) -> Result<CallSeq, Refusal> {
        let entry = self.streaming_call(id)?;
        entry.half_closed = true;
        Ok(entry.seq)
    }

    /// `cancel`: the call ends now; nothing more is sent for it.
    pub(crate) fn cancel(&mut self, id: &str) -> Result<CallSeq, Refusal> {
        let seq = self.seq_of(id)?;
        self.end(seq);
        Ok(seq)
    }

    /// The call under way with `id` (for `request`).
    pub(crate) fn seq_of(&self, id: &str) -> Result<CallSeq, Refusal> {
        self.calls
            .get(id)
            .map(|entry| entry.seq)
            .ok_or_else(|| Refusal::NoSuchCall(id.to_owned()))
    }

    /// A `request` message granting `n` sends was written to the client.
    pub(crate) fn granted(&mut self, seq: CallSeq, n: u64) {
        if let Some(entry) = self.ids.get(&seq).and_then(|id| self.calls.get_mut(id)) {
            entry.send_credit = entry.send_credit.saturating_add(n);
        }
    }

    /// Whether messages of call `seq` are still to be written.
    pub(crate) fn is_current(&self, seq: CallSeq) -> bool {
        self.ids.contains_key(&seq)
    }

    /// The call's terminal message was written, or it was cancelled: its id is free.
    pub(crate) fn end(&mut self, seq: CallSeq) {
        if let Some(id) = self.ids.remove(&seq) {
            self.calls.remove(&id);
        }
    }

    /// Refuses new calls from now on.
    pub(crate) fn drain(&mut self) {
        if self.phase == Phase::Ready {
            self.phase = Phase::Draining;
        }
    }

    /// How many calls are under way.
    pub(crate) fn calls(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(max_calls: usize, credit: u32) -> Session {
        let mut session = Session::new(max_calls, credit);
        session.init().unwrap();
        session
    }

    #[test]
    fn init_comes_first_and_once() {
        let mut session = Session::new(10, 4);
        assert_eq!(session.ready(), Err(Close::NotInitialized));
        assert!(!session.initialized());
        session.init().unwrap();
        assert_eq!(session.ready(), Ok(()));
        assert_eq!(session.init(), Err(Close::SecondInit));
        assert_eq!(Close::NotInitialized.code(), 4401);
        assert_eq!(Close::SecondInit.code(), 4429);
    }

    #[test]
    fn ids_are_unique_among_calls_under_way_and_reusable_after() {
        let mut session = ready(10, 4);
        let first = session.open("a", true).unwrap();
        assert_eq!(
            session.open("a", false),
            Err(Refusal::Duplicate("a".into()))
        );
        assert!(!Refusal::Duplicate("a".into()).ends_call());
        assert!(session.is_current(first));
        session.end(first);
        assert!(!session.is_current(first));
        let second = session.open("a", false).unwrap();
        assert_ne!(first, second);
        assert_eq!(session.calls(), 1);
    }

    #[test]
    fn messages_for_ended_or_unknown_calls_are_refused_without_ending_others() {
        let mut session = ready(10, 4);
        let a = session.open("a", true).unwrap();
        let b = session.open("b", true).unwrap();
        session.cancel("a").unwrap();
        assert_eq!(session.send("a"), Err(Refusal::NoSuchCall("a".into())));
        assert_eq!(session.cancel("a"), Err(Refusal::NoSuchCall("a".into())));
        assert_eq!(session.seq_of("zz"), Err(Refusal::NoSuchCall("zz".into())));
        assert!(!session.is_current(a));
        assert_eq!(session.send("b"), Ok(b));
        assert_eq!(
            Refusal::NoSuchCall("a".into()).status().code(),
            Code::NotFound
        );
    }

    #[test]
    fn unary_calls_take_no_stream_messages() {
        let mut session = ready(10, 4);
        session.open("u", false).unwrap();
        assert_eq!(session.send("u"), Err(Refusal::NotStreaming("u".into())));
        assert_eq!(
            session.half_close("u"),
            Err(Refusal::NotStreaming("u".into()))
        );
        let s = session.open("s", true).unwrap();
        assert_eq!(session.half_close("s"), Ok(s));
        assert_eq!(session.send("s"), Err(Refusal::HalfClosed("s".into())));
    }

    #[test]
    fn send_credit_is_spent_and_granted_and_overrunning_it_ends_the_call() {
        let mut session = ready(10, 2);
        let seq = session.open("c", true).unwrap();
        assert_eq!(session.send("c"), Ok(seq));
        assert_eq!(session.send("c"), Ok(seq));
        session.granted(seq, 1);
        assert_eq!(session.send("c"), Ok(seq));
        let refusal = session.send("c").unwrap_err();
        assert_eq!(
            refusal,
            Refusal::NoCredit {
                id: "c".into(),
                seq
            }
        );
        assert!(refusal.ends_call());
        assert_eq!(refusal.status().code(), Code::ResourceExhausted);
        assert!(!session.is_current(seq));
    }

    #[test]
    fn the_call_limit_refuses_per_call() {
        let mut session = ready(2, 4);
        let a = session.open("a", false).unwrap();
        session.open("b", false).unwrap();
        let refusal = session.open("c", false).unwrap_err();
        assert_eq!(refusal, Refusal::TooManyCalls(2));
        assert!(refusal.ends_call());
        assert_eq!(
            refusal.status().message(),
            "this connection already has 2 calls under way, its limit"
        );
        session.end(a);
        session.open("c", false).unwrap();
    }

    #[test]
    fn draining_refuses_new_calls_and_keeps_those_under_way() {
        let mut session = ready(10, 4);
        let a = session.open("a", true).unwrap();
        session.drain();
        assert_eq!(session.admit("b"), Err(Refusal::ShuttingDown));
        assert_eq!(Refusal::ShuttingDown.status().code(), Code::Unavailable);
        assert_eq!(session.send("a"), Ok(a));
        assert_eq!(session.init(), Err(Close::SecondInit));
    }

    #[test]
    fn every_close_has_its_code() {
        let table = [
            (Close::NotInitialized, 4401),
            (Close::SecondInit, 4429),
            (Close::InitTimeout, 4408),
            (Close::Binary, 1003),
            (Close::Subprotocol, 4406),
            (Close::BadMessage("x".into()), 4400),
            (Close::TooBig(10), 1009),
            (Close::Idle, 1001),
            (Close::ShuttingDown, 1001),
            (Close::Internal("x".into()), 1011),
        ];
        for (close, code) in table {
            assert_eq!(close.code(), code, "{close:?}");
        }
        assert_eq!(Close::TooBig(10).reason(), "message larger than 10 bytes");
    }
}
