//! Gates around work whose memory grows with the number of requests doing it at once
//! (password hashing: ~19 MiB each; uploads: a body of up to `max_model_bytes` each, and
//! its parse): at most a few run together, the next ones wait briefly and are then refused
//! (HTTP 503), so abuse costs time, never unbounded memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Every place was taken for longer than the gate's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy with other {0}; retry in a moment")]
pub(crate) struct Busy(pub &'static str);

/// A bounded number of places for one kind of work.
#[derive(Debug)]
pub struct Gate {
    what: &'static str,
    places: Arc<Semaphore>,
    size: usize,
    wait: Duration,
    peak: AtomicUsize,
    refused: AtomicU64,
}

/// A place in a gate, held until dropped.
#[derive(Debug)]
pub(crate) struct Place {
    _permit: OwnedSemaphorePermit,
}

impl Gate {
    /// `size` places for `what` (plural, for messages); a request waits at most `wait`.
    pub fn new(what: &'static str, size: usize, wait: Duration) -> Self {
        Self {
            what,
            places: Arc::new(Semaphore::new(size)),
            size,
            wait,
            peak: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Waits (at most the gate's wait) for a place.
    pub(crate) async fn enter(&self) -> Result<Place, Busy> {
        let acquire = self.places.clone().acquire_owned();
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => {
                let in_use = self.size - self.places.available_permits();
                self.peak.fetch_max(in_use, Ordering::Relaxed);
                Ok(Place { _permit: permit })
            }
            // The semaphore is never closed; a timeout is the only way here.
            Ok(Err(_)) | Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(Busy(self.what))
            }
        }
    }

    /// Places taken now.
    pub fn in_use(&self) -> usize {
        self.size - self.places.available_permits()
    }

    /// The most places ever taken at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Requests refused after waiting.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_refuses_after_its_wait_and_reopens() {
        let gate = Gate::new("tests", 2, Duration::from_millis(20));
        let a = gate.enter().await.expect("a place");
        let _b = gate.enter().await.expect("a place");
        assert_eq!(gate.enter().await.err(), Some(Busy("tests")));
        drop(a);
        let _c = gate.enter().await.expect("a place came back");
        assert_eq!((gate.in_use(), gate.peak(), gate.refused()), (2, 2, 1));
    }
}
