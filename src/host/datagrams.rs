//! The datagram post: the tick thread collects each tick's motion datagrams in one batch
//! and hands it to a task on the runtime, which gives them to the transports. Handing a
//! datagram to quinn takes the connection's lock and wakes its driver; done for a
//! thousand connections a tick, that was a fifth of the tick thread's CPU, and it now runs
//! beside the next tick instead of inside this one.
//!
//! Whether a motion goes as datagrams is decided on the tick thread from each
//! connection's last known datagram limit ([`DatagramSink::limit`]), so the tick never
//! waits for a transport. A datagram the transport refuses after all (its limit shrank,
//! the connection ended) is lost, as any datagram may be, and the settle rule re-sends
//! what stopped moving reliably.
//!
//! Bounded: at most [`BATCHES_WAITING`] ticks' batches wait; a tick whose batch finds the
//! queue full drops it (its poses are superseded by the next tick's) and counts it in
//! `datagram_batches_dropped`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use plaza_systems::Transport;
use tokio::sync::mpsc;

use crate::edge::conn::DatagramSink;
use crate::telemetry::{Telemetry, TickStats};

/// Ticks' batches that may wait for the post task (a fifth of a second at 20 Hz).
pub(crate) const BATCHES_WAITING: usize = 4;

/// One datagram for one connection.
struct Letter {
    sink: Arc<dyn DatagramSink>,
    payload: Bytes,
    transport: Transport,
}

/// The tick thread's end: collects a tick's datagrams, then posts them at once.
pub(crate) struct DatagramPost {
    batch: Vec<Letter>,
    tx: mpsc::Sender<Vec<Letter>>,
    /// Emptied batches coming back, so a tick reuses an allocation instead of making one.
    spare: crossbeam_channel::Receiver<Vec<Letter>>,
}

impl DatagramPost {
    /// The post and the task that delivers its batches (spawn it on the runtime; it ends
    /// when the post is dropped).
    pub(crate) fn new(
        telemetry: Arc<Telemetry>,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::channel(BATCHES_WAITING);
        let (return_tx, spare) = crossbeam_channel::bounded(BATCHES_WAITING + 1);
        let post = Self {
            batch: Vec::new(),
            tx,
            spare,
        };
        (post, deliver_batches(rx, return_tx, telemetry))
    }

    /// Adds a datagram to this tick's batch.
    pub(crate) fn push(
        &mut self,
        sink: &Arc<dyn DatagramSink>,
        payload: Bytes,
        transport: Transport,
    ) {
        self.batch.push(Letter {
            sink: Arc::clone(sink),
            payload,
            transport,
        });
    }

    /// Posts this tick's batch, if it has anything; a full queue drops it (counted).
    pub(crate) fn flush(&mut self, stats: &TickStats) {
        if self.batch.is_empty() {
            return;
        }
        let next = self.spare.try_recv().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, next);
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(batch) {
            stats
                .datagram_batches_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Gives every batch's datagrams to their transports, counting what they took.
async fn deliver_batches(
    mut rx: mpsc::Receiver<Vec<Letter>>,
    spare: crossbeam_channel::Sender<Vec<Letter>>,
    telemetry: Arc<Telemetry>,
) {
    while let Some(mut batch) = rx.recv().await {
        for letter in batch.drain(..) {
            let len = letter.payload.len() as u64;
            if letter.sink.send(letter.payload) {
                let counters = telemetry.transport(letter.transport);
                counters.messages_out.fetch_add(1, Ordering::Relaxed);
                counters.bytes_out.fetch_add(len, Ordering::Relaxed);
            }
        }
        // Full means the tick thread has spares enough; this one is dropped.
        let _ = spare.try_send(batch);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<Bytes>>);

    impl DatagramSink for Recorder {
        fn send(&self, payload: Bytes) -> bool {
            self.0
                .lock()
                .expect("no test thread panics holding it")
                .push(payload);
            true
        }

        fn limit(&self) -> usize {
            1200
        }
    }

    #[tokio::test]
    async fn batches_arrive_in_order_and_a_full_queue_drops_whole_ticks() {
        let telemetry = Arc::new(Telemetry::default());
        let stats = TickStats::default();
        let (mut post, task) = DatagramPost::new(telemetry.clone());
        let recorder = Arc::new(Recorder::default());
        let sink: Arc<dyn DatagramSink> = recorder.clone();
        // The task is not running yet: BATCHES_WAITING ticks fit, the ones after are dropped.
        for tick in 0..BATCHES_WAITING + 2 {
            post.push(&sink, Bytes::from(vec![tick as u8; 3]), Transport::Quic);
            post.push(&sink, Bytes::from(vec![tick as u8; 2]), Transport::Quic);
            post.flush(&stats);
        }
        post.flush(&stats); // nothing pushed: nothing posted, nothing dropped
        assert_eq!(stats.datagram_batches_dropped.load(Ordering::Relaxed), 2);
        drop(post);
        task.await;
        let got = recorder
            .0
            .lock()
            .expect("no test thread panics holding it")
            .clone();
        let expected: Vec<Bytes> = (0..BATCHES_WAITING)
            .flat_map(|t| [Bytes::from(vec![t as u8; 3]), Bytes::from(vec![t as u8; 2])])
            .collect();
        assert_eq!(got, expected);
        let counters = telemetry.transport(Transport::Quic);
        assert_eq!(
            counters.messages_out.load(Ordering::Relaxed),
            2 * BATCHES_WAITING as u64
        );
        assert_eq!(
            counters.bytes_out.load(Ordering::Relaxed),
            5 * BATCHES_WAITING as u64
        );
    }
}
