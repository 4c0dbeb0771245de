//! The tick schedule and its stages, and the plugins that fill them.

use bevy_app::{App, Plugin};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};

use crate::grid::{self, Grid};
use crate::{
    IdGen, Inbox, Index, Limits, LoadRequests, Outbox, SimTime, SpaceLoads, TickLog, WriteSetOut,
    ingest, interest, persist, queue, replicate, sessions,
};

/// The schedule run once per tick.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tick;

/// The stages of a tick, run in this order.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Apply the inputs that arrived since the last tick, in order.
    Ingest,
    /// Advance the world by one tick (nothing moves by itself yet).
    Simulate,
    /// Tell clients what changed.
    Replicate,
    /// Hand what changed to the store.
    Persist,
    /// Reset per-tick buffers.
    Cleanup,
}

/// The core: resources, the ordered stages and the ingest system.
pub struct WorldPlugin {
    /// Limits to enforce.
    pub limits: Limits,
    /// Seed for ids made in the world (sessions' object and chat ids).
    pub id_seed: u128,
}

impl Plugin for WorldPlugin {
    fn build(&self, app: &mut App) {
        let mut schedule = Schedule::new(Tick);
        // A tick is a handful of short systems on one thread; a thread pool would only add
        // hand-off latency on a 2-core machine.
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets(
            (
                Stage::Ingest,
                Stage::Simulate,
                Stage::Replicate,
                Stage::Persist,
                Stage::Cleanup,
            )
                .chain(),
        );
        app.add_schedule(schedule);
        app.main_mut().update_schedule = Some(Tick.intern());
        app.insert_resource(self.limits.clone())
            .insert_resource(IdGen::from_seed(self.id_seed))
            .init_resource::<SimTime>()
            .init_resource::<Inbox>()
            .init_resource::<crate::reply::CurrentRequest>()
            .init_resource::<Outbox>()
            .init_resource::<LoadRequests>()
            .init_resource::<SpaceLoads>()
            .init_resource::<WriteSetOut>()
            .init_resource::<Index>()
            .init_resource::<TickLog>()
            .add_systems(
                Tick,
                (
                    ingest::apply_inputs,
                    sessions::load_slices,
                    queue::admit_waiting,
                )
                    .chain()
                    .in_set(Stage::Ingest),
            )
            .add_systems(Tick, persist::clear_tick_log.in_set(Stage::Cleanup));
    }
}

/// Replication: deltas and join snapshots, per space (no view radius) or per session
/// (interest management, with the spatial grid kept up to date first).
pub struct ReplicationPlugin;

impl Plugin for ReplicationPlugin {
    fn build(&self, app: &mut App) {
        let cell_size = app
            .world()
            .get_resource::<Limits>()
            .and_then(|limits| limits.view_radius)
            .unwrap_or(1.0);
        app.insert_resource(Grid::new(cell_size))
            .add_systems(
                Tick,
                replicate::replicate
                    .run_if(not(interest::in_view))
                    .in_set(Stage::Replicate),
            )
            .add_systems(
                Tick,
                (grid::maintain_grid, interest::replicate_in_view)
                    .chain()
                    .run_if(interest::in_view)
                    .in_set(Stage::Replicate),
            );
    }
}

/// Persistence: one write set per tick.
pub struct PersistencePlugin;

impl Plugin for PersistencePlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Tick, persist::persist.in_set(Stage::Persist));
    }
}

/// An app with every plugin, as the server runs it. Drive it with [`step`].
pub fn build_app(limits: Limits, id_seed: u128) -> App {
    let mut app = App::empty();
    app.add_plugins((
        WorldPlugin { limits, id_seed },
        ReplicationPlugin,
        PersistencePlugin,
    ));
    app
}

/// Runs one tick at `time`, after queueing `inputs`.
pub fn step(app: &mut App, time: SimTime, inputs: impl IntoIterator<Item = crate::Input>) {
    let world = app.world_mut();
    *world.resource_mut::<SimTime>() = time;
    world.resource_mut::<Inbox>().0.extend(inputs);
    app.update();
}
