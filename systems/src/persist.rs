//! The persist stage: turns this tick's changes into one [`WriteSet`] for the store writer.
//!
//! It reads change detection (`Changed<Version>`) and the tick log; objects that did not
//! change are not visited beyond bevy's per-entity change-tick check.

use bevy_ecs::prelude::*;

use crate::components::{InSpace, SavedVersion, Session, Space, SpaceContents, Version};
use crate::replicate::{ObjectData, object_state};
use crate::{Limits, ObjectRecord, PresenceRecord, SimTime, TickLog, WriteSetOut};

/// Appends this tick's changed and removed objects, chat lines, sessions,
/// events and presence to [`WriteSetOut`].
pub fn persist(
    time: Res<SimTime>,
    limits: Res<Limits>,
    mut out: ResMut<WriteSetOut>,
    mut log: ResMut<TickLog>,
    spaces: Query<(Entity, &Space, &SpaceContents)>,
    sessions: Query<&Session>,
    mut changed: Query<(ObjectData, &InSpace, &mut SavedVersion), Changed<Version>>,
) {
    let out = &mut out.0;
    out.rows.append(&mut log.rows);
    let space_id = |entity| spaces.get(entity).ok().map(|(_, space, _)| space.id);
    out.rows.deleted.extend(
        log.removed
            .iter()
            .filter_map(|&(space, id)| Some((space_id(space)?, id))),
    );

    // Presence of spaces whose members changed, and now and then of every occupied one.
    let refresh = limits.presence_refresh_ticks > 0
        && time.tick.is_multiple_of(limits.presence_refresh_ticks);
    let mut due: Vec<Entity> = if refresh {
        spaces
            .iter()
            .filter(|(_, _, c)| !c.members.is_empty())
            .map(|(e, _, _)| e)
            .collect()
    } else {
        Vec::new()
    };
    due.append(&mut log.membership_changed);
    due.sort_unstable();
    due.dedup();
    for (_, space, contents) in due.into_iter().filter_map(|e| spaces.get(e).ok()) {
        let members = contents
            .members
            .iter()
            .filter_map(|&m| sessions.get(m).ok())
            .map(|s| (s.user, s.name.clone()))
            .collect();
        out.presence.push(PresenceRecord {
            space: space.id,
            members,
        });
    }

    // Objects of one space are usually together; remember the last space looked up.
    let mut last_space = None;
    for (data, in_space, mut saved) in &mut changed {
        let version = data.5.0;
        if saved.0 == version {
            continue;
        }
        saved.0 = version;
        let space = match last_space {
            Some((entity, id)) if entity == in_space.0 => id,
            _ => {
                let Some(id) = space_id(in_space.0) else {
                    continue;
                };
                last_space = Some((in_space.0, id));
                id
            }
        };
        out.rows.objects.push(ObjectRecord {
            space,
            state: object_state(data),
        });
    }
}

/// Clears the tick log at the end of the tick.
pub fn clear_tick_log(mut log: ResMut<TickLog>) {
    log.removed.clear();
    log.left.clear();
    // Without the persist stage (a world run without persistence) the rows go here.
    log.rows.clear();
    log.membership_changed.clear();
}
