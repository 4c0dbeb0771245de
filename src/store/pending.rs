//! Writes waiting for the store, coalesced by key: for each object only its latest state
//! (or its deletion) is kept, and likewise for sessions and presence, so memory is bounded
//! by the number of objects and sessions, not by how long the store takes. Chat lines and
//! events are appended; while a store is away they are capped, oldest dropped and counted.

use std::collections::HashMap;
use std::sync::Arc;

use plaza_systems::{
    ChatLine, EventRecord, ObjectRecord, PresenceRecord, Rows, SessionRecord, ShareRecord,
    VisitRecord, WriteSet,
};
use serde_json::json;
use uuid::Uuid;

/// What will be written for one object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ObjectWrite {
    /// Its latest state.
    Upsert(ObjectRecord),
    /// It was removed from this space.
    Delete {
        /// The space it was in.
        space: Uuid,
    },
}

/// A row the store refused, as it goes to the `dead_letters` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadRow {
    /// Table the row was meant for.
    pub table: &'static str,
    /// Its key there (object id, chat line id, ...).
    pub key: String,
    /// The row as JSON text (escapes keep text the store refused, such as NUL, readable).
    pub payload: String,
}

/// Every row of `rows` as it would be dead-lettered.
pub(crate) fn dead_rows(rows: &Rows) -> Vec<DeadRow> {
    let row = |table, key: String, payload: serde_json::Value| DeadRow {
        table,
        key,
        payload: payload.to_string(),
    };
    let mut dead = Vec::with_capacity(rows.len());
    dead.extend(rows.sessions.iter().map(|s| {
        let payload = json!({
            "id": s.id, "user": s.user, "transport": s.meta.transport.as_str(),
            "client_addr": s.meta.client_addr.map(|a| a.to_string()),
            "user_agent": s.meta.user_agent.as_deref(),
            "started_ms": s.started_ms, "ended_ms": s.ended_ms,
        });
        row("sessions", s.id.to_string(), payload)
    }));
    dead.extend(rows.objects.iter().map(|r| {
        let (o, t) = (&r.state, &r.state.transform);
        let payload = json!({
            "id": o.id, "space": r.space, "model": &*o.model,
            "pos": t.translation.to_array(), "rot": t.rotation.to_array(),
            "scale": t.scale.to_array(), "props": &*o.props, "owner": o.owner,
            "version": o.version,
        });
        row("world_objects", o.id.to_string(), payload)
    }));
    dead.extend(rows.deleted.iter().map(|&(space, id)| {
        let payload = json!({ "delete": id, "space": space });
        row("world_objects", id.to_string(), payload)
    }));
    dead.extend(rows.chat.iter().map(|c| {
        let payload = json!({
            "id": c.id, "space": c.space, "user": c.from, "name": &*c.name,
            "text": &*c.text, "at_ms": c.at_ms,
        });
        row("chat_messages", c.id.to_string(), payload)
    }));
    dead.extend(rows.shares.iter().map(|s| {
        let payload = json!({
            "id": s.id, "space": s.space, "session": s.session, "user": s.user,
            "kind": s.kind.as_str(), "started_ms": s.started_ms, "ended_ms": s.ended_ms,
        });
        row("screen_shares", s.id.to_string(), payload)
    }));
    dead.extend(rows.visits.iter().map(|v| {
        let payload = json!({
            "visitor": &*v.visitor, "space": v.space, "user": v.user, "visits": v.visits,
            "at_ms": v.at_ms, "user_agent": v.user_agent.as_deref(),
        });
        row(
            "visitor_tracking",
            format!("{}/{}", v.visitor, v.space),
            payload,
        )
    }));
    dead.extend(rows.events.iter().map(|e| {
        let payload = json!({
            "kind": e.kind.as_str(), "space": e.space, "user": e.user,
            "session": e.session, "object": e.object, "at_ms": e.at_ms,
        });
        row("events", e.user.to_string(), payload)
    }));
    dead.extend(
        rows.spaces_deleted
            .iter()
            .map(|&space| row("spaces", space.to_string(), json!({ "delete": space }))),
    );
    dead
}

