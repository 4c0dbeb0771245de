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
