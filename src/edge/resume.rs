//! Resume tokens: which sessions a client may take back on a new connection, and until
//! when. A session's entry is live while its connection lasts; when the client goes away
//! (not when the server closed it) it is held for `resume_grace_secs`. Taking it back
//! closes the old connection if it is still open (a half-dead one the client gave up on).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use plaza_systems::ConnId;
use uuid::Uuid;

use crate::edge::conn::{CloseReason, CloseSignal};

/// What a resume token stands for.
#[derive(Debug)]
struct Entry {
    session: Uuid,
    user: Uuid,
    conn: ConnId,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Its connection is open.
    Live(CloseSignal),
    /// Its connection went away; it may be taken back until then.
    Held(Instant),
}

/// A session taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Its id.
    pub(crate) session: Uuid,
    /// The connection it had.
    pub(crate) from: ConnId,
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
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Resumable {
    /// Tokens that hold a session for `grace` after its connection ends (zero: never), at
    /// most `max_held` at a time.
    pub(crate) fn new(grace: Duration, max_held: usize) -> Self {
        Self {
            grace,
            max_held,
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

    /// A token for `session` of `user` on `conn`; `None` when resuming is off.
    pub(crate) fn issue(
        &self,
        session: Uuid,
        user: Uuid,
        conn: ConnId,
        close: CloseSignal,
    ) -> Option<String> {
        if self.grace.is_zero() {
            return None;
        }
        let (token, hash) = crate::auth::new_token();
        let entry = Entry {
            session,
            user,
            conn,
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
        match entry.state {
            State::Live(close) => {
                close.close(CloseReason::policy(
                    "the session was resumed on a new connection",
                ));
            }
            State::Held(until) if until <= Instant::now() => return None,
            State::Held(_) => {}
        }
        Some(Taken {
            session: entry.session,
            from: entry.conn,
        })
    }

    /// The connection `conn` of the session of `token` ended, by the client's doing
    /// (`client_ended`) or the server's.
    pub(crate) fn end(&self, token: Option<&str>, conn: ConnId, client_ended: bool) -> Ending {
        let Some(token) = token else {
            return Ending::Disconnect;
        };
        let hash = crate::auth::token_hash(token);
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(&hash).filter(|e| e.conn == conn) else {
            return Ending::Moved;
        };
        if !client_ended {
            entries.remove(&hash);
            return Ending::Disconnect;
        }
        let now = Instant::now();
        entry.state = State::Held(now + self.grace);
        // Sweep the expired and count the rest in one pass.
        let mut held = 0;
        entries.retain(|_, e| match e.state {
            State::Held(until) if until <= now => false,
            State::Held(_) => {
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

    /// How many sessions are held now (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.lock()
            .values()
            .filter(|e| matches!(e.state, State::Held(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_takes_back_its_own_users_session_once() {
        let resumable = Resumable::new(Duration::from_secs(30), 1);
        let (session, user) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let close = CloseSignal::default();
        let token = resumable
            .issue(session, user, ConnId(7), close.clone())
            .expect("resuming is on");
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
                from: ConnId(7)
            }
        );
        assert!(close.reason().is_some(), "the old connection is closed");
        assert_eq!(resumable.end(Some(&token), ConnId(7), true), Ending::Moved);
        assert_eq!(resumable.take(&token, user), None, "once");

        let token = resumable
            .issue(session, user, ConnId(8), CloseSignal::default())
            .expect("on");
        assert!(matches!(
            resumable.end(Some(&token), ConnId(8), true),
            Ending::Hold { .. }
        ));
        assert_eq!(resumable.held(), 1);
        let second = resumable
            .issue(Uuid::from_u128(4), user, ConnId(10), CloseSignal::default())
            .expect("on");
        assert_eq!(
            resumable.end(Some(&second), ConnId(10), true),
            Ending::Disconnect,
            "one held session at most here: the second ends at once"
        );
        assert_eq!(resumable.held(), 1);
        assert!(resumable.take(&token, user).is_some(), "held, then taken");

        let token = resumable
            .issue(session, user, ConnId(9), CloseSignal::default())
            .expect("on");
        assert_eq!(
            resumable.end(Some(&token), ConnId(9), false),
            Ending::Disconnect,
            "a connection the server closed is not held"
        );
        assert_eq!(resumable.take(&token, user), None);
        assert!(
            Resumable::new(Duration::ZERO, 1)
                .issue(session, user, ConnId(1), CloseSignal::default())
                .is_none()
        );
    }
}