/// An append-only list capped at `max` entries; the oldest go first and are counted.
#[derive(Debug)]
struct Capped<T> {
    items: Vec<T>,
    dropped: u64,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            dropped: 0,
        }
    }
}

impl<T> Capped<T> {
    fn extend(&mut self, items: impl IntoIterator<Item = T>, max: usize) {
        self.items.extend(items);
        let over = self.items.len().saturating_sub(max);
        if over > 0 {
            self.items.drain(..over);
            self.dropped += over as u64;
        }
    }

    /// Puts `older` back in front of what arrived since.
    fn restore(&mut self, older: Vec<T>, max: usize) {
        let newer = std::mem::replace(&mut self.items, older);
        self.extend(newer, max);
    }
}

/// A row written when something starts and again when it ends: sessions, screen shares.
trait Ending {
    fn id(&self) -> Uuid;
    fn ended_ms(&mut self) -> &mut Option<i64>;
}

impl Ending for SessionRecord {
    fn id(&self) -> Uuid {
        self.id
    }
    fn ended_ms(&mut self) -> &mut Option<i64> {
        &mut self.ended_ms
    }
}

impl Ending for ShareRecord {
    fn id(&self) -> Uuid {
        self.id
    }
    fn ended_ms(&mut self) -> &mut Option<i64> {
        &mut self.ended_ms
    }
}

/// Keeps one record per id: an end overrides a start, never the other way round. `newer`
/// says whether `record` came after the kept one (false when a failed batch is restored).
fn merge_ending<T: Ending>(kept: &mut HashMap<Uuid, T>, mut record: T, newer: bool) {
    match kept.get_mut(&record.id()) {
        Some(old) => {
            let (new_end, old_end) = (*record.ended_ms(), *old.ended_ms());
            *old.ended_ms() = if newer {
                new_end.or(old_end)
            } else {
                old_end.or(new_end)
            };
        }
        None => {
            kept.insert(record.id(), record);
        }
    }
}

/// Coalesced writes not yet in the durable store, and presence not yet in Redis.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    objects: HashMap<Uuid, ObjectWrite>,
    sessions: HashMap<Uuid, SessionRecord>,
    shares: HashMap<Uuid, ShareRecord>,
    visits: HashMap<(Arc<str>, Uuid), VisitRecord>,
    chat: Capped<ChatLine>,
    events: Capped<EventRecord>,
    presence: HashMap<Uuid, Vec<(Uuid, Arc<str>)>>,
    spaces_deleted: Vec<Uuid>,
    max_appended: usize,
}

impl Pending {
    /// Empty, keeping at most `max_appended` chat lines and as many events while the store
    /// is away.
    pub fn new(max_appended: usize) -> Self {
        Self {
            max_appended,
            ..Self::default()
        }
    }

    /// Adds a tick's write set; later states replace earlier ones.
    pub fn merge(&mut self, set: WriteSet) {
        let WriteSet { rows, presence } = set;
        for record in rows.objects {
            self.objects
                .insert(record.state.id, ObjectWrite::Upsert(record));
        }
        for (space, id) in rows.deleted {
            self.objects.insert(id, ObjectWrite::Delete { space });
        }
        for session in rows.sessions {
            merge_ending(&mut self.sessions, session, true);
        }
        for share in rows.shares {
            merge_ending(&mut self.shares, share, true);
        }
        for visit in rows.visits {
            self.merge_visit(visit);
        }
        for presence in presence {
            self.presence.insert(presence.space, presence.members);
        }
        self.chat.extend(rows.chat, self.max_appended);
        self.events.extend(rows.events, self.max_appended);
        self.merge_space_deletions(rows.spaces_deleted);
    }

    /// Spaces to delete: their objects' pending writes are moot (the deletion takes the
    /// rows), and so is their presence. Other rows of theirs still go first, as history.
    fn merge_space_deletions(&mut self, spaces: Vec<Uuid>) {
        if spaces.is_empty() {
            return;
        }
        self.objects.retain(|_, write| {
            let space = match write {
                ObjectWrite::Upsert(record) => record.space,
                ObjectWrite::Delete { space } => *space,
            };
            !spaces.contains(&space)
        });
        for space in spaces {
            self.presence.remove(&space);
            if !self.spaces_deleted.contains(&space) {
                self.spaces_deleted.push(space);
            }
        }
    }

