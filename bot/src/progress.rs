//! The progress line: one bar over the whole run (ramp, settle, measured window) that only
//! moves forward, drawn on a terminal, or printed as a plain line every few seconds when
//! the output is not one (logs, CI, `| tee`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain progress line is printed when there is no terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// How the line is shown.
enum Output {
    /// A bar on the terminal.
    Bar(ProgressBar),
    /// Plain lines on standard error, the last printed at the instant kept.
    Plain(Mutex<Option<Instant>>),
    /// Nothing (`--quiet`).
    Hidden,
}

/// Progress of a run of planned length, in whole seconds since it started.
pub struct Progress {
    output: Output,
    started: Instant,
    planned: Duration,
}

impl Progress {
    /// A line for a run planned to take `planned` (ramp plus measured window), on a
    /// terminal if standard error is one.
    pub fn new(quiet: bool, planned: Duration) -> Self {
        let output = if quiet {
            Output::Hidden
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(planned.as_secs().max(1));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} s {msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            Output::Bar(bar)
        } else {
            Output::Plain(Mutex::new(None))
        };
        Self {
            output,
            started: Instant::now(),
            planned,
        }
    }

    /// Shows `phase` and `message` at the current time. The position is the time since the
    /// start, so it never goes back; a run longer than planned stretches the bar.
    pub fn show(&self, phase: &str, message: &str) {
        let elapsed = self.started.elapsed();
        match &self.output {
            Output::Hidden => {}
            Output::Bar(bar) => {
                let secs = elapsed.as_secs();
                if secs > bar.length().unwrap_or(0) {
                    bar.set_length(secs);
                }
                bar.set_prefix(phase.to_string());
                bar.set_position(secs);
                bar.set_message(message.to_string());
            }
            Output::Plain(last) => {
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if plain_due(*last, Instant::now()) {
                    *last = Some(Instant::now());
                    eprintln!("{}", plain_line(phase, elapsed, self.planned, message));
                }
            }
        }
    }

    /// Removes the bar (plain lines stay, as a log).
    pub fn finish(&self) {
        if let Output::Bar(bar) = &self.output {
            bar.finish_and_clear();
        }
    }
}

/// Whether a plain line is due at `now`, the last one printed at `last`.
fn plain_due(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|last| now.duration_since(last) >= PLAIN_EVERY)
}

/// `plaza-bot: run 12/90 s joined 500/500 ...`.
fn plain_line(phase: &str, elapsed: Duration, planned: Duration, message: &str) -> String {
    format!(
        "plaza-bot: {phase} {}/{} s {message}",
        elapsed.as_secs(),
        planned.as_secs().max(elapsed.as_secs())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_come_periodically_and_never_count_back() {
        let t0 = Instant::now();
        assert!(plain_due(None, t0), "the first line is printed at once");
        assert!(!plain_due(Some(t0), t0 + Duration::from_secs(1)));
        assert!(plain_due(Some(t0), t0 + PLAIN_EVERY));
        let planned = Duration::from_secs(90);
        let lines: Vec<String> = [(1, "ramp"), (31, "settle"), (32, "run"), (95, "run")]
            .iter()
            .map(|&(s, phase)| plain_line(phase, Duration::from_secs(s), planned, "m"))
            .collect();
        assert_eq!(lines[0], "plaza-bot: ramp 1/90 s m");
        assert_eq!(
            lines[2], "plaza-bot: run 32/90 s m",
            "the run phase keeps counting"
        );
        assert_eq!(
            lines[3], "plaza-bot: run 95/95 s m",
            "a run longer than planned stretches the total"
        );
    }
}
