//! The persist stage: turns this tick's changes into one [`WriteSet`] for the store writer.
//!
//! It reads change detection (`Changed<Version>`) and the tick log; objects that did not
//! change are not visited beyond bevy's per-entity change-tick check.

use bevy_ecs::prelude::*;

use crate::components::{InSpace, SavedVersion, Space, Version};
use crate::replicate::{ObjectData, object_state};
use crate::{ObjectRecord, TickLog, WriteSetOut};

/// Appends this tick's new spaces, changed and removed objects and chat lines to
/// [`WriteSetOut`].
pub fn persist(
    mut out: ResMut<WriteSetOut>,
    mut log: ResMut<TickLog>,
    spaces: Query<&Space>,
    mut changed: Query<(ObjectData, &InSpace, &mut SavedVersion), Changed<Version>>,
) {
    let out = &mut out.0;
    out.spaces.append(&mut log.new_spaces);
    out.chat.append(&mut log.chat);
    out.deleted.extend(log.removed.iter().map(|&(_, id)| id));

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
                let Ok(space) = spaces.get(in_space.0) else {
                    continue;
                };
                last_space = Some((in_space.0, space.id));
                space.id
            }
        };
        out.objects.push(ObjectRecord {
            space,
            state: object_state(data),
        });
    }
}

/// Clears the tick log at the end of the tick.
pub fn clear_tick_log(mut log: ResMut<TickLog>) {
    log.removed.clear();
    log.left.clear();
    log.chat.clear();
    log.new_spaces.clear();
}
