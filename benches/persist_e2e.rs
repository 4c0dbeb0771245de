//! End to end at 20 Hz against the real PostgreSQL and Redis: 100k persisted objects, 10 %
//! of them changed every tick. Measures what the tick thread pays for persistence each tick
//! (persist stage + handing the write set to the writer) and whether the writer keeps up
//! (flush sizes and durations, the most rows ever pending, how long the last changes take
//! to land once changes stop).
//!
//! Run: `cargo bench --bench persist_e2e` (20 s; under `cargo test` it runs 2 s). With
//! `E2E_FENCED=1` the space is claimed as a cluster node would, and every flush is fenced;
//! `E2E_PARALLEL_WRITES=N` sets `parallel_writes`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use glam::Vec3;
use plaza::Config;
use plaza::config::SecretUrl;
use plaza::store::writer::{self, WriterConfig};
use plaza::store::{NewSpace, Store};
use plaza::telemetry::WriterStats;
use plaza_systems::components::{
    ChatLog, InSpace, Model, ObjectId, Owner, Props, SavedVersion, Space, SpaceContents, Version,
};
use plaza_systems::{Limits, SimTime, TickLog, Transform, WriteSetOut, clear_tick_log, persist};
use sqlx::postgres::PgPool;
use uuid::Uuid;

const OBJECTS: usize = 100_000;
const CHANGED_PER_TICK: usize = OBJECTS / 10;
const TICK: Duration = Duration::from_millis(50);

