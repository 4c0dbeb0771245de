//! One connection's refusals, counted against one policy wherever they happen: by the edge
//! (a message refused before the world sees it: malformed, oversized, over a rate) and by
//! the world (a command a handler refused: not joined, not found, forbidden). Both hold the
//! same counter, so an abuser is closed after `max` refusals of any mix, not `max` of each.
//!
//! Time comes in as milliseconds since the Unix epoch from the caller (the world passes its
//! [`crate::SimTime`]), so the world stays free of clocks.

use std::sync::{Arc, Mutex};

use bevy_ecs::prelude::Component;

/// How many refusals a connection is allowed, and over how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrikePolicy {
    /// Refusals tolerated within one window; one more closes the connection.
    pub max: u32,
    /// Length of the counting window, in milliseconds.
    pub window_ms: u64,
}

impl Default for StrikePolicy {
    /// 20 refusals within 10 s, the server's defaults.
    fn default() -> Self {
        Self {
            max: 20,
            window_ms: 10_000,
        }
    }
}

/// A connection's strike counter, shared by its edge task and its session entity.
#[derive(Component, Debug, Clone)]
pub struct Strikes {
    policy: StrikePolicy,
    /// Refusals in the current window, and when the window began (ms since the epoch).
    window: Arc<Mutex<(u32, i64)>>,
}

impl Strikes {
    /// A fresh counter for `policy`.
    pub fn new(policy: StrikePolicy) -> Self {
        Self {
            policy,
            window: Arc::new(Mutex::new((0, i64::MIN))),
        }
    }

    /// Records a refusal at `now_ms`; true when the connection has now gone over the limit
    /// and must be closed.
    pub fn hit(&self, now_ms: i64) -> bool {
        // Counting cannot leave the pair half-updated, so a poisoned lock is used as it is.
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = &mut *window;
        let window_ms = i64::try_from(self.policy.window_ms).unwrap_or(i64::MAX);
        if now_ms.saturating_sub(*since) >= window_ms || now_ms < *since {
            *count = 0;
            *since = now_ms;
        }
        *count = count.saturating_add(1);
        *count > self.policy.max
    }

    /// Why a connection that went over the limit is closed, for its close frame.
    pub fn reason(&self) -> String {
        format!(
            "closed after more than {} refused messages within {} s",
            self.policy.max,
            self.policy.window_ms as f64 / 1000.0
        )
    }
}

impl Default for Strikes {
    fn default() -> Self {
        Self::new(StrikePolicy::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strikes_close_past_the_limit_and_reset_after_the_window() {
        let strikes = Strikes::new(StrikePolicy {
            max: 2,
            window_ms: 1_000,
        });
        assert!(!strikes.hit(0) && !strikes.hit(10));
        assert!(strikes.hit(20), "the third refusal within the window");
        assert!(!strikes.hit(1_500), "a new window");
    }

    #[test]
    fn clones_share_one_count() {
        let edge = Strikes::new(StrikePolicy {
            max: 3,
            window_ms: 1_000,
        });
        let world = edge.clone();
        assert!(!edge.hit(0) && !world.hit(1) && !edge.hit(2));
        assert!(world.hit(3), "refusals on both sides add up");
    }
}
