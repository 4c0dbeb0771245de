//! Per-connection guards at the edge: a token bucket for message rate, and a strike counter
//! that closes connections sending refused messages again and again.

use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts refusals in a fixed window.
#[derive(Debug, Clone)]
pub struct StrikeCounter {
    max: u32,
    window: Duration,
    count: u32,
    since: Instant,
}

impl StrikeCounter {
    /// Allows `max` refusals per `window`.
    pub fn new(max: u32, window: Duration, now: Instant) -> Self {
        Self {
            max,
            window,
            count: 0,
            since: now,
        }
    }

    /// Records a refusal; true when the connection has now gone over the limit.
    pub fn hit(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.since) >= self.window {
            self.count = 0;
            self.since = now;
        }
        self.count += 1;
        self.count > self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3, start);
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }

    #[test]
    fn strikes_reset_after_the_window() {
        let start = Instant::now();
        let mut strikes = StrikeCounter::new(2, Duration::from_secs(1), start);
        assert!(!strikes.hit(start) && !strikes.hit(start));
        assert!(strikes.hit(start));
        assert!(!strikes.hit(start + Duration::from_secs(2)));
    }
}