#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct Persist;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let run_for = if bench {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(2)
    };
    let database = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let schema = format!("e2e_{}", Uuid::new_v4().simple());
    runtime.block_on(async {
        let admin = PgPool::connect(&database)
            .await
            .expect("PostgreSQL answers");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("schema");
    });
    let config = Config {
        database_url: Some(SecretUrl::new(format!(
            "{database}?options[search_path]={schema}"
        ))),
        redis_url: Some(SecretUrl::new(redis)),
        redis_prefix: format!("e2e:{}:", Uuid::new_v4().simple()),
        ..Config::default()
    };
    let _guard = runtime.enter();
    let store = runtime.block_on(Store::open(&config)).expect("stores open");
    let owner = runtime
        .block_on(store.durable.ensure_user(Uuid::new_v4(), "e2e", 0))
        .expect("a user");
    let stats = Arc::new(WriterStats::default());
    let space_id = runtime
        .block_on(store.durable.ensure_space(&NewSpace::public("e2e", 0)))
        .expect("a space")
        .0
        .id;
    let fences = match (&store.durable, std::env::var_os("E2E_FENCED")) {
        (plaza::store::Durable::Postgres(pg), Some(_)) => {
            let fences = Arc::new(plaza::store::Fences::new(Arc::from("e2e-node")));
            let claim = runtime
                .block_on(pg.claim_space(space_id, "e2e-node", 600_000))
                .expect("claims the space");
            let plaza::store::postgres::cluster::Claim::Owned(epoch) = claim else {
                panic!("a fresh space is claimable: {claim:?}");
            };
            fences.owned(space_id, epoch);
            println!("fenced: every flush checks epoch {epoch}");
            Some(fences)
        }
        _ => None,
    };
    let writer_config = WriterConfig {
        flush_interval: Duration::from_millis(config.flush_interval_ms),
        max_batch_rows: config.max_batch_rows,
        shutdown_timeout: Duration::from_secs(60),
        write_timeout: Duration::from_secs(60),
        // E2E_PARALLEL_WRITES: space transactions in flight at once (default: the config's).
        parallel_writes: std::env::var("E2E_PARALLEL_WRITES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(config.parallel_writes),
        fences,
    };
    let (sender, writer_task) = writer::spawn(store.clone(), writer_config, stats.clone());

    // The world: one space of 100k objects, nobody in it, as the persist stage sees it.
    let mut world = World::new();
    world.insert_resource(Limits::default());
    world.init_resource::<SimTime>();
    world.init_resource::<WriteSetOut>();
    world.init_resource::<TickLog>();
    let space = world
        .spawn((
            Space {
                id: space_id,
                name: Arc::from("e2e"),
            },
            SpaceContents::default(),
            ChatLog::default(),
        ))
        .id();
    let (model, props): (Arc<str>, Arc<str>) = (Arc::from("cube"), Arc::from(r#"{"color":"red"}"#));
    let objects: Vec<Entity> = (0..OBJECTS)
        .map(|n| {
            world
                .spawn((
                    ObjectId(Uuid::new_v4()),
                    InSpace(space),
                    Model(model.clone()),
                    Transform::from_translation(Vec3::splat(n as f32)),
                    Props(props.clone()),
                    Owner(owner),
                    Version(1),
                    SavedVersion(0),
                ))
                .id()
        })
        .collect();
    let mut schedule = Schedule::new(Persist);
    schedule.set_executor(SingleThreadedExecutor::new());
    schedule.add_systems((persist, clear_tick_log).chain());
    let mut run_tick = |world: &mut World, tick: u64| -> (Duration, usize) {
        world.resource_mut::<SimTime>().tick = tick;
        let start = Instant::now();
        schedule.run(world);
        let set = std::mem::take(&mut world.resource_mut::<WriteSetOut>().0);
        let rows = set.rows.objects.len();
        sender.submit(set);
        let took = start.elapsed();
        world.clear_trackers();
        (took, rows)
    };

    // Load: every object, then wait until they are stored.
    let loaded_at = Instant::now();
    let (_, rows) = run_tick(&mut world, 1);
    assert_eq!(rows, OBJECTS);
    let drained = |stats: &WriterStats| {
        stats.rows.load(Ordering::Relaxed) > 0 && stats.pending_rows.load(Ordering::Relaxed) == 0
    };
    while !drained(&stats) {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "initial load of {OBJECTS} objects stored in {:?}",
        loaded_at.elapsed()
    );

    // Run: 10 % of the objects change every tick at 20 Hz.
    stats.max_lag_us.store(0, Ordering::Relaxed);
    let (flushes_before, rows_before) = (
        stats.flushes.load(Ordering::Relaxed),
        stats.rows.load(Ordering::Relaxed),
    );
    let mut costs = Vec::new();
    let mut flush_us = Vec::new();
    let mut last_flushes = flushes_before;
    let (mut max_pending, mut cursor, mut changed) = (0_u64, 0_usize, 0_usize);
    let started = Instant::now();
    let mut next = started;
    let mut tick = 1;
    while started.elapsed() < run_for {
        for _ in 0..CHANGED_PER_TICK {
            let entity = objects[cursor];
            cursor = (cursor + 1) % OBJECTS;
            if let Some(mut t) = world.get_mut::<Transform>(entity) {
                t.translation.x += 1.0;
            }
            if let Some(mut v) = world.get_mut::<Version>(entity) {
                v.0 += 1;
            }
        }
        tick += 1;
        let (took, rows) = run_tick(&mut world, tick);
        changed += rows;
        costs.push(took.as_micros() as u64);
        max_pending = max_pending.max(stats.pending_rows.load(Ordering::Relaxed));
        let flushes = stats.flushes.load(Ordering::Relaxed);
        if flushes != last_flushes {
            last_flushes = flushes;
            flush_us.push(stats.last_flush_us.load(Ordering::Relaxed));
        }
        next += TICK;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let elapsed = started.elapsed();
    let stop = Instant::now();
    while stats.pending_rows.load(Ordering::Relaxed) > 0
        || stats.flushes.load(Ordering::Relaxed) == last_flushes
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let drain = stop.elapsed();
    let flushes = stats.flushes.load(Ordering::Relaxed) - flushes_before;
    let written = stats.rows.load(Ordering::Relaxed) - rows_before;
    drop(sender);
    let report = runtime.block_on(writer_task).expect("the writer ends");

    costs.sort_unstable();
    flush_us.sort_unstable();
    println!(
        "ticks: {} in {:.1} s ({} objects changed per tick)",
        costs.len(),
        elapsed.as_secs_f64(),
        CHANGED_PER_TICK
    );
    println!(
        "tick-thread persistence cost: p50 {} µs, p99 {} µs, max {} µs",
        percentile(&costs, 0.5),
        percentile(&costs, 0.99),
        costs[costs.len() - 1]
    );
    println!(
        "object changes handed over: {:.0}/s; rows written after coalescing: {:.0}/s",
        changed as f64 / elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64()
    );
    if !flush_us.is_empty() {
        println!(
            "flushes: {flushes} ({:.0} rows each on average), duration p50 {} ms, max {} ms",
            written as f64 / flushes.max(1) as f64,
            percentile(&flush_us, 0.5) / 1000,
            flush_us[flush_us.len() - 1] / 1000
        );
    }
    println!(
        "most rows ever pending: {max_pending}; last changes stored {} ms after changes stopped",
        drain.as_millis()
    );
    println!(
        "writer lag (age of a flush's oldest change when it committed): max {} ms, last {} ms; overflow merges on the tick thread: {}",
        stats.max_lag_us.load(Ordering::Relaxed) / 1000,
        stats.last_lag_us.load(Ordering::Relaxed) / 1000,
        stats.overflow_merges.load(Ordering::Relaxed)
    );
    println!("unwritten at shutdown: {}", report.unwritten_rows);

    runtime.block_on(async {
        let admin = PgPool::connect(&database)
            .await
            .expect("PostgreSQL answers");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await;
    });
}
