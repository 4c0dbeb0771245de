//! What the bots measure, per transport: connections and why they failed, round trips,
//! update latency, traffic, server errors and disconnects. Recorders are shared by the
//! bots of a transport; the summary turns them into percentiles.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Transport;

/// A histogram of milliseconds with 0.01 ms resolution up to ten minutes.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("fixed bounds are valid")
}

/// Locks a recorder; a panicked bot task leaves its last sample, never a broken histogram.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shared recorders of the bots of one transport.
#[derive(Debug)]
pub struct Recorder {
    /// Which transport.
    pub transport: Transport,
    /// Bots assigned to it.
    pub bots: AtomicU64,
    /// Connections tried.
    pub attempted: AtomicU64,
    /// Connections that got `welcome` and `joined`.
    pub succeeded: AtomicU64,
    /// Connections that did not, with why.
    failures: Mutex<BTreeMap<String, u64>>,
    /// Connections the server ended before the run did, with why.
    disconnects: Mutex<BTreeMap<String, u64>>,
    /// `error` messages received, by code.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Time from starting to connect to `joined`, in units of 0.01 ms.
    connect: Mutex<Histogram<u64>>,
    /// Time from a `moved` (a space handed to another node) to `joined` there, 0.01 ms.
    move_pause: Mutex<Histogram<u64>>,
    /// Ping round trips.
    rtt: Mutex<Histogram<u64>>,
    /// From a bot's change to another bot seeing it.
    latency: Mutex<Histogram<u64>>,
    /// From a bot's chat line to another bot reading it.
    chat_latency: Mutex<Histogram<u64>>,
    /// Per bot over the measured window: bytes received per second.
    bot_bytes_per_sec: Mutex<Histogram<u64>>,
    /// Per bot over the measured window: deltas (and motion datagrams) per second.
    bot_deltas_per_sec: Mutex<Histogram<u64>>,
    /// Messages received while measuring (for the live view).
    pub messages: AtomicU64,
    /// Bytes received while measuring (for the live view).
    pub bytes: AtomicU64,
    /// Avatar poses received while measuring (entries of deltas and motion).
    pub poses: AtomicU64,
}

impl Recorder {
    /// Empty recorders for `transport`.
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            bots: AtomicU64::new(0),
            attempted: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failures: Mutex::default(),
            disconnects: Mutex::default(),
            errors: Mutex::default(),
            connect: Mutex::new(new_histogram()),
            move_pause: Mutex::new(new_histogram()),
            rtt: Mutex::new(new_histogram()),
            latency: Mutex::new(new_histogram()),
            chat_latency: Mutex::new(new_histogram()),
            bot_bytes_per_sec: Mutex::new(
                Histogram::new_with_bounds(1, 1 << 40, 3).expect("fixed bounds are valid"),
            ),
            bot_deltas_per_sec: Mutex::new(new_histogram()),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            poses: AtomicU64::new(0),
        }
    }

    /// A connection failed for `why`.
    pub fn failed(&self, why: &str) {
        *lock(&self.failures).entry(why.to_string()).or_default() += 1;
    }

    /// Connections that failed so far.
    pub fn failed_count(&self) -> u64 {
        lock(&self.failures).values().sum()
    }

    /// The server ended a connection for `why`.
    pub fn disconnected(&self, why: &str) {
        *lock(&self.disconnects).entry(why.to_string()).or_default() += 1;
    }

    /// The server sent an error with `code`.
    pub fn error(&self, code: &str) {
        *lock(&self.errors).entry(code.to_string()).or_default() += 1;
    }

    /// Connection setup took `ms`.
    pub fn connected(&self, ms: f64) {
        self.succeeded.fetch_add(1, Ordering::Relaxed);
        record(&self.connect, ms);
    }

    /// A bot followed a `moved` and was in its space again after `ms`.
    pub fn moved(&self, ms: f64) {
        record(&self.move_pause, ms);
    }

    /// A ping came back after `ms`.
    pub fn rtt(&self, ms: f64) {
        record(&self.rtt, ms);
    }

    /// Update latencies seen in one message.
    pub fn latencies(&self, ms: &[f64]) {
        if ms.is_empty() {
            return;
        }
        let mut h = lock(&self.latency);
        for &v in ms {
            let _ = h.record(to_units(v));
        }
    }

    /// A chat line arrived `ms` after it was said.
    pub fn chat_latency(&self, ms: f64) {
        record(&self.chat_latency, ms);
    }

    /// One bot's traffic over the measured window.
    pub fn bot_traffic(&self, bytes_per_sec: f64, deltas_per_sec: f64) {
        let _ = lock(&self.bot_bytes_per_sec).record(bytes_per_sec.max(1.0) as u64);
        let _ = lock(&self.bot_deltas_per_sec).record(to_units(deltas_per_sec));
    }
}

fn to_units(ms: f64) -> u64 {
    (ms * 100.0).clamp(1.0, 60_000_000.0) as u64
}

fn record(h: &Mutex<Histogram<u64>>, ms: f64) {
    let _ = lock(h).record(to_units(ms));
}

