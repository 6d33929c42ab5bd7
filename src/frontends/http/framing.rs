//! Request smuggling shapes hyper serves but an edge must refuse (docs/security.md, "HTTP
//! hygiene"): an HTTP/1.1 request carrying both `Content-Length` and `Transfer-Encoding`
//! (hyper reads it as chunked and drops the length), and one carrying `Content-Length` twice
//! with the same value (hyper keeps one). hyper hands the service neither fact, so this tracker
//! follows the framing of the bytes the connection reads — each head, then its body by length
//! or by chunks — and queues one verdict per head; the service takes the verdict of its request
//! and answers 400 with `Connection: close`. Anything the tracker does not follow (HTTP/2, an
//! upgrade, a head it cannot parse) turns it off for the connection: it then refuses nothing.
//! Differing lengths, a non-chunked final coding and HTTP/1.0 with a coding are hyper's own
//! 400s.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::Mutex;

/// Why a request is refused.
pub(crate) type Verdict = Option<&'static str>;

const BOTH: &str = "a request may not carry both Content-Length and Transfer-Encoding";
const TWICE: &str = "a request may carry Content-Length once only";

/// The framing of one HTTP/1.1 connection's request bytes, and the verdicts on its heads.
#[derive(Debug)]
pub(crate) struct Framing {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    verdicts: VecDeque<Verdict>,
    head_limit: usize,
}

#[derive(Debug)]
enum State {
    /// Reading a head (the bytes so far).
    Head(Vec<u8>),
    /// A body of this many more bytes.
    Fixed(u64),
    /// A chunked body.
    Chunked(Chunk),
    /// Not followed.
    Off,
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    Size { value: u64, digits: u8 },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data(u64),
    DataCr,
    DataLf,
    Trailer { line_start: bool },
}

impl Framing {
    /// A tracker for a new connection whose heads are at most `head_limit` bytes.
    pub(crate) fn new(head_limit: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::Head(Vec::new()),
                verdicts: VecDeque::new(),
                head_limit,
            }),
        }
    }

    /// Bytes the connection read, in order.
    pub(crate) fn read(&self, bytes: &[u8]) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.read(bytes);
        }
    }

    /// The verdict on the next request's head: why it is refused, if it is.
    pub(crate) fn next_verdict(&self) -> Verdict {
        self.inner
            .lock()
            .ok()
            .and_then(|mut inner| inner.verdicts.pop_front())
            .flatten()
    }
}

/// How many requests a connection reading `reads` holds, and how many of them are refused:
/// the tracker's work for benches (`benches/hygiene.rs`), not an API.
#[doc(hidden)]
pub fn verdicts_for_benches(reads: &[&[u8]]) -> (usize, usize) {
    let framing = Framing::new(64 << 10);
    for read in reads {
        framing.read(read);
    }
    let inner = framing.inner.lock();
    inner.map_or((0, 0), |inner| {
        (
            inner.verdicts.len(),
            inner.verdicts.iter().filter(|v| v.is_some()).count(),
        )
    })
}

impl Inner {
    fn read(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Off => return,
                State::Head(head) if head.is_empty() => {
                    if bytes.starts_with(b"PRI * HTTP/2") {
                        self.state = State::Off;
                        return;
                    }
                    // The usual case: a whole head in one read, judged where it lies (no copy;
                    // an empty `Vec` owns no memory).
                    match judge(bytes, self.head_limit) {
                        Judged::More => {
                            head.extend_from_slice(bytes);
                            return;
                        }
                        Judged::Off => {
                            self.state = State::Off;
                            return;
                        }
                        Judged::Head {
                            length,
                            verdict,
                            next,
                        } => {
                            self.verdicts.push_back(verdict);
                            self.state = next;
                            bytes = &bytes[length..];
                        }
                    }
                }
                State::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(bytes);
                    match self.parse_head(before) {
                        Some(used) => bytes = &bytes[used..],
                        None => return,
                    }
                }
                State::Fixed(remaining) => {
                    let take = (*remaining).min(bytes.len() as u64);
                    *remaining -= take;
                    bytes = &bytes[take as usize..];
                    if *remaining == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::Chunked(chunk) => {
                    let (used, next) = step(*chunk, bytes);
                    bytes = &bytes[used..];
                    self.state = next;
                }
            }
        }
    }

    /// Parses the head collected so far (of which `before` bytes came from earlier reads);
    /// when it is whole, queues its verdict, moves on to its body and returns how many bytes
    /// of the latest read it took. `None`: more bytes are needed, or the tracker stopped.
    fn parse_head(&mut self, before: usize) -> Option<usize> {
        let State::Head(head) = &self.state else {
            return None;
        };
        match judge(head, self.head_limit) {
            Judged::More => None,
            Judged::Off => {
                self.state = State::Off;
                None
            }
            Judged::Head {
                length,
                verdict,
                next,
            } => {
                self.verdicts.push_back(verdict);
                self.state = next;
                Some(length.saturating_sub(before))
            }
        }
    }
}

/// What a head collected so far is.
enum Judged {
    /// Not whole yet.
    More,
    /// Not followed.
    Off,
    /// A whole head of `length` bytes, its verdict and the state for its body.
    Head {
        length: usize,
        verdict: Verdict,
        next: State,
    },
}

