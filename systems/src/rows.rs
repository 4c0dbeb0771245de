//! The rows the world asks the durable store to write, by kind: one type for what a tick
//! produces ([`crate::WriteSet`]), what the tick log gathers, and what the store writer
//! flushes as one batch. The kinds are listed once, in write order: a row never comes after
//! a row that refers to it (a screen share after its session), and [`Rows::split`] keeps
//! that order across its two halves.

use uuid::Uuid;

use crate::{ChatLine, EventRecord, ObjectRecord, SessionRecord, ShareRecord, VisitRecord};

/// Declares [`Rows`] with one `Vec` per kind and the operations that treat every kind
/// alike, so that a new kind of row is one line here (plus its store statements).
macro_rules! rows {
    ($($(#[$doc:meta])* $kind:ident: $row:ty,)*) => {
        /// Rows to write, by kind, in write order. Users and spaces, the parents of
        /// everything here, are never among them: they are created when first needed (at
        /// `hello`, and when a space is loaded) before the world can refer to them.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Rows {
            $($(#[$doc])* pub $kind: Vec<$row>,)*
        }

        impl Rows {
            /// Rows of every kind.
            pub fn len(&self) -> usize {
                0 $(+ self.$kind.len())*
            }

            /// Splits the rows in two halves in write order: `self` keeps the first, the
            /// second is returned. Writing the first half before the second keeps parents
            /// ahead of children.
            pub fn split(&mut self) -> Rows {
                let mut keep = self.len() / 2;
                Rows {
                    $($kind: tail(&mut self.$kind, &mut keep),)*
                }
            }

            /// Empties every kind, keeping the allocations.
            pub fn clear(&mut self) {
                $(self.$kind.clear();)*
            }

            /// Moves `other`'s rows after this one's, kind by kind, leaving `other` empty
            /// (with its allocations, to be filled again).
            pub fn append(&mut self, other: &mut Rows) {
                $(self.$kind.append(&mut other.$kind);)*
            }
        }
    };
}

rows! {
    /// Sessions started or ended.
    sessions: SessionRecord,
    /// Objects created or changed (latest state).
    objects: ObjectRecord,
    /// Objects removed: (space, object).
    deleted: (Uuid, Uuid),
    /// New chat lines, in order.
    chat: ChatLine,
    /// Screen shares started or stopped.
    shares: ShareRecord,
    /// Visits by anonymous visitors.
    visits: VisitRecord,
    /// Events, in order.
    events: EventRecord,
    /// Spaces deleted, with every row that refers to them: last, so that the rows of a
    /// space written in the same batch go first and the deletion takes them too.
    spaces_deleted: Uuid,
}

/// The part of `rows` past the first `keep` rows (counting kinds in order); `keep` goes
/// down by the rows this kind kept.
fn tail<T>(rows: &mut Vec<T>, keep: &mut usize) -> Vec<T> {
    let at = (*keep).min(rows.len());
    *keep -= at;
    rows.split_off(at)
}

impl Rows {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Spaces whose objects these rows change (and that they do not delete).
    pub fn touched_spaces(&self) -> Vec<Uuid> {
        let mut spaces: Vec<Uuid> = self
            .objects
            .iter()
            .map(|r| r.space)
            .chain(self.deleted.iter().map(|&(space, _)| space))
            .collect();
        spaces.sort_unstable();
        spaces.dedup();
        spaces.retain(|space| !self.spaces_deleted.contains(space));
        spaces
    }
}

/// One space's share of a batch: the unit the store commits (and fences) on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceRows {
    /// The space every row refers to.
    pub space: Uuid,
    /// Its rows (never sessions or events).
    pub rows: Rows,
}

impl Rows {
    /// Splits the batch by space: sessions and events (a log of what happened on this
    /// node, kept in one statement so that event ids keep their order) and, per space, the
    /// rest. A space's object upserts beyond
    /// `max_part_objects` go to further parts of the same space, so that one big space can
    /// be written over several connections; a space being deleted stays in one part (its
    /// deletion must come after every row of it).
    ///
    /// Write the space-less rows first: a space's rows may refer to a session among them.
    pub fn split_by_space(self, max_part_objects: usize) -> (Rows, Vec<SpaceRows>) {
        let max_part_objects = max_part_objects.max(1);
        let Rows {
            sessions,
            objects,
            deleted,
            chat,
            shares,
            visits,
            events,
            spaces_deleted,
        } = self;
        let mut by_space: std::collections::BTreeMap<Uuid, Rows> = Default::default();
        let spaceless = Rows {
            sessions,
            events,
            ..Rows::default()
        };
        for record in objects {
            by_space
                .entry(record.space)
                .or_default()
                .objects
                .push(record);
        }
        for pair in deleted {
            by_space.entry(pair.0).or_default().deleted.push(pair);
        }
        for line in chat {
            by_space.entry(line.space).or_default().chat.push(line);
        }
        for share in shares {
            by_space.entry(share.space).or_default().shares.push(share);
        }
        for visit in visits {
            by_space.entry(visit.space).or_default().visits.push(visit);
        }
        for space in spaces_deleted {
            by_space
                .entry(space)
                .or_default()
                .spaces_deleted
                .push(space);
        }
        let mut parts = Vec::with_capacity(by_space.len());
        for (space, mut rows) in by_space {
            if rows.spaces_deleted.is_empty() {
                while rows.objects.len() > max_part_objects {
                    let rest = rows.objects.split_off(max_part_objects);
                    let first = std::mem::replace(&mut rows.objects, rest);
                    parts.push(SpaceRows {
                        space,
                        rows: Rows {
                            objects: first,
                            ..Rows::default()
                        },
                    });
                }
            }
            parts.push(SpaceRows { space, rows });
        }
        (spaceless, parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, SessionMeta};

    fn session(n: u128) -> SessionRecord {
        SessionRecord {
            id: Uuid::from_u128(n),
            user: Uuid::from_u128(1),
            meta: SessionMeta::default(),
            started_ms: 0,
            ended_ms: None,
        }
    }

    fn event(n: u128) -> EventRecord {
        EventRecord {
            kind: EventKind::Chat,
            space: None,
            user: Uuid::from_u128(1),
            session: Uuid::from_u128(n),
            object: None,
            at_ms: 0,
        }
    }

    fn object(space: u128, n: u128) -> ObjectRecord {
        ObjectRecord {
            space: Uuid::from_u128(space),
            state: crate::ObjectState {
                id: Uuid::from_u128(n),
                index: 0,
                model: std::sync::Arc::from("cube"),
                transform: crate::Transform::IDENTITY,
                props: std::sync::Arc::from("{}"),
                owner: Uuid::nil(),
                version: 1,
            },
        }
    }

    #[test]
    fn a_batch_splits_by_space_with_big_spaces_in_several_parts() {
        let mut spaced = event(20);
        spaced.space = Some(Uuid::from_u128(2));
        let rows = Rows {
            sessions: vec![session(1)],
            objects: (0..5)
                .map(|n| object(2, 100 + n))
                .chain([object(3, 200)])
                .collect(),
            events: vec![event(10), spaced.clone()],
            spaces_deleted: vec![Uuid::from_u128(4)],
            ..Rows::default()
        };
        let total = rows.len();
        let (spaceless, parts) = rows.split_by_space(2);
        assert_eq!(spaceless.sessions.len(), 1);
        assert_eq!(
            spaceless.events,
            vec![event(10), spaced],
            "events stay together, in order"
        );
        let sizes: Vec<(u128, usize)> = parts
            .iter()
            .map(|p| (p.space.as_u128(), p.rows.objects.len()))
            .collect();
        assert_eq!(sizes, vec![(2, 2), (2, 2), (2, 1), (3, 1), (4, 0)]);
        assert_eq!(parts[4].rows.spaces_deleted, vec![Uuid::from_u128(4)]);
        assert_eq!(
            spaceless.len() + parts.iter().map(|p| p.rows.len()).sum::<usize>(),
            total
        );
    }

    #[test]
    fn halves_keep_write_order_and_append_restores_the_whole() {
        let mut rows = Rows {
            sessions: (1..=3).map(session).collect(),
            deleted: vec![(Uuid::nil(), Uuid::from_u128(9))],
            events: (4..=7).map(event).collect(),
            ..Rows::default()
        };
        let whole = rows.clone();
        assert_eq!(rows.len(), 8);
        let mut second = rows.split();
        assert_eq!(
            (rows.len(), second.len()),
            (4, 4),
            "the first half holds the first four rows in write order"
        );
        assert_eq!(rows.sessions.len(), 3, "sessions come first");
        assert_eq!(rows.deleted.len(), 1);
        assert!(rows.events.is_empty() && second.sessions.is_empty());
        rows.append(&mut second);
        assert_eq!(rows, whole);
        assert!(second.is_empty());
        rows.clear();
        assert!(rows.is_empty());
        assert_eq!(rows.touched_spaces(), Vec::<Uuid>::new());
    }
}
