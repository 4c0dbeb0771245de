//! Plaza's world: the components, resources and systems of a tick, with no I/O, no sockets
//! and no clock. Inputs go into [`Inbox`]; each run of the [`Tick`] schedule applies them,
//! replicates what changed into [`Outbox`] and what must be stored into [`WriteSetOut`].
//! Time comes in as the [`SimTime`] resource, so tests step the world deterministically.

mod chat;
pub mod components;
mod deletion;
mod grid;
mod handoff;
mod ingest;
mod interest;
mod objects;
mod persist;
pub mod queue;
mod replicate;
mod reply;
mod resources;
pub mod resume;
mod rows;
mod schedule;
mod sessions;
mod sharing;
pub mod slots;
mod strikes;
mod vocabulary;

pub use components::{ConnId, Transform};
pub use grid::{Grid, maintain_grid};
pub use interest::{View, in_view, replicate_in_view};
pub use persist::{clear_tick_log, persist};
pub use replicate::replicate;
pub use resources::{
    IdGen, Inbox, Index, Limits, LoadRequests, Outbox, SimTime, SpaceLoad, SpaceLoads, TickLog,
    WriteSetOut,
};
pub use rows::{Rows, SpaceRows};
pub use schedule::{
    PersistencePlugin, ReplicationPlugin, Stage, Tick, WorldPlugin, build_app, step,
};
pub use slots::{Slot, SlotPool, SpaceSlots};
pub use strikes::{StrikePolicy, Strikes};
pub use vocabulary::{
    AvatarPose, ChatLine, Command, Delta, ErrorKind, Event, EventKind, EventRecord, Input,
    LoadedSpace, NodeAddress, ObjectRecord, ObjectState, Outgoing, PresenceRecord, Recipients,
    SessionMeta, SessionRecord, ShareKind, ShareRecord, ShareState, Snapshot, SpaceAccess,
    Transport, UserState, VisitRecord, WriteSet,
};

pub use bevy_app::App;

#[cfg(test)]
mod tests;
