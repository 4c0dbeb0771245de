//! The end of a run: the summary table, the JSON report and the thresholds that decide the
//! exit code.

use std::fmt::Write as _;

use serde::Serialize;

use crate::args::BotArgs;
use crate::server_stats::ServerReport;
use crate::stats::{Percentiles, TransportReport};

/// What was asked of the run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSettings {
    /// Server URL.
    pub url: String,
    /// Transports in turn.
    pub transports: Vec<String>,
    /// Bots.
    pub bots: usize,
    /// Spaces.
    pub spaces: usize,
    /// Behaviours.
    pub behaviours: Vec<String>,
    /// Pose rate.
    pub walk_hz: f64,
    /// Walk area side, m.
    pub area: f32,
    /// Ramp, s.
    pub ramp_secs: f64,
    /// Measured window, s.
    pub duration_secs: f64,
    /// Codec.
    pub codec: &'static str,
    /// Protocol version.
    pub protocol: u32,
}

impl RunSettings {
    /// The settings in `args`.
    pub fn of(args: &BotArgs) -> Self {
        let names = |v: Vec<String>| v;
        Self {
            url: args.url.clone(),
            transports: names(
                args.transport
                    .iter()
                    .map(|t| t.name().to_string())
                    .collect(),
            ),
            bots: args.bots,
            spaces: args.spaces,
            behaviours: args
                .behaviour
                .iter()
                .map(|b| format!("{b:?}").to_lowercase())
                .collect(),
            walk_hz: args.walk_hz,
            area: args.area,
            ramp_secs: args.ramp.as_secs_f64(),
            duration_secs: args.duration.as_secs_f64(),
            codec: if args.json { "json" } else { "postcard" },
            protocol: args.protocol,
        }
    }
}

/// One threshold and how the run did against it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// The limit given.
    pub limit: f64,
    /// What was measured (`None`: nothing to measure, which fails).
    pub measured: Option<f64>,
    /// Whether the run is within the limit.
    pub passed: bool,
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was asked.
    pub settings: RunSettings,
    /// Per transport.
    pub transports: Vec<TransportReport>,
    /// All transports together.
    pub overall: TransportReport,
    /// The server's side, if `/api/statistics` could be read.
    pub server: Option<ServerReport>,
    /// Thresholds given on the command line.
    pub checks: Vec<Check>,
    /// Whether every threshold held.
    pub passed: bool,
}

impl Report {
    /// Checks the thresholds in `args` against the findings.
    pub fn check(&mut self, args: &BotArgs) {
        let mut checks = Vec::new();
        if let Some(limit) = args.max_p99_latency {
            let lat = &self.overall.update_latency_ms;
            let measured = (lat.count > 0).then_some(lat.p99);
            checks.push(check(
                "p99 update latency (ms)",
                limit.as_secs_f64() * 1e3,
                measured,
            ));
        }
        if let Some(limit) = args.max_failures {
            let failures = self.overall.failed + self.overall.disconnects;
            checks.push(check(
                "failed or dropped connections",
                limit as f64,
                Some(failures as f64),
            ));
        }
        if let Some(limit) = args.max_p99_tick {
            let measured = self.server.as_ref().map(|s| s.tick.p99_ms);
            checks.push(check(
                "server p99 tick (ms)",
                limit.as_secs_f64() * 1e3,
                measured,
            ));
        }
        self.passed = checks.iter().all(|c| c.passed);
        self.checks = checks;
    }

    /// The summary as a table for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let _ = writeln!(
            out,
            "\nplaza-bot: {} bots over {} ({}, protocol {}), {} space(s), {} for {:.0} s after a {:.0} s ramp",
            s.bots,
            s.transports.join(","),
            s.codec,
            s.protocol,
            s.spaces,
            s.behaviours.join("+"),
            s.duration_secs,
            s.ramp_secs
        );
        let _ = writeln!(
            out,
            "\n{:<6} {:>6} {:>6} {:>6} {:>6} {:>9} {:>9} {:>7}  {:>8}",
            "", "bots", "ok", "failed", "dropped", "deltas/s", "KB/s", "B/pose", "errors"
        );
        for t in self.transports.iter().chain([&self.overall]) {
            let _ = writeln!(
                out,
                "{:<6} {:>6} {:>6} {:>6} {:>6} {:>9.1} {:>9.1} {:>7.1}  {:>8}",
                t.transport,
                t.bots,
                t.succeeded,
                t.failed,
                t.disconnects,
                t.deltas_per_sec_per_bot.mean,
                t.bytes_per_sec_per_bot.mean / 1e3,
                t.bytes_per_pose,
                t.server_errors.values().sum::<u64>()
            );
        }
        let _ = writeln!(
            out,
            "\n{:<26} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "ms (per transport)", "p50", "p90", "p99", "max", "samples"
        );
        for t in self.transports.iter().chain([&self.overall]) {
            for (what, p) in [
                ("update latency", &t.update_latency_ms),
                ("chat latency", &t.chat_latency_ms),
                ("ping rtt", &t.rtt_ms),
                ("connect", &t.connect_ms),
                ("moved pause", &t.move_pause_ms),
            ] {
                if p.count > 0 {
                    let _ = writeln!(out, "{}", row(&format!("{} {what}", t.transport), p));
                }
            }
        }
        if let Some(server) = &self.server {
            let _ = writeln!(
                out,
                "\nserver: {} ticks, tick p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} overruns; CPU {} of one core; RSS {}; sent {:.1} MB/s",
                server.ticks,
                server.tick.p50_ms,
                server.tick.p99_ms,
                server.tick.max_ms,
                server.overruns,
                server
                    .cpu_percent_of_one_core
                    .map_or("?".into(), |c| format!("{c:.0} %")),
                server.rss_mb.map_or("?".into(), |m| format!("{m:.0} MB")),
                server.sent_bytes_per_sec / 1e6
            );
            if let (Some(cpu), Some(wait)) = (&server.tick_cpu, &server.tick_runqueue_wait) {
                let _ = writeln!(
                    out,
                    "tick thread: CPU per tick p50 {:.2} ms, p99 {:.2} ms; waiting for a core p50 {:.2} ms, p99 {:.2} ms",
                    cpu.p50_ms, cpu.p99_ms, wait.p50_ms, wait.p99_ms
                );
            }
            let stages: Vec<String> = server
                .stages
                .iter()
                .map(|(name, t)| format!("{name} p99 {:.2} ms", t.p99_ms))
                .collect();
            let _ = writeln!(out, "stages: {}", stages.join(", "));
        }
        for (label, reasons) in [
            ("failures", &self.overall.failure_reasons),
            ("disconnects", &self.overall.disconnect_reasons),
            ("server errors", &self.overall.server_errors),
        ] {
            for (why, n) in reasons {
                let _ = writeln!(out, "{label}: {n} × {why}");
            }
        }
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{} {}: limit {}, measured {}",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.limit,
                c.measured.map_or("nothing".into(), |m| format!("{m:.2}"))
            );
        }
        out
    }
}

fn check(name: &str, limit: f64, measured: Option<f64>) -> Check {
    Check {
        name: name.to_string(),
        limit,
        measured,
        passed: measured.is_some_and(|m| m <= limit),
    }
}

fn row(label: &str, p: &Percentiles) -> String {
    format!(
        "{label:<26} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10}",
        p.p50, p.p90, p.p99, p.max, p.count
    )
}
