//! The histograms the server publishes in `GET /api/statistics`, as their readers (plaza-bot,
//! dashboards) take them: counts in fixed exponential buckets, so that two readings
//! subtract and a percentile is read from the buckets.

use serde::{Deserialize, Serialize};

/// Upper bounds of the histogram buckets, in microseconds: 10 µs to about 2.6 s, each
/// 25 % above the last, so a percentile read from the buckets is within 25 %.
pub fn bucket_bounds() -> &'static [u64] {
    static BOUNDS: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut bounds = Vec::new();
        let mut bound = 10.0_f64;
        while bound < 3.0e6 {
            bounds.push(bound.round() as u64);
            bound *= 1.25;
        }
        bounds
    })
}

/// A histogram's values at one moment. Two snapshots subtract, which is how a load test
/// gets the percentiles of just its own run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistogramSnapshot {
    /// Count per bucket; bucket `i` holds values up to [`HistogramSnapshot::bound`]`(i)`.
    pub counts: Vec<u64>,
    /// Sum of all values.
    pub sum: u64,
    /// Number of values.
    pub count: u64,
    /// Largest value ever recorded.
    pub max: u64,
}

impl HistogramSnapshot {
    /// Upper bound of bucket `i` (`u64::MAX` for the last).
    pub fn bound(i: usize) -> u64 {
        bucket_bounds().get(i).copied().unwrap_or(u64::MAX)
    }

    /// The bucket bound at or below which `q` (0..1) of the values lie; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bound(i).min(self.max.max(1));
            }
        }
        self.max
    }

    /// What was recorded after `earlier`; its max is the upper bound of the highest bucket
    /// that gained values.
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self
                .counts
                .iter()
                .zip(earlier.counts.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            sum: self.sum.saturating_sub(earlier.sum),
            count: self.count.saturating_sub(earlier.count),
            max: 0,
        }
        .with_max_from_buckets(self.max)
    }

    /// Sets `max` to the bound of the highest non-empty bucket, at most `ceiling`.
    fn with_max_from_buckets(mut self, ceiling: u64) -> Self {
        self.max = self
            .counts
            .iter()
            .rposition(|&c| c > 0)
            .map_or(0, |i| Self::bound(i).min(ceiling));
        self
    }
}