/// Whether samples count now (after the ramp, before the end).
#[derive(Debug, Default)]
pub struct Phase {
    measuring: AtomicBool,
}

impl Phase {
    /// Starts or stops measuring.
    pub fn set_measuring(&self, on: bool) {
        self.measuring.store(on, Ordering::Release);
    }

    /// Whether samples count now.
    pub fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Acquire)
    }
}

/// p50, p90, p99, max and mean of one measurement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>, scale: f64) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.5) as f64 * scale,
            p90: h.value_at_quantile(0.9) as f64 * scale,
            p99: h.value_at_quantile(0.99) as f64 * scale,
            max: h.max() as f64 * scale,
            mean: h.mean() * scale,
        }
    }
}

/// The summary of one transport (or of all).
#[derive(Debug, Clone, Serialize)]
pub struct TransportReport {
    /// `quic`, `wt`, `ws` or `all`.
    pub transport: String,
    /// Bots assigned.
    pub bots: u64,
    /// Connections tried.
    pub attempted: u64,
    /// Connections that joined.
    pub succeeded: u64,
    /// Connections that did not.
    pub failed: u64,
    /// Why they failed.
    pub failure_reasons: BTreeMap<String, u64>,
    /// Connections the server ended during the run.
    pub disconnects: u64,
    /// Why.
    pub disconnect_reasons: BTreeMap<String, u64>,
    /// Server `error` messages, by code.
    pub server_errors: BTreeMap<String, u64>,
    /// Connect to `joined`, ms.
    pub connect_ms: Percentiles,
    /// `moved` to `joined` on the new node, ms (cluster hand-offs).
    pub move_pause_ms: Percentiles,
    /// Ping round trip, ms.
    pub rtt_ms: Percentiles,
    /// A bot's change seen by another bot, ms (poses and object moves).
    pub update_latency_ms: Percentiles,
    /// A chat line read by another bot, ms.
    pub chat_latency_ms: Percentiles,
    /// Per bot: deltas and motion datagrams received per second.
    pub deltas_per_sec_per_bot: Percentiles,
    /// Per bot: bytes received per second.
    pub bytes_per_sec_per_bot: Percentiles,
    /// Avatar poses received while measuring.
    pub poses_received: u64,
    /// Bytes received per avatar pose received (everything a bot got, frames and
    /// datagrams, over the poses in it: the wire cost of a pose in a walking crowd).
    pub bytes_per_pose: f64,
}

impl TransportReport {
    /// The summary of `recorders` together, named `name`.
    pub fn of(name: &str, recorders: &[&Recorder]) -> Self {
        let merge_maps = |get: &dyn Fn(&Recorder) -> BTreeMap<String, u64>| {
            let mut all = BTreeMap::new();
            for r in recorders {
                for (k, v) in get(r) {
                    *all.entry(k).or_insert(0) += v;
                }
            }
            all
        };
        let merge = |get: &dyn Fn(&Recorder) -> &Mutex<Histogram<u64>>, scale: f64| {
            let mut all: Option<Histogram<u64>> = None;
            for r in recorders {
                let h = lock(get(r));
                match &mut all {
                    None => all = Some(h.clone()),
                    Some(a) => {
                        let _ = a.add(&*h);
                    }
                }
            }
            all.map(|h| Percentiles::of(&h, scale)).unwrap_or_default()
        };
        let sum = |get: &dyn Fn(&Recorder) -> u64| recorders.iter().map(|r| get(r)).sum::<u64>();
        let failure_reasons = merge_maps(&|r| lock(&r.failures).clone());
        let disconnect_reasons = merge_maps(&|r| lock(&r.disconnects).clone());
        Self {
            transport: name.to_string(),
            bots: sum(&|r| r.bots.load(Ordering::Relaxed)),
            attempted: sum(&|r| r.attempted.load(Ordering::Relaxed)),
            succeeded: sum(&|r| r.succeeded.load(Ordering::Relaxed)),
            failed: failure_reasons.values().sum(),
            failure_reasons,
            disconnects: disconnect_reasons.values().sum(),
            disconnect_reasons,
            server_errors: merge_maps(&|r| lock(&r.errors).clone()),
            connect_ms: merge(&|r| &r.connect, 0.01),
            move_pause_ms: merge(&|r| &r.move_pause, 0.01),
            rtt_ms: merge(&|r| &r.rtt, 0.01),
            update_latency_ms: merge(&|r| &r.latency, 0.01),
            chat_latency_ms: merge(&|r| &r.chat_latency, 0.01),
            deltas_per_sec_per_bot: merge(&|r| &r.bot_deltas_per_sec, 0.01),
            bytes_per_sec_per_bot: merge(&|r| &r.bot_bytes_per_sec, 1.0),
            poses_received: sum(&|r| r.poses.load(Ordering::Relaxed)),
            bytes_per_pose: sum(&|r| r.bytes.load(Ordering::Relaxed)) as f64
                / sum(&|r| r.poses.load(Ordering::Relaxed)).max(1) as f64,
        }
    }
}
