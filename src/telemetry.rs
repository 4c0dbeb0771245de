//! Server telemetry: lock-free counters and histograms that the tick thread, the sessions
//! and the store writer update, read by `GET /metrics` (Prometheus) and
//! `GET /api/statistics` (JSON).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Upper bounds of the histogram buckets, in microseconds: 10 µs to about 2.6 s, each
/// 25 % above the last, so a percentile read from the buckets is within 25 %.
fn bucket_bounds() -> &'static [u64] {
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
    pub fn observe(&self, value: u64) {
        let bucket = bucket_bounds().partition_point(|&bound| bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
    }

    /// Records a duration in microseconds.
    pub fn observe_duration(&self, took: Duration) {
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

/// A histogram's values at one moment. Two snapshots subtract, which is how a load test
/// gets the percentiles of just its own run.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
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

/// The stages of a tick that are timed separately.
pub const STAGES: [&str; 5] = ["ingest", "simulate", "replicate", "deliver", "persist"];

/// Per-transport connection and traffic counters.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// Sessions open now.
    pub open: AtomicI64,
    /// Sessions opened since start.
    pub opened: AtomicU64,
    /// Payload bytes received (frames and datagrams).
    pub bytes_in: AtomicU64,
    /// Payload bytes sent (frames and datagrams).
    pub bytes_out: AtomicU64,
    /// Messages received.
    pub messages_in: AtomicU64,
    /// Messages sent.
    pub messages_out: AtomicU64,
}

/// Transport names, in the order of [`Telemetry::transports`].
pub const TRANSPORTS: [&str; 3] = ["ws", "quic", "wt"];

/// Everything the server measures about itself.
#[derive(Debug)]
pub struct Telemetry {
    /// When the server started.
    pub started: Instant,
    /// Whole-tick durations, µs.
    pub tick: Histogram,
    /// Per-stage durations, µs, in the order of [`STAGES`].
    pub stages: [Histogram; 5],
    /// CPU time the tick thread spent per tick, µs (Linux; empty elsewhere).
    pub tick_cpu: Histogram,
    /// Time per tick the tick thread was ready to run but waited for a core, µs: how much
    /// of a tick's duration other processes and threads took.
    pub tick_runqueue_wait: Histogram,
    /// Durations of the last ticks (about a minute at 20 Hz), µs, for live percentiles.
    recent: Mutex<VecDeque<u32>>,
    /// Inputs waiting at the start of the last tick.
    pub inbox_depth: AtomicU64,
    /// Largest inbox depth seen.
    pub inbox_depth_max: AtomicU64,
    /// Per transport, in the order of [`TRANSPORTS`].
    pub transports: [TransportCounters; 3],
    /// Sessions in the world (published every second by the tick thread).
    pub sessions: AtomicU64,
    /// Spaces with someone in them.
    pub spaces_active: AtomicU64,
    /// Spaces loaded in memory.
    pub spaces_loaded: AtomicU64,
    /// Objects in memory.
    pub objects: AtomicU64,
    /// Loaded spaces and who is in them (published with the counts).
    pub directory: crate::directory::Directory,
}

/// How many recent ticks the live percentiles cover.
const RECENT_TICKS: usize = 1200;

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            tick: Histogram::default(),
            stages: Default::default(),
            tick_cpu: Histogram::default(),
            tick_runqueue_wait: Histogram::default(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_TICKS)),
            inbox_depth: AtomicU64::new(0),
            inbox_depth_max: AtomicU64::new(0),
            transports: Default::default(),
            sessions: AtomicU64::new(0),
            spaces_active: AtomicU64::new(0),
            spaces_loaded: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            directory: Default::default(),
        }
    }
}

impl Telemetry {
    /// The counters of `transport` (`ws`, `quic` or `wt`; anything else counts as `ws`).
    pub fn transport(&self, transport: &str) -> &TransportCounters {
        let i = TRANSPORTS.iter().position(|&t| t == transport).unwrap_or(0);
        &self.transports[i]
    }

