//! The rate settings of the configuration: a sustained rate with a burst allowance, and one
//! per kind of client message. The edge's token buckets (`edge::rate`) enforce them.

use serde::{Deserialize, Serialize};

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Tokens per second.
    pub per_sec: f64,
    /// Bucket size: how many may come at once.
    pub burst: u32,
}

impl Rate {
    /// `per_sec` per second, `burst` at once.
    pub const fn new(per_sec: f64, burst: u32) -> Self {
        Self { per_sec, burst }
    }

    /// Whether the rate can ever let anything through.
    pub(crate) fn is_valid(&self) -> bool {
        self.per_sec.is_finite() && self.per_sec > 0.0 && self.burst >= 1
    }
}

/// Per-session limits for each kind of message (on top of `client_messages_per_sec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageRates {
    /// `join` and `leave`. Default 2/s, burst 10.
    pub join: Rate,
    /// `pose`. Default 60/s, burst 120.
    pub pose: Rate,
    /// `spawn`. Default 20/s, burst 60.
    pub spawn: Rate,
    /// `move`, `set_props` and `despawn`. Default 120/s, burst 240.
    pub change: Rate,
    /// `chat`, per user (all of a user's sessions share it). Default 2/s, burst 10.
    pub chat: Rate,
    /// `screen_share_start` and `screen_share_stop`. Default 1/s, burst 5.
    pub share: Rate,
    /// `signal`. Default 50/s, burst 200 (ICE gathering sends a burst of candidates).
    pub signal: Rate,
}

impl Default for MessageRates {
    fn default() -> Self {
        Self {
            join: Rate::new(2.0, 10),
            pose: Rate::new(60.0, 120),
            spawn: Rate::new(20.0, 60),
            change: Rate::new(120.0, 240),
            chat: Rate::new(2.0, 10),
            share: Rate::new(1.0, 5),
            signal: Rate::new(50.0, 200),
        }
    }
}

impl MessageRates {
    /// Every rate with its name, for validation.
    pub fn all(&self) -> [(&'static str, Rate); 7] {
        [
            ("join", self.join),
            ("pose", self.pose),
            ("spawn", self.spawn),
            ("change", self.change),
            ("chat", self.chat),
            ("share", self.share),
            ("signal", self.signal),
        ]
    }
}
