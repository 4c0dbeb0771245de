//! What loading a big space costs the tick: a 50,000-object space arriving from the store
//! while 100 people walk in another space.
//!
//! - `baseline/walk`: a tick of the walkers alone.
//! - `whole/50k`: the old way, every object spawned in the tick the store answered (the
//!   tick that also enters the waiting session and builds its `joined` snapshot).
//! - `slice/1000`: one tick bringing in a slice of `load_slice_objects` (1,000) objects.
//! - `enter/50k`: the tick in which the last slice lands and the waiting session enters:
//!   its `joined` snapshot of 50,000 objects is built (and, in `enter/50k+encode`, encoded
//!   with postcard as the deliver stage does).
//!
//! Run: `cargo bench --bench space_load`

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use glam::Vec3;
use plaza::edge::bridge::{Dialect, encode, event_to_wire};
use plaza_net::Codec;
use plaza_systems::{
    App, Command, ConnId, Input, Limits, LoadedSpace, ObjectState, Outbox, SessionMeta, SimTime,
    SpaceLoads, Strikes, Transform, build_app, step,
};
use uuid::Uuid;

const OBJECTS: usize = 50_000;
const WALKERS: usize = 100;

fn objects() -> Vec<ObjectState> {
    (0..OBJECTS)
        .map(|n| ObjectState {
            id: Uuid::from_u128(1_000_000 + n as u128),
            index: 0,
            model: Arc::from("crate"),
            transform: Transform::from_translation(Vec3::new(
                (n % 250) as f32,
                0.0,
                (n / 250) as f32,
            )),
            props: Arc::from(r#"{"color":"red"}"#),
            owner: Uuid::from_u128(2),
            version: 1,
        })
        .collect()
}

struct Bench {
    app: App,
    tick: u64,
}

impl Bench {
    /// Walkers in "plaza", and one session waiting for "warehouse" (requested, not loaded).
    fn new(slice: usize) -> Self {
        let limits = Limits {
            load_slice_objects: slice,
            ..Limits::default()
        };
        let mut bench = Self {
            app: build_app(limits, 7),
            tick: 0,
        };
        let connect = |i: usize, space: &str| {
            let conn = ConnId(i as u64 + 1);
            [
                Input::Connect {
                    conn,
                    session: Uuid::from_u128(10_000 + i as u128),
                    user: Uuid::from_u128(20_000 + i as u128),
                    name: Arc::from(format!("u{i}")),
                    admin: false,
                    meta: SessionMeta::default(),
                    strikes: Strikes::default(),
                    continued_from_ms: None,
                },
                Input::Command {
                    request: None,
                    conn,
                    command: Command::Join {
                        space: Arc::from(space),
                    },
                },
            ]
        };
        let mut inputs: Vec<Input> = (0..WALKERS).flat_map(|i| connect(i, "plaza")).collect();
        inputs.extend(connect(WALKERS, "warehouse"));
        bench.step(inputs);
        let plaza = LoadedSpace {
            id: Uuid::from_u128(1),
            name: Arc::from("plaza"),
            objects: Vec::new(),
            chat: Vec::new(),
            access: Default::default(),
        };
        bench.step(vec![Input::SpaceLoaded {
            name: Arc::from("plaza"),
            result: Ok(plaza),
        }]);
        bench
    }

    fn warehouse() -> Input {
        Input::SpaceLoaded {
            name: Arc::from("warehouse"),
            result: Ok(LoadedSpace {
                id: Uuid::from_u128(2),
                name: Arc::from("warehouse"),
                objects: objects(),
                chat: Vec::new(),
                access: Default::default(),
            }),
        }
    }

    fn walk(&self) -> Vec<Input> {
        (0..WALKERS)
            .map(|i| Input::Command {
                request: None,
                conn: ConnId(i as u64 + 1),
                command: Command::Pose {
                    transform: Transform::from_translation(Vec3::new(
                        (self.tick as f32 * 0.1 + i as f32).sin(),
                        0.0,
                        i as f32,
                    )),
                },
            })
            .collect()
    }

    fn step(&mut self, mut inputs: Vec<Input>) -> Vec<plaza_systems::Outgoing> {
        self.tick += 1;
        if self.tick > 2 {
            inputs.extend(self.walk());
        }
        let time = SimTime {
            tick: self.tick,
            unix_ms: self.tick as i64 * 50,
        };
        step(&mut self.app, time, inputs);
        std::mem::take(&mut self.app.world_mut().resource_mut::<Outbox>().0)
    }

    /// Steps until one slice is left to load.
    fn until_last_slice(&mut self) {
        self.step(vec![Self::warehouse()]);
        while self
            .app
            .world()
            .resource::<SpaceLoads>()
            .0
            .front()
            .is_some_and(|l| {
                l.objects.len() > self.app.world().resource::<Limits>().load_slice_objects
            })
        {
            self.step(Vec::new());
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("space_load");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("baseline/walk", |b| {
        let mut bench = Bench::new(1_000);
        b.iter(|| bench.step(Vec::new()))
    });
    group.bench_function("whole/50k", |b| {
        b.iter_batched(
            || (Bench::new(usize::MAX), Bench::warehouse()),
            |(mut bench, load)| bench.step(vec![load]),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("slice/1000", |b| {
        b.iter_batched(
            || {
                let mut bench = Bench::new(1_000);
                bench.step(vec![Bench::warehouse()]);
                bench
            },
            |mut bench| bench.step(Vec::new()),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("enter/50k", |b| {
        b.iter_batched(
            || {
                let mut bench = Bench::new(1_000);
                bench.until_last_slice();
                bench
            },
            |mut bench| bench.step(Vec::new()),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("enter/50k+encode", |b| {
        b.iter_batched(
            || {
                let mut bench = Bench::new(1_000);
                bench.until_last_slice();
                bench
            },
            |mut bench| {
                let out = bench.step(Vec::new());
                out.iter()
                    .filter_map(|o| event_to_wire(&o.event))
                    .map(|msg| encode(Dialect::current(Codec::Postcard), &msg).bytes.len())
                    .sum::<usize>()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
