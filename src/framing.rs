//! Length-prefixed frames on a byte stream (a 4-byte big-endian length, then the message),
//! as QUIC and WebTransport carry them; the transports differ only in how a stream is
//! finished and a connection closed, which [`StreamEnd`] says.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use plaza_net::ErrorCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::bridge::{Frame, Refusal};
use crate::conn::CloseReason;
use crate::session::{FrameSink, FrameSource, Incoming};

/// Frames up to this many times the frame limit are read and refused with `too_large`; a
/// longer length prefix ends the connection (the stream cannot be resynchronised cheaply).
const HARD_FRAME_FACTOR: usize = 4;

/// How a transport ends its sending stream `W` and its connection.
pub trait StreamEnd<W>: Send + 'static {
    /// Finishes `send` and waits until the peer has what was sent.
    fn finish(&self, send: &mut W) -> impl Future<Output = ()> + Send;
    /// Closes the connection with an application code and reason.
    fn close_connection(&self, code: u32, reason: &[u8]);
}

/// Reads frames from a stream.
pub struct FramedSource<R> {
    recv: R,
    max: usize,
    /// Set after a frame too long to skip: the stream is out of step and must end.
    broken: bool,
}

impl<R> FramedSource<R> {
    /// Frames of at most `max` bytes from `recv`.
    pub fn new(recv: R, max: usize) -> Self {
        Self {
            recv,
            max,
            broken: false,
        }
    }
}

impl<R: AsyncRead + Unpin + Send> FrameSource for FramedSource<R> {
    async fn next(&mut self) -> Incoming {
        if self.broken {
            return Incoming::End;
        }
        let mut prefix = [0_u8; 4];
        if self.recv.read_exact(&mut prefix).await.is_err() {
            return Incoming::End;
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len > self.max {
            let message = format!("frame of {len} bytes is over the limit of {}", self.max);
            let refusal = Refusal {
                code: ErrorCode::TooLarge,
                message,
            };
            if len > self.max * HARD_FRAME_FACTOR {
                self.broken = true;
            } else if skip(&mut self.recv, len).await.is_err() {
                return Incoming::End;
            }
            return Incoming::Refused(refusal);
        }
        let mut payload = vec![0; len];
        match self.recv.read_exact(&mut payload).await {
            Ok(_) => Incoming::Data(Bytes::from(payload)),
            // A truncated frame: the client finished or reset its stream mid-frame.
            Err(_) => Incoming::End,
        }
    }
}

async fn skip<R: AsyncRead + Unpin>(recv: &mut R, len: usize) -> std::io::Result<()> {
    let copied = tokio::io::copy(&mut recv.take(len as u64), &mut tokio::io::sink()).await?;
    if copied == len as u64 {
        Ok(())
    } else {
        Err(std::io::ErrorKind::UnexpectedEof.into())
    }
}

/// Writes frames to a stream and closes through its transport.
pub struct FramedSink<W, E> {
    send: W,
    end: E,
}

impl<W, E> FramedSink<W, E> {
    /// Frames onto `send`; `end` finishes and closes.
    pub fn new(send: W, end: E) -> Self {
        Self { send, end }
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static, E: StreamEnd<W>> FrameSink for FramedSink<W, E> {
    async fn send(&mut self, frame: Frame) -> Result<(), ()> {
        let prefix = (frame.bytes.len() as u32).to_be_bytes();
        self.send.write_all(&prefix).await.map_err(|_| ())?;
        self.send.write_all(&frame.bytes).await.map_err(|_| ())
    }

    async fn close(&mut self, reason: &CloseReason) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.end.finish(&mut self.send)).await;
        let text: String = reason.text.chars().take(120).collect();
        self.end
            .close_connection(u32::from(reason.code), text.as_bytes());
    }
}
