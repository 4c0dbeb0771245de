//! The load test's command line: where to connect, how many bots doing what, for how long,
//! and the thresholds that make the run fail.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A transport bots connect over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Native QUIC (stream plus datagrams).
    Quic,
    /// WebTransport (as a browser would).
    Wt,
    /// WebSocket.
    Ws,
}

impl Transport {
    /// Its short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quic => "quic",
            Self::Wt => "wt",
            Self::Ws => "ws",
        }
    }
}

/// What bots do once in their space; any mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Behaviour {
    /// Walk around their area, sending their pose at `--walk-hz`.
    Walk,
    /// Spawn an object, move it, despawn it, again, at `--build-hz` operations a second.
    Build,
    /// Say something at `--chat-hz`.
    Chat,
}

/// `plaza-bot`: headless clients that load a Plaza server and measure what they see.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "plaza-bot",
    version,
    about = "Load-tests a Plaza server with headless bots and reports what they saw"
)]
pub struct BotArgs {
    /// The server's HTTP address: WebSocket is at `/ws`, and `/cert-hash` gives the QUIC and
    /// WebTransport ports and certificate.
    #[arg(long, default_value = "http://127.0.0.1:8700")]
    pub url: String,
    /// Transports, comma-separated; bot `i` takes the `i mod n`-th.
    #[arg(long, value_delimiter = ',', default_value = "ws")]
    pub transport: Vec<Transport>,
    /// Number of bots.
    #[arg(long, default_value_t = 10)]
    pub bots: usize,
    /// Number of spaces the bots are spread over (bot `i` joins space `i mod k`).
    #[arg(long, default_value_t = 1)]
    pub spaces: usize,
    /// Space names are this prefix and a number. Those that do not exist are made as
    /// temporary spaces (left out of the public list) and deleted after the run.
    #[arg(long, default_value = "bots")]
    pub space_prefix: String,
    /// Keep the temporary spaces this run made instead of deleting them at the end.
    #[arg(long)]
    pub keep_spaces: bool,
    /// Time over which the bots connect, evenly spaced (e.g. `30s`).
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub ramp: Duration,
    /// How long to measure once every bot has had its turn to connect (e.g. `2m`).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// Behaviours, comma-separated: walk, build, chat.
    #[arg(long, value_delimiter = ',', default_value = "walk")]
    pub behaviour: Vec<Behaviour>,
    /// Pose updates per second per walking bot.
    #[arg(long, default_value_t = 10.0)]
    pub walk_hz: f64,
    /// Walking speed in metres per second.
    #[arg(long, default_value_t = 1.5)]
    pub speed: f32,
    /// Side of the square (centred on the origin, in metres) bots walk and build in.
    #[arg(long, default_value_t = 200.0)]
    pub area: f32,
    /// Object operations (spawn, move, despawn) per second per building bot.
    #[arg(long, default_value_t = 2.0)]
    pub build_hz: f64,
    /// Chat messages per second per chatting bot.
    #[arg(long, default_value_t = 0.2)]
    pub chat_hz: f64,
    /// Pings per second per bot, for the round-trip time.
    #[arg(long, default_value_t = 1.0)]
    pub ping_hz: f64,
    /// Use the JSON codec instead of postcard.
    #[arg(long)]
    pub json: bool,
    /// Protocol version to speak: 2 (compact motion), or 1 (for comparison).
    #[arg(long, default_value_t = plaza_net::PROTOCOL_VERSION, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub protocol: u32,
    /// Give up on a connection (counted as failed) after this long.
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub connect_timeout: Duration,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Fail (exit 1) if the p99 update latency is above this (e.g. `100ms`).
    #[arg(long, value_parser = parse_duration)]
    pub max_p99_latency: Option<Duration>,
    /// Fail if more connections than this failed or were dropped by the server.
    #[arg(long)]
    pub max_failures: Option<u64>,
    /// Fail if the server's p99 tick over the run is above this (e.g. `10ms`).
    #[arg(long, value_parser = parse_duration)]
    pub max_p99_tick: Option<Duration>,
    /// Bots sharing one QUIC or WebTransport endpoint (UDP socket). One each costs quinn's
    /// ~2 MB receive buffer per bot (4.6 GB for 2,000); 100 per endpoint made handshakes
    /// time out when the machine was saturated (5,000 bots on 2 cores), since one driver
    /// task carries all their packets.
    #[arg(long, default_value_t = 10)]
    pub bots_per_endpoint: usize,
    /// Every how many poses one carries the bot's send time (for update latency).
    #[arg(long, default_value_t = 10)]
    pub stamp_every: u32,
    /// Worker threads driving the bots.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// No progress output at all (without a terminal, a plain progress line is printed
    /// every few seconds unless this is set).
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `250ms`, `2s`, `1.5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 250ms, 2s or 1m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("ms").is_err());
    }
}
