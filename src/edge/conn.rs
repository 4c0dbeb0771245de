//! What the tick thread holds for each connection: its codec, its bounded outbound queue
//! and a signal to close it with a reason. Transports own the other end.

use std::sync::{Arc, Mutex};

use plaza_systems::{ConnId, Input, Transport};
use tokio::sync::{Notify, mpsc};

use crate::edge::bridge::Frame;

/// Why a connection is being closed, as sent in the transport's close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code: 1001 going away, 1008 policy violation, 1009 message too big,
    /// 1011 server error.
    pub code: u16,
    /// Human-readable reason (cut to 120 bytes on the wire).
    pub text: String,
}

impl CloseReason {
    /// The client broke a rule (abuse, too slow, replaced).
    pub fn policy(text: impl Into<String>) -> Self {
        Self {
            code: 1008,
            text: text.into(),
        }
    }

    /// The server is shutting down.
    pub fn going_away(text: impl Into<String>) -> Self {
        Self {
            code: 1001,
            text: text.into(),
        }
    }

    /// WebSocket close code for a message over the size limit.
    pub const TOO_BIG: u16 = 1009;

    /// The client sent a frame over the hard size limit, which is not read.
    pub fn too_big(text: impl Into<String>) -> Self {
        Self {
            code: Self::TOO_BIG,
            text: text.into(),
        }
    }
}

/// A one-shot, many-sender signal that a connection must close; the first reason wins.
/// It also carries whether the connection was sent to another node (`moved`).
#[derive(Debug, Clone, Default)]
pub struct CloseSignal {
    inner: Arc<(Mutex<Option<CloseReason>>, Notify)>,
    sent_elsewhere: Arc<std::sync::atomic::AtomicBool>,
}

impl CloseSignal {
    /// The connection was told to go to another node: however it closes now, its session
    /// is held for that node to take over.
    pub fn send_elsewhere(&self) {
        self.sent_elsewhere
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the connection was told to go to another node.
    pub fn was_sent_elsewhere(&self) -> bool {
        self.sent_elsewhere
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks the connection to close. Later calls keep the first reason.
    pub fn close(&self, reason: CloseReason) {
        let mut slot = self.inner.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
            self.inner.1.notify_waiters();
        }
    }

    /// The reason, once someone asked to close.
    pub fn reason(&self) -> Option<CloseReason> {
        self.inner
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until someone asks to close; any number of tasks may wait.
    pub async fn closed(&self) -> CloseReason {
        loop {
            // Registered before the check, so a close between check and await still wakes us.
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = self.reason() {
                return reason;
            }
            notified.await;
        }
    }
}

/// Unreliable, unordered messages to one connection (QUIC and WebTransport datagrams).
/// Sending never waits: the transport queues the datagram or drops its oldest.
pub trait DatagramSink: Send + Sync + std::fmt::Debug {
    /// Queues a datagram; false if it could not be sent (no datagrams, or too large).
    /// Called by the datagram post, off the tick thread.
    fn send(&self, payload: bytes::Bytes) -> bool;
    /// The largest datagram the peer took when last asked, 0 if it takes none: a cheap
    /// read for the tick thread, which decides from it what goes as datagrams.
    fn limit(&self) -> usize;
}

/// The tick thread's handle on one connection.
#[derive(Debug)]
pub struct ConnHandle {
    /// How to encode for it.
    pub dialect: crate::edge::bridge::Dialect,
    /// Its outbound queue; when full, the connection is closed as too slow.
    pub tx: mpsc::Sender<Frame>,
    /// Closes it.
    pub close: CloseSignal,
    /// Its datagrams, on transports that have them.
    pub datagrams: Option<Arc<dyn DatagramSink>>,
    /// Its transport, for the traffic counters.
    pub transport: Transport,
}

/// What transports send to the tick thread.
#[derive(Debug)]
pub enum Envelope {
    /// A connection said hello: remember its handle, then apply `input` (a `Connect`).
    Register {
        /// The connection.
        conn: ConnId,
        /// Its handle.
        handle: ConnHandle,
        /// The `Connect` input.
        input: Input,
    },
    /// Any other input.
    Input(Input),
}
