//! Resume tokens: which sessions a client may take back on a new connection, and until
//! when. A session's entry is live while its connection lasts; when the client goes away
//! (not when the server closed it) it is held for `resume_grace_secs`. Taking it back
//! closes the old connection if it is still open (a half-dead one the client gave up on).
//!
//! In a cluster a token ends in `@<node id>`, the node that holds its session, so that
//! another node presented with it knows whom to ask for the session
//! ([`crate::cluster::sessions`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use plaza_systems::{ConnId, Input};
use uuid::Uuid;

use crate::cluster::sessions::Continued;
use crate::edge::Edge;
use crate::edge::conn::{CloseReason, CloseSignal, Envelope};

/// What a resume token stands for.
#[derive(Debug)]
struct Entry {
    session: Uuid,
    user: Uuid,
    conn: ConnId,
    started_ms: i64,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Its connection is open.
    Live(CloseSignal),
    /// Its connection went away; it may be taken back until `until`. `sent_elsewhere`: it
    /// was told to go to another node (`moved`), so it is in no space here.
    Held {
        until: Instant,
        sent_elsewhere: bool,
    },
}

/// A session taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Its id.
    pub(crate) session: Uuid,
    /// The connection it had.
    pub(crate) from: ConnId,
    /// When it started, ms since the epoch.
    pub(crate) started_ms: i64,
    /// It had been told to go to another node (`moved`): it is in no space here, and its
    /// client joins again.
    pub(crate) sent_elsewhere: bool,
}

/// What becomes of a session whose connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It ends.
    Disconnect,
    /// It is held until this many ms since the epoch.
    Hold { until_ms: i64 },
    /// Another connection took it back: nothing to do.
    Moved,
}

/// Resume tokens by hash. Bounded: one entry per open connection, plus at most
/// `max_held` held ones, which end after the grace period (and are swept when more are
/// added). Past `max_held`, a connection that goes away ends its session at once.
#[derive(Debug)]
pub(crate) struct Resumable {
    grace: Duration,
    max_held: usize,
    /// `@<node id>` in a cluster, else empty: the suffix of every token.
    suffix: String,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Resumable {
    /// Tokens that hold a session for `grace` after its connection ends (zero: never), at
    /// most `max_held` at a time; in a cluster, tokens that name this `node`.
    pub(crate) fn new(grace: Duration, max_held: usize, node: Option<&str>) -> Self {
        Self {
            grace,
            max_held,
            suffix: node.map(|node| format!("@{node}")).unwrap_or_default(),
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a session is held; zero when resuming is off.
    pub(crate) fn grace(&self) -> Duration {
        self.grace
    }

    /// A token for `session` of `user` on `conn`, started at `started_ms`; `None` when
    /// resuming is off.
    pub(crate) fn issue(
        &self,
        session: Uuid,
        user: Uuid,
        conn: ConnId,
        started_ms: i64,
        close: CloseSignal,
    ) -> Option<String> {
        if self.grace.is_zero() {
            return None;
        }
        let token = crate::auth::new_token().0 + &self.suffix;
        let hash = crate::auth::token_hash(&token);
        let entry = Entry {
            session,
            user,
            conn,
            started_ms,
            state: State::Live(close),
        };
        self.lock().insert(hash, entry);
        Some(token)
    }

    /// Takes back the session of `token` for `user`, closing its old connection if that is
    /// still open. `None` if the token is unknown, expired, or another user's.
    pub(crate) fn take(&self, token: &str, user: Uuid) -> Option<Taken> {
        let hash = crate::auth::token_hash(token);
        let mut entries = self.lock();
        let entry = entries.get(&hash)?;
        if entry.user != user {
            return None;
        }
        let entry = entries.remove(&hash)?;
        let sent_elsewhere = match entry.state {
            State::Live(close) => {
                close.close(CloseReason::policy(
                    "the session was resumed on a new connection",
                ));
                close.was_sent_elsewhere()
            }
            State::Held { until, .. } if until <= Instant::now() => return None,
            State::Held { sent_elsewhere, .. } => sent_elsewhere,
        };
        Some(Taken {
            session: entry.session,
            from: entry.conn,
            started_ms: entry.started_ms,
            sent_elsewhere,
        })
    }

    /// The connection `conn` of the session of `token` ended, by the client's doing
    /// (`client_ended`) or the server's. Held for a resume if the client went away, or if
    /// it had been sent to another node (however it closed: that node takes it over).
    pub(crate) fn end(&self, token: Option<&str>, conn: ConnId, client_ended: bool) -> Ending {
        let Some(token) = token else {
            return Ending::Disconnect;
        };
        let hash = crate::auth::token_hash(token);
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(&hash).filter(|e| e.conn == conn) else {
            return Ending::Moved;
        };
        let sent_elsewhere = matches!(&entry.state, State::Live(c) if c.was_sent_elsewhere());
        if !client_ended && !sent_elsewhere {
            entries.remove(&hash);
            return Ending::Disconnect;
        }
        let now = Instant::now();
        entry.state = State::Held {
            until: now + self.grace,
            sent_elsewhere,
        };
        // Sweep the expired and count the rest in one pass.
        let mut held = 0;
        entries.retain(|_, e| match e.state {
            State::Held { until, .. } if until <= now => false,
            State::Held { .. } => {
                held += 1;
                true
            }
            State::Live(_) => true,
        });
        if held > self.max_held {
            entries.remove(&hash);
            return Ending::Disconnect;
        }
        Ending::Hold {
            until_ms: crate::clock::now_ms() + self.grace.as_millis() as i64,
        }
    }

    /// Sessions sent to another node (`moved`) that no node has taken over yet and that
    /// have not expired: a node stopping after a drain waits for them.
    pub(crate) fn awaiting_takeover(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .values()
            .filter(|e| match &e.state {
                State::Live(close) => close.was_sent_elsewhere(),
                State::Held {
                    until,
                    sent_elsewhere,
                } => *sent_elsewhere && *until > now,
            })
            .count()
    }

    /// How many sessions are held now (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.lock()
            .values()
            .filter(|e| matches!(e.state, State::Held { .. }))
            .count()
    }
}

/// A session a hello's resume token took back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakenBack {
    /// One of this node's: it goes on where it was.
    Here(Taken),
    /// Another node's, which let it go: it goes on here under its id, in no space yet.
    FromNode(Continued),
}

impl TakenBack {
    /// The session's id.
    pub(crate) fn session(&self) -> Uuid {
        match self {
            Self::Here(taken) => taken.session,
            Self::FromNode(continued) => continued.session,
        }
    }