    /// Adds up visits of one visitor to one space; the latest time and user win.
    fn merge_visit(&mut self, visit: VisitRecord) {
        match self.visits.get_mut(&(visit.visitor.clone(), visit.space)) {
            Some(kept) => {
                kept.visits = kept.visits.saturating_add(visit.visits);
                if visit.at_ms >= kept.at_ms {
                    kept.at_ms = visit.at_ms;
                    kept.user = visit.user;
                    kept.user_agent = visit.user_agent;
                }
            }
            None => {
                self.visits
                    .insert((visit.visitor.clone(), visit.space), visit);
            }
        }
    }

    /// Takes everything pending for the durable store as one batch.
    pub fn take(&mut self) -> Rows {
        let (mut objects, mut deleted) = (Vec::new(), Vec::new());
        for (id, write) in self.objects.drain() {
            match write {
                ObjectWrite::Upsert(record) => objects.push(record),
                ObjectWrite::Delete { space } => deleted.push((space, id)),
            }
        }
        Rows {
            sessions: self.sessions.drain().map(|(_, s)| s).collect(),
            objects,
            deleted,
            chat: std::mem::take(&mut self.chat.items),
            shares: self.shares.drain().map(|(_, s)| s).collect(),
            visits: self.visits.drain().map(|(_, v)| v).collect(),
            events: std::mem::take(&mut self.events.items),
            spaces_deleted: std::mem::take(&mut self.spaces_deleted),
        }
    }

    /// Takes the presence changes waiting for Redis.
    pub(crate) fn take_presence(&mut self) -> Vec<PresenceRecord> {
        self.presence
            .drain()
            .map(|(space, members)| PresenceRecord { space, members })
            .collect()
    }

    /// Puts back a batch that failed to write, under anything newer that arrived since.
    pub fn restore(&mut self, failed: Rows) {
        for record in failed.objects {
            self.objects
                .entry(record.state.id)
                .or_insert(ObjectWrite::Upsert(record));
        }
        for (space, id) in failed.deleted {
            self.objects
                .entry(id)
                .or_insert(ObjectWrite::Delete { space });
        }
        for session in failed.sessions {
            merge_ending(&mut self.sessions, session, false);
        }
        for share in failed.shares {
            merge_ending(&mut self.shares, share, false);
        }
        for visit in failed.visits {
            self.merge_visit(visit);
        }
        self.chat.restore(failed.chat, self.max_appended);
        self.events.restore(failed.events, self.max_appended);
        self.merge_space_deletions(failed.spaces_deleted);
    }

    /// Rows waiting for the durable store.
    pub fn len(&self) -> usize {
        self.objects.len()
            + self.sessions.len()
            + self.shares.len()
            + self.visits.len()
            + self.chat.items.len()
            + self.events.items.len()
            + self.spaces_deleted.len()
    }

    /// Whether any row waiting here belongs to `space` (a walk over everything pending:
    /// for the rare hand-off, not for every flush).
    pub(crate) fn holds_space(&self, space: Uuid) -> bool {
        self.objects.values().any(|write| match write {
            ObjectWrite::Upsert(record) => record.space == space,
            ObjectWrite::Delete { space: from } => *from == space,
        }) || self.shares.values().any(|s| s.space == space)
            || self.visits.keys().any(|(_, s)| *s == space)
            || self.chat.items.iter().any(|c| c.space == space)
            || self.spaces_deleted.contains(&space)
    }

    /// Whether no rows wait for the durable store (presence for Redis may still wait).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Chat lines and events dropped because too many waited for an absent store.
    pub fn dropped(&self) -> u64 {
        self.chat.dropped + self.events.dropped
    }
}

#[cfg(test)]
mod tests {
    use plaza_systems::{ObjectState, SessionMeta, Transform};

    use super::*;

