//! Length-prefixed frames on a byte stream, as QUIC and WebTransport carry Plaza's messages:
//! a 4-byte big-endian length, then the message. Written once, for the server reading its
//! clients and for clients reading the server, each with a size cap.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes of the length prefix.
pub const PREFIX_BYTES: usize = 4;

/// Largest frame a client reads from a server by default: 16 MiB. The biggest message a
/// server sends is a `joined` of `load_slice_objects` (1000) objects, each with props of up
/// to `max_props_bytes` (8 KiB): about 8.5 MB of JSON.
pub const MAX_SERVER_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// What reading one frame gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRead {
    /// A whole frame's payload.
    Frame(Bytes),
    /// A frame over the limit but not over the hard limit: it was read past and dropped, so
    /// the stream is still in step.
    Skipped {
        /// Its length.
        len: usize,
    },
    /// A length prefix over the hard limit: the frame is not read, and the stream cannot be
    /// followed any further.
    Oversized {
        /// The length it claimed.
        len: usize,
    },
    /// The peer finished its stream cleanly, between frames.
    Finished,
    /// The stream ended in the middle of a frame, or failed.
    End,
}

/// Reads one frame of at most `max` bytes from `recv`. Frames of up to `hard` bytes are
/// skipped ([`FrameRead::Skipped`]); a longer length prefix is [`FrameRead::Oversized`] and
/// nothing of it is read (skipping would cost more than it is worth). With `max == hard`
/// every frame over the cap is oversized.
pub async fn read_frame<R: AsyncRead + Unpin>(recv: &mut R, max: usize, hard: usize) -> FrameRead {
    let mut prefix = [0_u8; PREFIX_BYTES];
    // The first byte alone, to tell a clean finish (no byte at all) from a failure.
    match recv.read(&mut prefix[..1]).await {
        Ok(0) => return FrameRead::Finished,
        Ok(_) => {}
        Err(_) => return FrameRead::End,
    }
    if recv.read_exact(&mut prefix[1..]).await.is_err() {
        return FrameRead::End;
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > hard.max(max) {
        return FrameRead::Oversized { len };
    }
    if len > max {
        return match skip(recv, len).await {
            Ok(()) => FrameRead::Skipped { len },
            Err(_) => FrameRead::End,
        };
    }
    let mut payload = vec![0; len];
    match recv.read_exact(&mut payload).await {
        Ok(_) => FrameRead::Frame(Bytes::from(payload)),
        // A truncated frame: the peer finished or reset its stream mid-frame.
        Err(_) => FrameRead::End,
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

/// The length prefix of a frame holding `payload_len` bytes.
///
/// Payloads are bounded far below 4 GiB by every reader's cap, so the length always fits.
pub fn prefix(payload_len: usize) -> [u8; PREFIX_BYTES] {
    u32::try_from(payload_len).unwrap_or(u32::MAX).to_be_bytes()
}

/// Writes `payload` as one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    send: &mut W,
    payload: &[u8],
) -> std::io::Result<()> {
    send.write_all(&prefix(payload.len())).await?;
    send.write_all(payload).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let mut stream = Vec::new();
        write_frame(&mut stream, b"hello").await.expect("written");
        write_frame(&mut stream, &[7; 20]).await.expect("written");
        write_frame(&mut stream, b"after").await.expect("written");
        stream.extend_from_slice(&prefix(1000));
        let mut reader = stream.as_slice();
        let expected = [
            FrameRead::Frame(Bytes::from_static(b"hello")),
            FrameRead::Skipped { len: 20 },
            FrameRead::Frame(Bytes::from_static(b"after")),
            FrameRead::Oversized { len: 1000 },
        ];
        for want in expected {
            assert_eq!(read_frame(&mut reader, 10, 100).await, want);
        }
        assert_eq!(read_frame(&mut reader, 10, 100).await, FrameRead::Finished);
    }

    #[tokio::test]
    async fn a_truncated_frame_is_the_end() {
        let mut stream = prefix(8).to_vec();
        stream.extend_from_slice(b"abc");
        assert_eq!(
            read_frame(&mut stream.as_slice(), 64, 64).await,
            FrameRead::End
        );
    }
}
