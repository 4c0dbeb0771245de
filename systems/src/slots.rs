//! Per-space indices: each person and each object in a space gets a small number, unique
//! in its space while it is there, by which compact motion addresses it instead of its
//! 16-byte id. Freed numbers are reused lowest first, so they stay small and dense.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bevy_ecs::prelude::*;

/// An entity's index in its space (people and objects are numbered separately).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u32);

/// The indices of one kind of entity in one space: the lowest free one is handed out next.
#[derive(Debug, Default)]
pub struct SlotPool {
    /// One past the highest index ever handed out.
    next: u32,
    /// Indices below `next` that were given back.
    free: BinaryHeap<Reverse<u32>>,
}

impl SlotPool {
    /// The lowest index not in use.
    pub fn take(&mut self) -> Slot {
        if let Some(Reverse(index)) = self.free.pop() {
            return Slot(index);
        }
        let index = self.next;
        // A space holds far fewer than 2^32 entities (`max_objects_per_space`), so the
        // counter cannot wrap while every index below it is in use.
        self.next = self.next.saturating_add(1);
        Slot(index)
    }

    /// Gives `slot` back for reuse.
    pub fn give_back(&mut self, slot: Slot) {
        if slot.0 < self.next {
            self.free.push(Reverse(slot.0));
        }
    }

    /// How many indices are in use.
    pub fn in_use(&self) -> usize {
        self.next as usize - self.free.len()
    }
}

/// The index pools of a space.
#[derive(Component, Debug, Default)]
pub struct SpaceSlots {
    /// People (sessions) in the space.
    pub people: SlotPool,
    /// World objects in the space.
    pub objects: SlotPool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_reused_lowest_first() {
        let mut pool = SlotPool::default();
        let taken: Vec<u32> = (0..4).map(|_| pool.take().0).collect();
        assert_eq!(taken, [0, 1, 2, 3]);
        pool.give_back(Slot(2));
        pool.give_back(Slot(0));
        assert_eq!(pool.in_use(), 2);
        assert_eq!(
            (pool.take(), pool.take(), pool.take()),
            (Slot(0), Slot(2), Slot(4))
        );
        assert_eq!(pool.in_use(), 5);
    }
}