    fn record(id: u128, version: u64) -> ObjectRecord {
        ObjectRecord {
            space: Uuid::from_u128(1),
            state: ObjectState {
                id: Uuid::from_u128(id),
                index: 0,
                model: Arc::from("cube"),
                transform: Transform::IDENTITY,
                props: Arc::from("{}"),
                owner: Uuid::from_u128(2),
                version,
            },
        }
    }

    fn session(ended_ms: Option<i64>) -> SessionRecord {
        SessionRecord {
            id: Uuid::from_u128(5),
            user: Uuid::from_u128(2),
            meta: SessionMeta::default(),
            started_ms: 10,
            ended_ms,
        }
    }

    #[test]
    fn latest_state_wins_and_deletes_replace_upserts() {
        let mut pending = Pending::new(10);
        pending.merge(
            Rows {
                objects: vec![record(10, 1), record(11, 1)],
                ..Default::default()
            }
            .into(),
        );
        pending.merge(
            Rows {
                objects: vec![record(10, 5)],
                ..Default::default()
            }
            .into(),
        );
        let space = Uuid::from_u128(1);
        pending.merge(
            Rows {
                deleted: vec![(space, Uuid::from_u128(11))],
                ..Default::default()
            }
            .into(),
        );
        assert_eq!(pending.len(), 2);
        let batch = pending.take();
        assert_eq!(batch.objects, vec![record(10, 5)]);
        assert_eq!(batch.deleted, vec![(space, Uuid::from_u128(11))]);
        assert!(pending.is_empty());
    }

    #[test]
    fn a_failed_batch_goes_back_under_newer_writes() {
        let mut pending = Pending::new(10);
        pending.merge(
            Rows {
                objects: vec![record(10, 1), record(11, 1)],
                sessions: vec![session(None)],
                ..Default::default()
            }
            .into(),
        );
        let failed = pending.take();
        pending.merge(
            Rows {
                objects: vec![record(10, 2)],
                sessions: vec![session(Some(99))],
                ..Default::default()
            }
            .into(),
        );
        pending.restore(failed);
        let batch = pending.take();
        let mut upserts = batch.objects;
        upserts.sort_by_key(|r| r.state.id);
        assert_eq!(upserts, vec![record(10, 2), record(11, 1)]);
        assert_eq!(
            batch.sessions,
            vec![session(Some(99))],
            "the end is not undone by the restore"
        );
    }

    #[test]
    fn a_space_deletion_drops_its_pending_objects_and_comes_last() {
        let mut pending = Pending::new(10);
        let (space, other) = (Uuid::from_u128(1), Uuid::from_u128(9));
        let mut elsewhere = record(12, 1);
        elsewhere.space = other;
        pending.merge(
            Rows {
                objects: vec![record(10, 1), elsewhere.clone()],
                deleted: vec![(space, Uuid::from_u128(11))],
                ..Default::default()
            }
            .into(),
        );
        pending.merge(
            Rows {
                spaces_deleted: vec![space],
                ..Default::default()
            }
            .into(),
        );
        let failed = pending.take();
        assert_eq!(failed.objects, vec![elsewhere]);
        assert!(failed.deleted.is_empty());
        assert_eq!(failed.spaces_deleted, vec![space]);
        pending.restore(failed.clone());
        pending.restore(failed);
        assert_eq!(pending.take().spaces_deleted, vec![space], "restored once");
    }

    #[test]
    fn appended_rows_are_capped_oldest_first() {
        let mut pending = Pending::new(3);
        let line = |n: u128| ChatLine {
            id: Uuid::from_u128(n),
            space: Uuid::nil(),
            from: Uuid::nil(),
            name: Arc::from("a"),
            text: Arc::from("t"),
            at_ms: 0,
        };
        pending.merge(
            Rows {
                chat: (1..=2).map(line).collect(),
                ..Default::default()
            }
            .into(),
        );
        let failed = pending.take();
        pending.merge(
            Rows {
                chat: (3..=4).map(line).collect(),
                ..Default::default()
            }
            .into(),
        );
        pending.restore(failed);
        let ids: Vec<_> = pending.take().chat.iter().map(|c| c.id.as_u128()).collect();
        assert_eq!(ids, vec![2, 3, 4]);
        assert_eq!(pending.dropped(), 1);
    }
}
