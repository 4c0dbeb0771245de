//! The fixed-rate loop on its own thread: each tick drains the inputs that arrived, runs
//! the world's schedule, hands events to connections' outbound queues, load requests to
//! the loader and the tick's writes to the store writer. It never waits on I/O.
//!
//! Deadlines come from the schedule (`start + n × period`), not from when the last tick
//! ended, so the rate does not drift. A tick that ends past the next deadline is an
//! overrun: it is counted, logged (at most every 5 s) and missed deadlines are skipped
//! rather than run back to back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bevy_ecs::world::World;
use crossbeam_channel::Receiver;
use plaza_systems::components::{ObjectId, Session, SpaceContents};
use plaza_systems::{App, ConnId, Inbox, Input, LoadRequests, Outbox, SimTime, WriteSetOut};
use tokio::sync::mpsc;

use super::datagrams::DatagramPost;
use super::deliver::Delivery;
use super::directory::Directory;
use crate::clock::now_ms;
use crate::edge::bridge::MotionBases;
use crate::edge::conn::{CloseReason, ConnHandle, Envelope};
use crate::store::writer::WriteSender;
use crate::telemetry::{StageClock, Telemetry, TickStats, thread_schedstat};

/// How often (in ticks) the world's sessions, spaces and objects are counted for telemetry;
/// counting walks every entity, so not every tick.
const WORLD_COUNT_TICKS: u64 = 20;

/// Everything the tick thread owns besides the world, which is not `Send` and so is built
/// on the thread itself.
pub(crate) struct TickLoop {
    /// Inputs from transports and the loader.
    pub envelopes: Receiver<Envelope>,
    /// Where load requests go (at most one per space being loaded, so bounded by spaces).
    pub loads: mpsc::UnboundedSender<Arc<str>>,
    /// The store writer.
    pub writer: WriteSender,
    /// Tick length.
    pub period: Duration,
    /// Set to stop after one last tick.
    pub stop: Arc<AtomicBool>,
    /// Published counters.
    pub stats: Arc<TickStats>,
    /// Histograms and per-transport counters.
    pub telemetry: Arc<Telemetry>,
    /// Where the loaded spaces and who is in them are published.
    pub directory: Arc<Directory>,
    /// Capacity of each outbound queue, for the too-slow message.
    pub outbound_queue_frames: usize,
    /// Where each tick's motion datagrams go.
    pub datagram_post: DatagramPost,
}

