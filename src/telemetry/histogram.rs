//! A histogram the tick thread can record into every tick: fixed exponential buckets (the
//! layout [`plaza_net::statistics`] publishes), one atomic add per value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plaza_net::statistics::{HistogramSnapshot, bucket_bounds};

/// A histogram of durations (or sizes) with fixed exponential buckets; `observe` is one
/// atomic add, so the tick thread can record every tick.
#[derive(Debug)]
pub struct Histogram {
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            // One more bucket than bounds: the last one is +Inf.
            counts: (0..=bucket_bounds().len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one value (microseconds for durations).
    pub(crate) fn observe(&self, value: u64) {
        let bucket = bucket_bounds().partition_point(|&bound| bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
    }

    /// Records a duration in microseconds.
    pub(crate) fn observe_duration(&self, took: Duration) {
        self.observe(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// A consistent-enough copy for reporting.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
        }
    }
}
