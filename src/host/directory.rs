//! What the world holds, as seen from outside the tick thread: the loaded spaces with who
//! is in them. The tick thread republishes it every second; the HTTP API reads it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bevy_ecs::world::World;
use plaza_systems::components::{Access, Session, Space, SpaceContents};
use uuid::Uuid;

/// A person in a loaded space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// User id.
    pub user: Uuid,
    /// Display name.
    pub name: Arc<str>,
    /// Their session.
    pub session: Uuid,
}

/// A loaded space.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSpace {
    /// Space id.
    pub id: Uuid,
    /// Name.
    pub name: Arc<str>,
    /// Whether it is private.
    pub private: bool,
    /// Who is in it.
    pub people: Vec<Present>,
    /// Objects it holds now.
    pub objects: usize,
}

/// The latest published view of the loaded spaces.
#[derive(Debug, Default)]
pub struct Directory {
    spaces: RwLock<HashMap<Uuid, LiveSpace>>,
}

impl Directory {
    /// Replaces the view with the world's current state (on the tick thread).
    pub fn publish(&self, world: &mut World) {
        let mut spaces = HashMap::new();
        let mut query = world.query::<(&Space, &SpaceContents, Option<&Access>)>();
        let mut sessions = world.query::<&Session>();
        let world: &World = world;
        for (space, contents, access) in query.iter(world) {
            let people = contents
                .members
                .iter()
                .filter_map(|&m| sessions.get(world, m).ok())
                .map(|s| Present {
                    user: s.user,
                    name: s.name.clone(),
                    session: s.id,
                })
                .collect();
            spaces.insert(
                space.id,
                LiveSpace {
                    id: space.id,
                    name: space.name.clone(),
                    private: access.is_some_and(|a| a.0.private),
                    people,
                    objects: contents.objects.len(),
                },
            );
        }
        *self.spaces.write().unwrap_or_else(|p| p.into_inner()) = spaces;
    }

    /// A loaded space.
    pub fn get(&self, id: Uuid) -> Option<LiveSpace> {
        self.spaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Every loaded space.
    pub fn all(&self) -> Vec<LiveSpace> {
        self.spaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
