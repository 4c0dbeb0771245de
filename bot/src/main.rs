//! `plaza-bot`: a load test made of headless clients. It connects N bots over QUIC,
//! WebTransport or WebSocket to K spaces over a ramp, lets them walk, build and chat for a
//! while, and reports what they saw (connections, round trips, update latency, traffic,
//! errors) next to what the server measured about itself over the same window. Thresholds
//! on the command line turn it into a release gate: a missed one exits with status 1.

mod args;
mod progress;
mod report;
mod server_stats;
mod spaces;
mod stats;
mod swarm;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch;

use crate::args::{BotArgs, Transport};
use crate::progress::Progress;
use crate::report::{Report, RunSettings};
use crate::server_stats::{ServerReport, discover, read_statistics};
use crate::stats::{Phase, Recorder, TransportReport};
use crate::swarm::{Plan, bot};

/// Thousands of bots decode small messages all the time: mimalloc, as in the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = BotArgs::parse();
    anyhow::ensure!(args.bots >= 1, "--bots must be at least 1");
    anyhow::ensure!(
        !args.transport.is_empty(),
        "--transport needs at least one transport"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(run(args.clone()))?;
    println!("{}", report.table());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).context("report to JSON")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    // Bots' sockets close with the runtime; don't wait for their goodbyes.
    runtime.shutdown_timeout(Duration::from_secs(2));
    if !report.passed {
        std::process::exit(1);
    }
    Ok(())
}

async fn run(args: BotArgs) -> anyhow::Result<Report> {
    let target = discover(&args.url).await?;
    let run_id = format!(
        "{:06x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
            & 0xFF_FFFF
    );
    let space_names: Vec<String> = (0..args.spaces.max(1))
        .map(|i| format!("{}-{i}", args.space_prefix))
        .collect();
    let host_name = format!("{}-host-{run_id}", args.space_prefix);
    let run_spaces = spaces::RunSpaces::prepare(target.http, &host_name, &space_names).await?;
    let (quic_endpoints, wt_endpoints) = Plan::endpoints(&args, &target)?;
    let plan = Arc::new(Plan {
        args: args.clone(),
        target,
        run_id,
        epoch: Instant::now(),
        phase: Phase::default(),
        quic_endpoints,
        wt_endpoints,
    });
    let mut recorders: BTreeMap<&'static str, Arc<Recorder>> = BTreeMap::new();
    for &t in &args.transport {
        recorders
            .entry(t.name())
            .or_insert_with(|| Arc::new(Recorder::new(t)));
    }
    let recorder_of = |t: Transport| recorders[t.name()].clone();

    let progress = Arc::new(Progress::new(args.quiet, args.ramp + args.duration));
    let phase = Arc::new(std::sync::Mutex::new("ramp"));
    let live = {
        let recorders: Vec<Arc<Recorder>> = recorders.values().cloned().collect();
        let (progress, phase) = (progress.clone(), phase.clone());
        tokio::spawn(async move {
            let mut last = (Instant::now(), 0_u64, 0_u64);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let sum =
                    |f: &dyn Fn(&Recorder) -> u64| recorders.iter().map(|r| f(r)).sum::<u64>();
                let ok = sum(&|r| r.succeeded.load(Ordering::Relaxed));
                let tried = sum(&|r| r.attempted.load(Ordering::Relaxed));
                let msgs = sum(&|r| r.messages.load(Ordering::Relaxed));
                let bytes = sum(&|r| r.bytes.load(Ordering::Relaxed));
                let secs = last.0.elapsed().as_secs_f64().max(0.001);
                let now = *phase.lock().unwrap_or_else(|e| e.into_inner());
                progress.show(
                    now,
                    &format!(
                        "joined {ok}/{tried}  {:.0} msg/s  {:.1} MB/s in",
                        msgs.saturating_sub(last.1) as f64 / secs,
                        bytes.saturating_sub(last.2) as f64 / secs / 1e6
                    ),
                );
                last = (Instant::now(), msgs, bytes);
            }
        })
    };
    let set_phase = |name: &'static str| *phase.lock().unwrap_or_else(|e| e.into_inner()) = name;

    let (stop_tx, stop_rx) = watch::channel(false);
    let started = tokio::time::Instant::now();
    let mut bots = Vec::with_capacity(args.bots);
    for i in 0..args.bots {
        let at = started + args.ramp.mul_f64(i as f64 / args.bots as f64);
        tokio::time::sleep_until(at).await;
        let transport = args.transport[i % args.transport.len()];
        let rec = recorder_of(transport);
        rec.bots.fetch_add(1, Ordering::Relaxed);
        bots.push(tokio::spawn(bot(i, plan.clone(), rec, stop_rx.clone())));
    }
    // Let the last connections finish (or time out) before measuring.
    set_phase("settle");
    let settle_until = tokio::time::Instant::now() + args.connect_timeout;
    while tokio::time::Instant::now() < settle_until {
        let done: u64 = recorders
            .values()
            .map(|r| r.succeeded.load(Ordering::Relaxed) + r.failed_count())
            .sum();
        if done >= args.bots as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let before = read_statistics(plan.target.http).await;
    let measured_from = Instant::now();
    plan.phase.set_measuring(true);
    set_phase("run");
    tokio::time::sleep(args.duration).await;
    plan.phase.set_measuring(false);
    let wall = measured_from.elapsed();
    let after = read_statistics(plan.target.http).await;
    let _ = stop_tx.send(true);
    for handle in bots {
        let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
    }
    live.abort();
    progress.finish();
    if args.keep_spaces {
        eprintln!(
            "kept the {} temporary space(s) this run made (--keep-spaces)",
            run_spaces.made()
        );
    } else if let Err(error) = run_spaces.clean_up().await {
        eprintln!("{error:#}");
    }

    let server = match (&before, &after) {
        (Ok(b), Ok(a)) => ServerReport::between(b, a, wall),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("server statistics unavailable: {e:#}");
            None
        }
    };
    let all: Vec<&Recorder> = recorders.values().map(|r| &**r).collect();
    let mut report = Report {
        settings: RunSettings::of(&args),
        transports: all
            .iter()
            .map(|r| TransportReport::of(r.transport.name(), &[r]))
            .collect(),
        overall: TransportReport::of("all", &all),
        server,
        checks: Vec::new(),
        passed: true,
    };
    report.check(&args);
    Ok(report)
}
