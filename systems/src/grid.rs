//! The spatial grid that interest management asks "who is near this point?": per space,
//! columns of cells on the x/z plane, each holding the objects and avatars inside it.
//!
//! Cells are as wide as the view radius, so a query reads at most 3 × 3 cells and costs in
//! proportion to what is near, not to everything in the space.

use bevy_ecs::entity::EntityHashMap;
use bevy_ecs::prelude::*;
// foldhash: the grid is probed ~10 times per viewer per tick, where SipHash showed up.
use bevy_platform::collections::HashMap;
use glam::{IVec2, Vec3};

use crate::components::{Avatar, InSpace, ObjectId, Transform};

/// A space and a cell column within it.
type CellKey = (Entity, IVec2);

/// Where every object and avatar in a space is, by cell. Kept up to date by
/// [`maintain_grid`] before replication reads it.
#[derive(Resource, Debug)]
pub struct Grid {
    cell_size: f32,
    cells: HashMap<CellKey, Vec<(Entity, Vec3)>>,
    placed: EntityHashMap<CellKey>,
}

impl Grid {
    /// An empty grid with cells `cell_size` metres wide (use the view radius).
    pub fn new(cell_size: f32) -> Self {
        Self {
            cell_size: cell_size.max(0.001),
            cells: HashMap::default(),
            placed: EntityHashMap::default(),
        }
    }

    fn cell_of(&self, pos: Vec3) -> IVec2 {
        // Far-out positions saturate into the outermost cells instead of wrapping.
        IVec2::new(
            (pos.x / self.cell_size).floor() as i32,
            (pos.z / self.cell_size).floor() as i32,
        )
    }

    /// Puts `entity` at `pos` in `space`, moving it from wherever it was.
    pub fn place(&mut self, entity: Entity, space: Entity, pos: Vec3) {
        let key = (space, self.cell_of(pos));
        if let Some(&old) = self.placed.get(&entity) {
            if old == key {
                if let Some(slot) = self
                    .cells
                    .get_mut(&key)
                    .and_then(|cell| cell.iter_mut().find(|(e, _)| *e == entity))
                {
                    slot.1 = pos;
                }
                return;
            }
            self.take_out(entity, old);
        }
        self.cells.entry(key).or_default().push((entity, pos));
        self.placed.insert(entity, key);
    }

    /// Removes `entity`, if it is in the grid.
    pub fn remove(&mut self, entity: Entity) {
        if let Some(key) = self.placed.remove(&entity) {
            self.take_out(entity, key);
        }
    }

    fn take_out(&mut self, entity: Entity, key: CellKey) {
        if let Some(cell) = self.cells.get_mut(&key) {
            if let Some(i) = cell.iter().position(|(e, _)| *e == entity) {
                cell.swap_remove(i);
            }
            if cell.is_empty() {
                self.cells.remove(&key);
            }
        }
    }

    /// Appends to `out` every entity of `space` within `radius` of `center`, with its
    /// squared distance.
    pub fn within(&self, space: Entity, center: Vec3, radius: f32, out: &mut Vec<(Entity, f32)>) {
        let low = self.cell_of(center - Vec3::splat(radius));
        let high = self.cell_of(center + Vec3::splat(radius));
        let radius_sq = radius * radius;
        for x in low.x..=high.x {
            for z in low.y..=high.y {
                let Some(cell) = self.cells.get(&(space, IVec2::new(x, z))) else {
                    continue;
                };
                out.extend(cell.iter().filter_map(|&(e, pos)| {
                    let d2 = pos.distance_squared(center);
                    (d2 <= radius_sq).then_some((e, d2))
                }));
            }
        }
    }

    /// How many entities the grid holds.
    pub fn len(&self) -> usize {
        self.placed.len()
    }

    /// Whether the grid is empty.
    pub fn is_empty(&self) -> bool {
        self.placed.is_empty()
    }
}

/// Moves what moved, adds what entered a space and removes what left one or is gone.
pub fn maintain_grid(
    mut grid: ResMut<Grid>,
    mut gone: RemovedComponents<InSpace>,
    objects: Query<
        (Entity, &Transform, &InSpace),
        (With<ObjectId>, Or<(Changed<Transform>, Changed<InSpace>)>),
    >,
    avatars: Query<(Entity, &Avatar, &InSpace), Or<(Changed<Avatar>, Changed<InSpace>)>>,
) {
    // Removals first: an entity that left one space and entered another this tick is
    // placed again below.
    for entity in gone.read() {
        grid.remove(entity);
    }
    for (entity, transform, in_space) in &objects {
        grid.place(entity, in_space.0, transform.translation);
    }
    for (entity, avatar, in_space) in &avatars {
        grid.place(entity, in_space.0, avatar.0.translation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_what_is_within_the_radius_of_the_same_space() {
        let mut world = World::new();
        let [space, other, a, b, c, d] = std::array::from_fn(|_| world.spawn_empty().id());
        let mut grid = Grid::new(10.0);
        grid.place(a, space, Vec3::new(1.0, 0.0, 1.0));
        grid.place(b, space, Vec3::new(12.0, 0.0, -3.0));
        grid.place(c, space, Vec3::new(40.0, 0.0, 0.0));
        grid.place(d, other, Vec3::new(1.0, 0.0, 1.0));
        let mut found = Vec::new();
        grid.within(space, Vec3::ZERO, 15.0, &mut found);
        let sorted = |mut v: Vec<Entity>| {
            v.sort();
            v
        };
        let ids = sorted(found.iter().map(|&(e, _)| e).collect());
        assert_eq!(ids, sorted(vec![a, b]));

        // Moving across a cell boundary and removing keep the grid consistent.
        grid.place(c, space, Vec3::new(5.0, 0.0, 5.0));
        grid.remove(a);
        found.clear();
        grid.within(space, Vec3::ZERO, 15.0, &mut found);
        let ids = sorted(found.iter().map(|&(e, _)| e).collect());
        assert_eq!(ids, sorted(vec![b, c]));
        assert_eq!(grid.len(), 3);
    }
}