fn judge(head: &[u8], head_limit: usize) -> Judged {
    {
        // Uninitialized: zeroing 128 headers (4 KiB) for every request costs more than the
        // parse of a short head.
        let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
        let mut request = httparse::Request::new(&mut []);
        let length = match request.parse_with_uninit_headers(head, &mut headers) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if head.len() <= head_limit => return Judged::More,
            _ => return Judged::Off,
        };
        let named = |name: &'static str| {
            request
                .headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
        };
        let lengths: Vec<&[u8]> = named("content-length").map(|h| h.value).collect();
        let codings: Vec<&[u8]> = named("transfer-encoding").map(|h| h.value).collect();
        let upgrade = request.method == Some("CONNECT") || named("upgrade").next().is_some();
        let http10 = request.version == Some(0);
        let verdict = if !codings.is_empty() && !lengths.is_empty() {
            Some(BOTH)
        } else if lengths.len() > 1 {
            Some(TWICE)
        } else {
            None
        };
        let next = if verdict.is_some() || upgrade || (http10 && !codings.is_empty()) {
            // Refused, upgraded, or hyper's own 400: the connection ends after this request.
            State::Off
        } else if let Some(coding) = codings.last() {
            let chunked = std::str::from_utf8(coding)
                .ok()
                .and_then(|c| c.rsplit(',').next())
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if chunked {
                State::Chunked(Chunk::Size {
                    value: 0,
                    digits: 0,
                })
            } else {
                State::Off
            }
        } else if let Some(length) = lengths.first() {
            match std::str::from_utf8(length)
                .ok()
                .and_then(|l| l.trim().parse::<u64>().ok())
            {
                Some(0) => State::Head(Vec::new()),
                Some(length) => State::Fixed(length),
                None => State::Off,
            }
        } else {
            State::Head(Vec::new())
        };
        Judged::Head {
            length,
            verdict,
            next,
        }
    }
}

/// One step of a chunked body: bytes used and the state after them.
fn step(chunk: Chunk, bytes: &[u8]) -> (usize, State) {
    let byte = bytes[0];
    let next = match chunk {
        Chunk::Data(remaining) => {
            let take = remaining.min(bytes.len() as u64);
            let left = remaining - take;
            let next = if left == 0 {
                Chunk::DataCr
            } else {
                Chunk::Data(left)
            };
            return (take as usize, State::Chunked(next));
        }
        Chunk::Size { value, digits } => match (byte as char).to_digit(16) {
            Some(d) if digits < 16 => Chunk::Size {
                value: value << 4 | u64::from(d),
                digits: digits + 1,
            },
            None if digits > 0 && byte == b';' => Chunk::Extension { value },
            None if digits > 0 && byte == b'\r' => Chunk::SizeLf { value },
            None if digits > 0 && byte == b'\n' => return (1, size_line_done(value)),
            _ => return (1, State::Off),
        },
        Chunk::Extension { value } => match byte {
            b'\n' => return (1, size_line_done(value)),
            _ => Chunk::Extension { value },
        },
        Chunk::SizeLf { value } => match byte {
            b'\n' => return (1, size_line_done(value)),
            _ => return (1, State::Off),
        },
        Chunk::DataCr => match byte {
            b'\r' => Chunk::DataLf,
            b'\n' => Chunk::Size {
                value: 0,
                digits: 0,
            },
            _ => return (1, State::Off),
        },
        Chunk::DataLf => match byte {
            b'\n' => Chunk::Size {
                value: 0,
                digits: 0,
            },
            _ => return (1, State::Off),
        },
        Chunk::Trailer { line_start } => match byte {
            b'\r' => Chunk::Trailer { line_start },
            b'\n' if line_start => return (1, State::Head(Vec::new())),
            b'\n' => Chunk::Trailer { line_start: true },
            _ => Chunk::Trailer { line_start: false },
        },
    };
    (1, State::Chunked(next))
}

fn size_line_done(value: u64) -> State {
    State::Chunked(if value == 0 {
        Chunk::Trailer { line_start: true }
    } else {
        Chunk::Data(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(reads: &[&[u8]]) -> Vec<Verdict> {
        let framing = Framing::new(64 << 10);
        for read in reads {
            framing.read(read);
        }
        let inner = framing.inner.lock().unwrap();
        inner.verdicts.iter().copied().collect()
    }

    #[test]
    fn smuggling_shapes_are_found_and_honest_requests_pass() {
        assert_eq!(
            verdicts(&[b"POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"]),
            [Some(BOTH)]
        );
        assert_eq!(
            verdicts(&[b"POST /a HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc"]),
            [Some(TWICE)]
        );
        // Pipelined honest requests, split anywhere, chunked and sized.
        let honest: &[u8] = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\n\r\n";
        assert_eq!(verdicts(&[honest]), [None, None, None]);
        for split in 1..honest.len() {
            let (a, b) = honest.split_at(split);
            assert_eq!(verdicts(&[a, b]), [None, None, None], "split at {split}");
        }
        // A body that looks like a smuggled head is a body.
        assert_eq!(
            verdicts(&[b"POST /a HTTP/1.1\r\nContent-Length: 56\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nGET /d HTTP/1.1\r\n\r\n"]),
            [None, None]
        );
    }

    #[test]
    fn what_it_cannot_follow_turns_it_off() {
        assert!(verdicts(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]).is_empty());
        assert_eq!(
            verdicts(&[b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"]),
            [None]
        );
        assert!(verdicts(&[b"\x00garbage\r\n\r\n"]).is_empty());
    }
}