    /// Records a whole tick's duration.
    pub fn record_tick(&self, took: Duration) {
        self.tick.observe_duration(took);
        let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        // Only the tick thread writes and a reader holds it for a copy: never contended
        // for long, and a poisoned lock only means a reader panicked while copying.
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_TICKS {
            recent.pop_front();
        }
        recent.push_back(us);
    }

    /// Records the inbox depth at the start of a tick.
    pub fn record_inbox(&self, depth: usize) {
        let depth = depth as u64;
        self.inbox_depth.store(depth, Ordering::Relaxed);
        self.inbox_depth_max.fetch_max(depth, Ordering::Relaxed);
    }

    /// (p50, p99, max) of the recent ticks, µs.
    pub fn recent_ticks(&self) -> (u32, u32, u32) {
        let mut ticks: Vec<u32> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        if ticks.is_empty() {
            return (0, 0, 0);
        }
        ticks.sort_unstable();
        let at =
            |q: f64| ticks[((ticks.len() as f64 * q).ceil() as usize).clamp(1, ticks.len()) - 1];
        (at(0.5), at(0.99), ticks[ticks.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets_within_a_quarter() {
        let h = Histogram::default();
        for v in 1..=1000 {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 1000);
        let p50 = s.quantile(0.5);
        assert!((500..=625).contains(&p50), "p50 {p50}");
        let p99 = s.quantile(0.99);
        assert!((990..=1000).contains(&p99), "p99 {p99}");
        let before = h.snapshot();
        h.observe(100_000);
        let only = h.snapshot().since(&before);
        assert_eq!(only.count, 1);
        assert!(only.quantile(0.5) >= 100_000);
    }

    #[test]
    fn recent_ticks_give_exact_percentiles() {
        let t = Telemetry::default();
        for ms in 1..=100 {
            t.record_tick(Duration::from_millis(ms));
        }
        assert_eq!(t.recent_ticks(), (50_000, 99_000, 100_000));
    }
}

/// When each stage of the current tick ended, written by marker systems placed between the
/// stages (so the world's own systems stay free of clocks).
#[derive(bevy_ecs::prelude::Resource, Debug, Default)]
pub struct StageClock {
    /// End of ingest, simulate, replicate and persist.
    pub ends: [Option<Instant>; 4],
}

fn mark<const STAGE: usize>(mut clock: bevy_ecs::prelude::ResMut<StageClock>) {
    clock.ends[STAGE] = Some(Instant::now());
}

/// Adds the stage clock to a world app.
pub struct StageClockPlugin;

impl bevy_app::Plugin for StageClockPlugin {
    fn build(&self, app: &mut bevy_app::App) {
        use bevy_ecs::prelude::IntoScheduleConfigs;
        use plaza_systems::{Stage, Tick};
        app.init_resource::<StageClock>().add_systems(
            Tick,
            (
                mark::<0>.after(Stage::Ingest).before(Stage::Simulate),
                mark::<1>.after(Stage::Simulate).before(Stage::Replicate),
                mark::<2>.after(Stage::Replicate).before(Stage::Persist),
                mark::<3>.after(Stage::Persist).before(Stage::Cleanup),
            ),
        );
    }
}

/// Resident memory and CPU time of this process, from `/proc/self` (Linux); `None`
/// elsewhere.
pub fn process_usage() -> Option<ProcessUsage> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state,
    // in clock ticks of 1/100 s on Linux.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ProcessUsage {
        rss_bytes: rss_kib * 1024,
        cpu_seconds: ticks as f64 / 100.0,
    })
}

/// What the process uses.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct ProcessUsage {
    /// Resident set size.
    pub rss_bytes: u64,
    /// User plus system CPU time since start.
    pub cpu_seconds: f64,
}

/// (CPU time, time waiting for a core) of the calling thread so far, in ns, from
/// `/proc/thread-self/schedstat` (Linux with schedstats; `None` elsewhere).
pub fn thread_schedstat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}
