//! Writes waiting for the store, coalesced by key: for each object only its latest state
//! (or its deletion) is kept, so memory is bounded by the number of objects, not by how long
//! the store takes.

use std::collections::HashMap;

use plaza_systems::{ChatLine, ObjectRecord, SpaceRecord, WriteSet};
use uuid::Uuid;

/// What will be written for one object.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectWrite {
    /// Its latest state.
    Upsert(ObjectRecord),
    /// It was removed.
    Delete,
}

/// One flush's worth of rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// New spaces.
    pub spaces: Vec<SpaceRecord>,
    /// Latest object states.
    pub upserts: Vec<ObjectRecord>,
    /// Removed objects.
    pub deletes: Vec<Uuid>,
    /// New chat lines, in order.
    pub chat: Vec<ChatLine>,
}

impl Batch {
    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.spaces.len() + self.upserts.len() + self.deletes.len() + self.chat.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }
}

/// Coalesced writes not yet in the store.
#[derive(Debug, Default)]
pub struct Pending {
    spaces: HashMap<Uuid, SpaceRecord>,
    objects: HashMap<Uuid, ObjectWrite>,
    chat: Vec<ChatLine>,
    /// Chat lines dropped because `max_chat` were already waiting (the store has been away
    /// for long); object states are never dropped.
    pub chat_dropped: u64,
    max_chat: usize,
}

impl Pending {
    /// Empty, keeping at most `max_chat` chat lines while the store is away.
    pub fn new(max_chat: usize) -> Self {
        Self {
            max_chat,
            ..Self::default()
        }
    }

    /// Adds a tick's write set; later states replace earlier ones.
    pub fn merge(&mut self, set: WriteSet) {
        for space in set.spaces {
            self.spaces.insert(space.id, space);
        }
        for record in set.objects {
            self.objects
                .insert(record.state.id, ObjectWrite::Upsert(record));
        }
        for id in set.deleted {
            self.objects.insert(id, ObjectWrite::Delete);
        }
        self.push_chat(set.chat);
    }

    fn push_chat(&mut self, lines: Vec<ChatLine>) {
        self.chat.extend(lines);
        let over = self.chat.len().saturating_sub(self.max_chat);
        if over > 0 {
            self.chat.drain(..over);
            self.chat_dropped += over as u64;
        }
    }

    /// Takes everything pending as one batch.
    pub fn take(&mut self) -> Batch {
        let mut batch = Batch {
            spaces: self.spaces.drain().map(|(_, s)| s).collect(),
            chat: std::mem::take(&mut self.chat),
            ..Batch::default()
        };
        for (id, write) in self.objects.drain() {
            match write {
                ObjectWrite::Upsert(record) => batch.upserts.push(record),
                ObjectWrite::Delete => batch.deletes.push(id),
            }
        }
        batch
    }

    /// Puts back a batch that failed to write, under anything newer that arrived since.
    pub fn restore(&mut self, failed: Batch) {
        for space in failed.spaces {
            self.spaces.entry(space.id).or_insert(space);
        }
        for record in failed.upserts {
            self.objects
                .entry(record.state.id)
                .or_insert(ObjectWrite::Upsert(record));
        }
        for id in failed.deletes {
            self.objects.entry(id).or_insert(ObjectWrite::Delete);
        }
        let newer = std::mem::take(&mut self.chat);
        self.chat = failed.chat;
        self.push_chat(newer);
    }

    /// Rows waiting.
    pub fn len(&self) -> usize {
        self.spaces.len() + self.objects.len() + self.chat.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use plaza_systems::{ObjectState, Transform};

    use super::*;

    fn record(id: u128, version: u64) -> ObjectRecord {
        ObjectRecord {
            space: Uuid::from_u128(1),
            state: ObjectState {
                id: Uuid::from_u128(id),
                model: Arc::from("cube"),
                transform: Transform::IDENTITY,
                props: Arc::from("{}"),
                owner: Uuid::from_u128(2),
                version,
            },
        }
    }

    #[test]
    fn latest_state_wins_and_deletes_replace_upserts() {
        let mut pending = Pending::new(10);
        pending.merge(WriteSet {
            objects: vec![record(10, 1), record(11, 1)],
            ..Default::default()
        });
        pending.merge(WriteSet {
            objects: vec![record(10, 5)],
            ..Default::default()
        });
        pending.merge(WriteSet {
            deleted: vec![Uuid::from_u128(11)],
            ..Default::default()
        });
        assert_eq!(pending.len(), 2);
        let batch = pending.take();
        assert_eq!(batch.upserts, vec![record(10, 5)]);
        assert_eq!(batch.deletes, vec![Uuid::from_u128(11)]);
        assert!(pending.is_empty());
    }

    #[test]
    fn a_failed_batch_goes_back_under_newer_writes() {
        let mut pending = Pending::new(10);
        pending.merge(WriteSet {
            objects: vec![record(10, 1), record(11, 1)],
            ..Default::default()
        });
        let failed = pending.take();
        pending.merge(WriteSet {
            objects: vec![record(10, 2)],
            ..Default::default()
        });
        pending.restore(failed);
        let mut upserts = pending.take().upserts;
        upserts.sort_by_key(|r| r.state.id);
        assert_eq!(upserts, vec![record(10, 2), record(11, 1)]);
    }
}