    /// When the session started, ms since the epoch.
    pub(crate) fn started_ms(&self) -> i64 {
        match self {
            Self::Here(taken) => taken.started_ms,
            Self::FromNode(continued) => continued.started_ms,
        }
    }
}

impl Edge {
    /// The session `token` stands for, taken back for `user`: one held here, or, in a
    /// cluster, one the node the token names lets go. `None` (a new session) when there is
    /// none, or that node did not answer within its timeout.
    pub(crate) async fn take_back(&self, token: &str, user: Uuid) -> Option<TakenBack> {
        if let Some(taken) = self.resumable.take(token, user) {
            return Some(TakenBack::Here(taken));
        }
        let cluster = self.cluster.as_ref()?;
        match cluster.take_session(token, user).await {
            Ok(continued) => continued.map(TakenBack::FromNode),
            Err(error) => {
                tracing::info!(%error, "cannot take a session from another node; a new one starts");
                None
            }
        }
    }

    /// Another node asks for the session of `token` of `user`, whose client came back
    /// there: it leaves this node without ending (its old connection, if still open, is
    /// closed). `None` when no session here has that token for that user.
    pub(crate) fn let_session_go(&self, token: &str, user: Uuid) -> Option<Continued> {
        let taken = self.resumable.take(token, user)?;
        self.submit(Envelope::Input(Input::HandOver { conn: taken.from }));
        self.sessions.remove(taken.session);
        Some(Continued {
            session: taken.session,
            started_ms: taken.started_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_takes_back_its_own_users_session_once() {
        let resumable = Resumable::new(Duration::from_secs(30), 1, Some("node-a:1"));
        let (session, user) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let close = CloseSignal::default();
        let token = resumable
            .issue(session, user, ConnId(7), 5, close.clone())
            .expect("resuming is on");
        assert!(token.ends_with("@node-a:1"), "{token} names its node");
        assert_eq!(
            resumable.take(&token, Uuid::from_u128(3)),
            None,
            "another user"
        );
        // Taken while the old connection is open: that one is closed, and its end is moot.
        let taken = resumable.take(&token, user).expect("taken");
        assert_eq!(
            taken,
            Taken {
                session,
                from: ConnId(7),
                started_ms: 5,
                sent_elsewhere: false
            }
        );
        assert!(close.reason().is_some(), "the old connection is closed");
        assert_eq!(resumable.end(Some(&token), ConnId(7), true), Ending::Moved);
        assert_eq!(resumable.take(&token, user), None, "once");

        let token = resumable
            .issue(session, user, ConnId(8), 5, CloseSignal::default())
            .expect("on");
        assert!(matches!(
            resumable.end(Some(&token), ConnId(8), true),
            Ending::Hold { .. }
        ));
        assert_eq!(resumable.held(), 1);
        let second = resumable
            .issue(
                Uuid::from_u128(4),
                user,
                ConnId(10),
                5,
                CloseSignal::default(),
            )
            .expect("on");
        assert_eq!(
            resumable.end(Some(&second), ConnId(10), true),
            Ending::Disconnect,
            "one held session at most here: the second ends at once"
        );
        assert_eq!(resumable.held(), 1);
        assert!(resumable.take(&token, user).is_some(), "held, then taken");

        let token = resumable
            .issue(session, user, ConnId(9), 5, CloseSignal::default())
            .expect("on");
        assert_eq!(
            resumable.end(Some(&token), ConnId(9), false),
            Ending::Disconnect,
            "a connection the server closed is not held"
        );
        assert_eq!(resumable.take(&token, user), None);
        assert!(
            Resumable::new(Duration::ZERO, 1, None)
                .issue(session, user, ConnId(1), 5, CloseSignal::default())
                .is_none()
        );
    }

    #[test]
    fn a_session_sent_elsewhere_is_held_however_its_connection_closes() {
        let resumable = Resumable::new(Duration::from_secs(30), 4, Some("node-a:1"));
        let (session, user) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let close = CloseSignal::default();
        let token = resumable
            .issue(session, user, ConnId(7), 5, close.clone())
            .expect("on");
        close.send_elsewhere();
        assert!(
            matches!(
                resumable.end(Some(&token), ConnId(7), false),
                Ending::Hold { .. }
            ),
            "a goodbye after moved: held for the next node"
        );
        let taken = resumable.take(&token, user).expect("held");
        assert!(
            taken.sent_elsewhere,
            "in no space here: the client joins again"
        );
    }
}
