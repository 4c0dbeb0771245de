//! Per-tick persistence cost: the persist system (change detection over every object) plus
//! building the tick's write set, for 1k/10k/100k objects with 0 %, 1 %, 10 % and 100 %
//! changed per tick. Changing the objects happens outside the timed region.
//!
//! Run: `cargo bench --bench persist_tick`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glam::Vec3;
use plaza_systems::components::{
    ChatLog, InSpace, Model, ObjectId, Owner, Props, SavedVersion, Space, SpaceContents, Version,
};
use plaza_systems::{
    Limits, ObjectRecord, ObjectState, SimTime, TickLog, Transform, WriteSetOut, clear_tick_log,
    persist,
};
use uuid::Uuid;

#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct PersistOnly;

struct Bench {
    world: World,
    schedule: Schedule,
    objects: Vec<Entity>,
    cursor: usize,
}

impl Bench {
    fn new(count: usize) -> Self {
        let mut world = World::new();
        world.init_resource::<WriteSetOut>();
        world.init_resource::<TickLog>();
        world.init_resource::<SimTime>();
        world.init_resource::<Limits>();
        let space = world
            .spawn((
                Space {
                    id: Uuid::from_u128(1),
                    name: Arc::from("bench"),
                },
                SpaceContents::default(),
                ChatLog::default(),
            ))
            .id();
        let model: Arc<str> = Arc::from("cube");
        let props: Arc<str> = Arc::from(r#"{"color":"red"}"#);
        let objects = (0..count)
            .map(|n| {
                world
                    .spawn((
                        ObjectId(Uuid::from_u128(1_000 + n as u128)),
                        InSpace(space),
                        Model(model.clone()),
                        Transform::from_translation(Vec3::splat(n as f32)),
                        Props(props.clone()),
                        Owner(Uuid::from_u128(2)),
                        Version(1),
                        SavedVersion(1),
                    ))
                    .id()
            })
            .collect();
        let mut schedule = Schedule::new(PersistOnly);
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.add_systems((persist, clear_tick_log).chain());
        let mut bench = Self {
            world,
            schedule,
            objects,
            cursor: 0,
        };
        bench.run(); // first run sees everything as added; start from a clean slate
        bench
    }

    /// Changes `count` objects (position and version), rotating through all of them.
    fn change(&mut self, count: usize) {
        for _ in 0..count {
            let entity = self.objects[self.cursor];
            self.cursor = (self.cursor + 1) % self.objects.len();
            if let Some(mut transform) = self.world.get_mut::<Transform>(entity) {
                transform.translation.x += 1.0;
            }
            if let Some(mut version) = self.world.get_mut::<Version>(entity) {
                version.0 += 1;
            }
        }
    }

    /// One tick's persist stage; returns rows in the write set.
    fn run(&mut self) -> usize {
        self.schedule.run(&mut self.world);
        let set = std::mem::take(&mut self.world.resource_mut::<WriteSetOut>().0);
        // As App::update does after each tick.
        self.world.clear_trackers();
        set.rows.objects.len()
    }
}

fn persist_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("persist_tick");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for count in [1_000, 10_000, 100_000] {
        let mut bench = Bench::new(count);
        for percent in [0, 1, 10, 100] {
            let changed = count * percent / 100;
            bench.change(changed);
            assert_eq!(
                bench.run(),
                changed,
                "the write set holds exactly the changed objects"
            );
            group.throughput(Throughput::Elements(count as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{count}_objects"), format!("{percent}pct_changed")),
                &changed,
                |b, &changed| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            bench.change(changed);
                            let start = Instant::now();
                            let rows = bench.run();
                            total += start.elapsed();
                            std::hint::black_box(rows);
                        }
                        total
                    })
                },
            );
        }
    }
    group.finish();
}

/// Baseline: the least any design must do per tick, copying the changed objects' state
/// out of a plain `Vec` whose changed indices are already known (no change detection).
fn baseline_vec_copy(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline_vec_copy");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for count in [1_000, 10_000, 100_000] {
        let objects: Vec<ObjectState> = (0..count)
            .map(|n| ObjectState {
                id: Uuid::from_u128(1_000 + n as u128),
                index: 0,
                model: Arc::from("cube"),
                transform: Transform::from_translation(Vec3::splat(n as f32)),
                props: Arc::from(r#"{"color":"red"}"#),
                owner: Uuid::from_u128(2),
                version: 1,
            })
            .collect();
        for percent in [1, 10, 100] {
            let changed: Vec<usize> = (0..count * percent / 100).collect();
            group.throughput(Throughput::Elements(count as u64));
            group.bench_function(
                BenchmarkId::new(format!("{count}_objects"), format!("{percent}pct_changed")),
                |b| {
                    b.iter(|| {
                        let rows: Vec<ObjectRecord> = changed
                            .iter()
                            .map(|&i| ObjectRecord {
                                space: Uuid::from_u128(1),
                                state: objects[i].clone(),
                            })
                            .collect();
                        std::hint::black_box(rows)
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, persist_tick, baseline_vec_copy);
criterion_main!(benches);
