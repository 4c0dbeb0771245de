//! Rate guards at the edge: token buckets for message rates (per connection overall and per
//! kind of message, per user for chat, per client address for connections and HTTP). What
//! they refuse counts as a strike ([`plaza_systems::Strikes`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use plaza_net::ClientMsg;

use crate::config::{MessageRates, Rate};

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
        Self::with(
            Rate {
                per_sec: f64::from(rate),
                burst,
            },
            now,
        )
    }

    /// A full bucket for `rate`.
    pub fn with(rate: Rate, now: Instant) -> Self {
        Self {
            rate: rate.per_sec,
            burst: f64::from(rate.burst),
            tokens: f64::from(rate.burst),
            last: now,
        }
    }

    /// Whether the bucket has refilled completely (it then remembers nothing worth keeping).
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
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

/// The kinds of message with their own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `join`, `leave`.
    Join,
    /// `pose`.
    Pose,
    /// `spawn`.
    Spawn,
    /// `move`, `set_props`, `despawn`.
    Change,
    /// `chat`.
    Chat,
    /// `screen_share_start`, `screen_share_stop`.
    Share,
    /// `signal`.
    Signal,
}

impl MessageKind {
    /// The kind of a client message (`None`: only the overall limit applies).
    pub fn of(msg: &ClientMsg) -> Option<Self> {
        Some(match msg {
            ClientMsg::Join { .. } | ClientMsg::Leave => Self::Join,
            ClientMsg::Pose { .. } => Self::Pose,
            ClientMsg::Spawn { .. } => Self::Spawn,
            ClientMsg::Move { .. } | ClientMsg::SetProps { .. } | ClientMsg::Despawn { .. } => {
                Self::Change
            }
            ClientMsg::Chat { .. } => Self::Chat,
            ClientMsg::ScreenShareStart { .. } | ClientMsg::ScreenShareStop => Self::Share,
            ClientMsg::Signal { .. } => Self::Signal,
            ClientMsg::Hello { .. } | ClientMsg::Ping { .. } => return None,
        })
    }

    /// Its name in messages and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Pose => "pose",
            Self::Spawn => "spawn",
            Self::Change => "change",
            Self::Chat => "chat",
            Self::Share => "share",
            Self::Signal => "signal",
        }
    }
}

/// One session's buckets, one per kind (chat is per user, in [`KeyedBuckets`]).
#[derive(Debug)]
pub struct KindBuckets {
    buckets: [TokenBucket; 6],
    rates: MessageRates,
}

impl KindBuckets {
    /// Full buckets for `rates`.
    pub fn new(rates: &MessageRates, now: Instant) -> Self {
        let r = rates;
        Self {
            buckets: [r.join, r.pose, r.spawn, r.change, r.share, r.signal]
                .map(|rate| TokenBucket::with(rate, now)),
            rates: rates.clone(),
        }
    }

    /// Takes a token for `kind`; `Err` with the rate that was exceeded.
    pub fn take(&mut self, kind: MessageKind, now: Instant) -> Result<(), Rate> {
        let (i, rate) = match kind {
            MessageKind::Join => (0, self.rates.join),
            MessageKind::Pose => (1, self.rates.pose),
            MessageKind::Spawn => (2, self.rates.spawn),
            MessageKind::Change => (3, self.rates.change),
            MessageKind::Share => (4, self.rates.share),
            MessageKind::Signal => (5, self.rates.signal),
            MessageKind::Chat => return Ok(()),
        };
        if self.buckets[i].take(now) {
            Ok(())
        } else {
            Err(rate)
        }
    }
}

/// Token buckets by key (a client address, a user), for at most `capacity` keys. When the
/// table is full, buckets that have refilled completely are dropped (they hold nothing
/// worth keeping); if none has, the table is cleared, so a flood of new keys cannot grow
/// memory without bound (at worst it resets everyone's allowance once).
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    rate: Rate,
    capacity: usize,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

impl<K: Hash + Eq + Copy> KeyedBuckets<K> {
    /// Buckets of `rate` for up to `capacity` keys.
    pub fn new(rate: Rate, capacity: usize) -> Self {
        Self {
            rate,
            capacity,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The rate each key gets.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes a token for `key`.
    pub fn take(&self, key: K, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= self.capacity && !buckets.contains_key(&key) {
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= self.capacity {
                buckets.clear();
            }
        }
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::with(self.rate, now))
            .take(now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
    fn keyed_buckets_are_independent_and_bounded() {
        let start = Instant::now();
        let buckets = KeyedBuckets::new(Rate::new(1.0, 2), 3);
        assert!(buckets.take(1, start) && buckets.take(1, start));
        assert!(!buckets.take(1, start), "key 1 used its burst");
        assert!(buckets.take(2, start), "key 2 is unaffected");
        for key in 3..100 {
            buckets.take(key, start);
        }
        let held = buckets.buckets.lock().expect("not poisoned").len();
        assert!(held <= 3, "at most capacity keys: {held}");
    }

    #[test]
    fn each_kind_has_its_own_bucket() {
        let start = Instant::now();
        let rates = MessageRates {
            spawn: Rate::new(1.0, 1),
            ..MessageRates::default()
        };
        let mut kinds = KindBuckets::new(&rates, start);
        assert!(kinds.take(MessageKind::Spawn, start).is_ok());
        assert_eq!(
            kinds.take(MessageKind::Spawn, start),
            Err(Rate::new(1.0, 1))
        );
        assert!(kinds.take(MessageKind::Pose, start).is_ok());
    }
}
