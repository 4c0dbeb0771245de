//! What a client keeps of the space it is in to read compact motion: who each index is,
//! the last pose it has of each person, and when each index was announced (a motion
//! datagram older than the announcement speaks of whoever had the index before).

use std::collections::HashMap;

use uuid::Uuid;

use crate::motion::{Known, Moves};
use crate::{AvatarMove, PoseError, QPose, ServerMsg, WireUser};

#[derive(Debug, Clone, Copy)]
struct Person {
    user: Uuid,
    pose: QPose,
    since_tick: u64,
}

/// The indices of one space, as this client was told them.
#[derive(Debug, Default)]
pub struct Mirror {
    people: HashMap<u32, Person>,
    person_index: HashMap<Uuid, u32>,
    objects: HashMap<u32, (Uuid, u64)>,
    object_index: HashMap<Uuid, u32>,
}

impl Known for Mirror {
    fn person(&self, index: u32) -> Option<(Uuid, Option<QPose>)> {
        self.people.get(&index).map(|p| (p.user, Some(p.pose)))
    }

    fn object(&self, index: u32) -> Option<Uuid> {
        self.objects.get(&index).map(|&(id, _)| id)
    }
}

impl Mirror {
    /// Takes in what `msg` says of the space and turns its coded motion into plain lists
    /// with ids, in the order the protocol gives: departures, then arrivals, then poses.
    pub fn absorb(&mut self, msg: &mut ServerMsg) -> Result<(), PoseError> {
        match msg {
            ServerMsg::Joined {
                tick,
                objects,
                users,
                ..
            } => {
                *self = Self::default();
                for u in users.iter() {
                    self.announce(u, *tick);
                }
                for o in objects.iter() {
                    self.object_seen(o.index, o.id, *tick);
                }
            }
            ServerMsg::Left { .. } => *self = Self::default(),
            ServerMsg::Delta {
                tick,
                objects,
                removed,
                avatars,
                joined,
                left,
                appeared,
                vanished,
                hidden,
            } => {
                for user in left.iter().chain(vanished.iter()) {
                    if let Some(index) = self.person_index.remove(user) {
                        self.people.remove(&index);
                    }
                }
                for id in removed.iter().chain(hidden.iter()) {
                    if let Some(index) = self.object_index.remove(id) {
                        self.objects.remove(&index);
                    }
                }
                for u in joined.iter().chain(appeared.iter()) {
                    self.announce(u, *tick);
                }
                for o in objects.iter() {
                    self.object_seen(o.index, o.id, *tick);
                }
                let moves = avatars.resolve(self)?;
                self.posed(&moves);
                *avatars = Moves::Plain(moves);
            }
            ServerMsg::Motion {
                tick,
                avatars,
                objects,
            } => {
                let tick = *tick;
                let mut moves = avatars.resolve(self)?;
                moves.retain(|a| {
                    self.people
                        .get(&a.index)
                        .is_some_and(|p| p.since_tick < tick)
                });
                self.posed(&moves);
                *avatars = Moves::Plain(moves);
                let mut moved = objects.resolve(self)?;
                moved.retain(|o| {
                    self.objects
                        .get(&o.index)
                        .is_some_and(|&(_, since)| since < tick)
                });
                *objects = Moves::Plain(moved);
            }
            _ => {}
        }
        Ok(())
    }

    fn announce(&mut self, u: &WireUser, tick: u64) {
        if let Some(old) = self.people.get(&u.index)
            && old.user != u.user
        {
            self.person_index.remove(&old.user);
        }
        if let Some(old_index) = self.person_index.insert(u.user, u.index)
            && old_index != u.index
        {
            self.people.remove(&old_index);
        }
        self.people.insert(
            u.index,
            Person {
                user: u.user,
                pose: u.transform.0,
                since_tick: tick,
            },
        );
    }

    fn object_seen(&mut self, index: u32, id: Uuid, tick: u64) {
        let fresh = self
            .objects
            .get(&index)
            .is_none_or(|&(known, _)| known != id);
        if fresh {
            if let Some((old, _)) = self.objects.insert(index, (id, tick)) {
                self.object_index.remove(&old);
            }
            if let Some(old_index) = self.object_index.insert(id, index)
                && old_index != index
            {
                self.objects.remove(&old_index);
            }
        }
    }

    fn posed(&mut self, moves: &[AvatarMove]) {
        for a in moves {
            if let Some(p) = self.people.get_mut(&a.index) {
                p.pose = a.transform.0;
            }
        }
    }
}
