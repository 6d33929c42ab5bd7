//! IO helpers shared by frontends and backends (a leaf: it depends on nothing in the crate).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An IO stream that shows every chunk it reads to an observer, and passes everything through.
pub struct Observed<I, F> {
    io: I,
    observe: F,
}

impl<I, F: FnMut(&[u8])> Observed<I, F> {
    /// Wraps `io`; `observe` sees each non-empty chunk as it is read.
    pub fn new(io: I, observe: F) -> Self {
        Self { io, observe }
    }
}

impl<I: AsyncRead + Unpin, F: FnMut(&[u8]) + Unpin> AsyncRead for Observed<I, F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let fresh = &buf.filled()[before..];
            if !fresh.is_empty() {
                (this.observe)(fresh);
            }
        }
        result
    }
}

impl<I: AsyncWrite + Unpin, F: Unpin> AsyncWrite for Observed<I, F> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
