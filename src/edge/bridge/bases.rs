//! What every connection of a space without a view radius has of each avatar: the pose
//! the last whole-space delta gave it. Such deltas reach everyone in the space, in order,
//! so one record per space serves all of them, and a delta's poses can be coded against
//! it once for every binary connection of the current protocol.

use std::collections::HashMap;

use plaza_net::{AvatarMove, AvatarMoves, Moves, QPose, ServerMsg};
use uuid::Uuid;

/// The last pose sent of each person index, per space.
#[derive(Debug, Default)]
pub(crate) struct MotionBases {
    spaces: HashMap<Uuid, SpaceBases>,
}

#[derive(Debug, Default)]
struct SpaceBases {
    poses: HashMap<u32, QPose>,
    index_of: HashMap<Uuid, u32>,
}

impl MotionBases {
    /// Takes in a whole-space delta of `space` (with plain lists), in the order clients
    /// do: departures, arrivals, then poses. Returns its avatars coded against what each
    /// recipient had before them; `None` when `delta` is no delta.
    pub(crate) fn advance(&mut self, space: Uuid, delta: &ServerMsg) -> Option<AvatarMoves> {
        let ServerMsg::Delta {
            avatars: Moves::Plain(avatars),
            joined,
            left,
            ..
        } = delta
        else {
            return None;
        };
        let bases = self.spaces.entry(space).or_default();
        for user in left {
            if let Some(index) = bases.index_of.remove(user) {
                bases.poses.remove(&index);
            }
        }
        for person in joined {
            bases.index_of.insert(person.user, person.index);
            bases.poses.insert(person.index, person.transform.0);
        }
        let coded = Moves::code(avatars, |a: &AvatarMove| bases.poses.get(&a.index).copied());
        for a in avatars {
            bases.poses.insert(a.index, a.transform.0);
        }
        if bases.index_of.is_empty() {
            // Everyone left: nothing to remember of the space.
            self.spaces.remove(&space);
        }
        Some(coded)
    }

    /// How many spaces are remembered (for tests).
    #[cfg(test)]
    pub(crate) fn spaces(&self) -> usize {
        self.spaces.len()
    }
}

#[cfg(test)]
mod tests {
    use plaza_net::{Pose, WireTransform, WireUser};

    use super::*;

    fn delta(avatars: Vec<AvatarMove>, joined: Vec<WireUser>, left: Vec<Uuid>) -> ServerMsg {
        ServerMsg::Delta {
            tick: 1,
            objects: vec![],
            removed: vec![],
            avatars: Moves::Plain(avatars),
            joined,
            left,
            appeared: vec![],
            vanished: vec![],
            hidden: vec![],
        }
    }

    #[test]
    fn poses_are_coded_against_the_previous_delta_and_spaces_forgotten_when_empty() {
        let space = Uuid::from_u128(1);
        let user = Uuid::from_u128(2);
        let at = |x: f32| Pose::of(&WireTransform::at([x, 0.0, 0.0]));
        let mut bases = MotionBases::default();
        let arrival = WireUser {
            user,
            index: 0,
            name: "a".into(),
            transform: at(5.0),
        };
        let step = AvatarMove {
            index: 0,
            user,
            transform: at(5.1),
        };
        bases.advance(space, &delta(vec![], vec![arrival], vec![]));
        let Some(Moves::Coded(bytes)) = bases.advance(space, &delta(vec![step], vec![], vec![]))
        else {
            panic!("a delta codes its avatars");
        };
        // count, gap, flags (relative, x), dx = 100 mm.
        assert_eq!(&bytes[..], [1, 0, 0x81, 0xc8, 0x01]);
        assert_eq!(bases.spaces(), 1);
        bases.advance(space, &delta(vec![], vec![], vec![user]));
        assert_eq!(bases.spaces(), 0);
    }
}