impl TickLoop {
    /// Runs until `stop` is set; the last tick applies what arrived and hands over its
    /// writes, then every connection is closed. Dropping `self` ends the writer's input.
    pub(crate) fn run(mut self, mut app: App) {
        let mut conns: HashMap<ConnId, ConnHandle> = HashMap::new();
        let mut bases = MotionBases::default();
        let mut tick = 0_u64;
        let mut next = Instant::now();
        let mut last_overrun_log: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            let stopping = self.stop.load(Ordering::Acquire);
            let began = Instant::now();
            let sched_before = thread_schedstat();
            tick += 1;
            self.tick(&mut app, (tick, stopping), &mut conns, &mut bases);
            let took = began.elapsed();
            self.record(tick, took);
            if let (Some((cpu0, wait0)), Some((cpu1, wait1))) = (sched_before, thread_schedstat()) {
                let t = &self.telemetry;
                t.tick_cpu.observe(cpu1.saturating_sub(cpu0) / 1000);
                t.tick_runqueue_wait
                    .observe(wait1.saturating_sub(wait0) / 1000);
            }
            if stopping {
                break;
            }
            next += self.period;
            let now = Instant::now();
            if now > next {
                let overruns = self.stats.overruns.fetch_add(1, Ordering::Relaxed) + 1;
                let missed = (now - next).as_nanos() / self.period.as_nanos();
                next += self.period * u32::try_from(missed).unwrap_or(u32::MAX);
                if last_overrun_log.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
                    last_overrun_log = Some(now);
                    tracing::warn!(
                        tick,
                        took_us = took.as_micros() as u64,
                        overruns,
                        "tick overran its period"
                    );
                }
            }
        }
        for handle in conns.values() {
            handle
                .close
                .close(CloseReason::going_away("server shutting down"));
        }
    }

    fn record(&self, tick: u64, took: Duration) {
        let us = took.as_micros() as u64;
        self.stats.tick.store(tick, Ordering::Relaxed);
        self.stats.last_tick_us.store(us, Ordering::Relaxed);
        self.stats.max_tick_us.fetch_max(us, Ordering::Relaxed);
        self.telemetry.record_tick(took);
    }

    /// One tick, in phases: take the inputs that arrived, run the world's schedule,
    /// deliver its events, hand over load requests and writes, time the stages.
    fn tick(
        &mut self,
        app: &mut App,
        (tick, last): (u64, bool),
        conns: &mut HashMap<ConnId, ConnHandle>,
        bases: &mut MotionBases,
    ) {
        let began = Instant::now();
        let world = app.world_mut();
        self.take_inputs(world, conns);
        if last {
            // Sessions held for their clients end with the server, in its last tick.
            let held = plaza_systems::resume::held_connections(world);
            let mut inbox = world.resource_mut::<Inbox>();
            for input in &mut inbox.0 {
                if let Input::Suspend { conn, .. } = *input {
                    *input = Input::Disconnect { conn };
                }
            }
            inbox
                .0
                .extend(held.into_iter().map(|conn| Input::Disconnect { conn }));
        }
        *world.resource_mut::<SimTime>() = SimTime {
            tick,
            unix_ms: now_ms(),
        };
        app.update();
        let updated = Instant::now();

        let world = app.world_mut();
        let mut outgoing = std::mem::take(&mut world.resource_mut::<Outbox>().0);
        let mut delivery = Delivery {
            bases,
            post: &mut self.datagram_post,
            stats: &self.stats,
            outbound_queue_frames: self.outbound_queue_frames,
        };
        delivery.deliver(&mut outgoing, conns);
        world.resource_mut::<Outbox>().0 = outgoing;
        let delivered = Instant::now();

        self.hand_over(world);
        let submitted = Instant::now();
        self.time_stages(world, [began, updated, delivered, submitted]);
        if tick % WORLD_COUNT_TICKS == 1 {
            self.count_world(world);
        }
    }

    /// Moves the inputs waiting now into the world's inbox, remembering the handles of
    /// connections that registered and forgetting those that ended.
    fn take_inputs(&self, world: &mut World, conns: &mut HashMap<ConnId, ConnHandle>) {
        let mut inbox = world.resource_mut::<Inbox>();
        // Only what is there now: inputs arriving during the tick wait for the next one.
        let arrived = self.envelopes.len();
        self.telemetry.record_inbox(arrived);
        for envelope in self.envelopes.try_iter().take(arrived) {
            match envelope {
                Envelope::Register {
                    conn,
                    handle,
                    input,
                } => {
                    if let Input::Resume { from, .. } = &input {
                        conns.remove(from);
                    }
                    conns.insert(conn, handle);
                    inbox.0.push(input);
                }
                Envelope::Input(input) => {
                    if let Input::Disconnect { conn } | Input::Suspend { conn, .. } = &input {
                        conns.remove(conn);
                    }
                    inbox.0.push(input);
                }
            }
        }
    }

    /// Hands the tick's load requests to the loader and its writes to the store writer.
    fn hand_over(&self, world: &mut World) {
        for name in world.resource_mut::<LoadRequests>().0.drain(..) {
            // The loader ends only after the tick thread; a failed send means shutdown.
            let _ = self.loads.send(name);
        }
        let writes = std::mem::take(&mut world.resource_mut::<WriteSetOut>().0);
        self.writer.submit(writes);
    }

    /// Stage times: the world's stages from the marks its clock systems left, delivery
    /// (encoding and queueing) and the hand-over to the writer from the instants the tick
    /// began, the schedule ended, delivery ended and the hand-over ended.
    fn time_stages(&self, world: &mut World, [began, updated, delivered, submitted]: [Instant; 4]) {
        let ends = std::mem::take(&mut world.resource_mut::<StageClock>().ends);
        if let [
            Some(ingested),
            Some(simulated),
            Some(replicated),
            Some(persisted),
        ] = ends
        {
            let stages = &self.telemetry.stages;
            stages[0].observe_duration(ingested - began);
            stages[1].observe_duration(simulated - ingested);
            stages[2].observe_duration(replicated - simulated);
            stages[3].observe_duration(delivered - updated);
            stages[4].observe_duration((persisted - replicated) + (submitted - delivered));
        }
    }

    /// Publishes how many sessions, spaces and objects the world holds.
    fn count_world(&self, world: &mut World) {
        let t = &self.telemetry;
        let sessions = world.query::<&Session>().iter(world).count();
        let (mut loaded, mut active) = (0_usize, 0_usize);
        for contents in world.query::<&SpaceContents>().iter(world) {
            loaded += 1;
            active += usize::from(!contents.members.is_empty());
        }
        let objects = world.query::<&ObjectId>().iter(world).count();
        t.sessions.store(sessions as u64, Ordering::Relaxed);
        t.spaces_loaded.store(loaded as u64, Ordering::Relaxed);
        t.spaces_active.store(active as u64, Ordering::Relaxed);
        t.objects.store(objects as u64, Ordering::Relaxed);
        self.directory.publish(world);
    }
}
