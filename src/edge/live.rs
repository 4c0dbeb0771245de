//! The registry of live sessions: whose session tokens are valid while they last, which the
//! admin API lists and kicks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use plaza_systems::Transport;
use uuid::Uuid;

use crate::auth::Account;
use crate::edge::conn::{CloseReason, CloseSignal};

/// A session that is connected right now.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// Session id (as in `welcome`).
    pub session: Uuid,
    /// Who.
    pub account: Account,
    /// What carries it.
    pub transport: Transport,
    /// Client address.
    pub client_addr: Option<IpAddr>,
    /// User agent, if sent.
    pub user_agent: Option<Arc<str>>,
    /// Start, ms since the Unix epoch.
    pub started_ms: i64,
    /// Closes the connection (kick).
    pub close: CloseSignal,
}

/// Live sessions by the hash of their token, and by id.
#[derive(Debug, Default)]
pub struct LiveSessions {
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    by_token: HashMap<[u8; 32], Uuid>,
    by_id: HashMap<Uuid, ([u8; 32], LiveSession)>,
}

impl LiveSessions {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a session with its token's hash. A session taken back on a new connection
    /// replaces its entry, and its old token stops working.
    pub fn insert(&self, token_hash: [u8; 32], live: LiveSession) {
        let mut registry = self.lock();
        registry.by_token.insert(token_hash, live.session);
        if let Some((old_hash, _)) = registry.by_id.insert(live.session, (token_hash, live))
            && old_hash != token_hash
        {
            registry.by_token.remove(&old_hash);
        }
    }

    /// Removes a session; its token stops working.
    pub fn remove(&self, session: Uuid) {
        let mut registry = self.lock();
        if let Some((hash, _)) = registry.by_id.remove(&session) {
            registry.by_token.remove(&hash);
        }
    }

    /// The live session holding this token.
    pub fn by_token(&self, token_hash: &[u8; 32]) -> Option<LiveSession> {
        let registry = self.lock();
        let id = registry.by_token.get(token_hash)?;
        registry.by_id.get(id).map(|(_, live)| live.clone())
    }

    /// Every live session, oldest first.
    pub fn list(&self) -> Vec<LiveSession> {
        let mut all: Vec<_> = self
            .lock()
            .by_id
            .values()
            .map(|(_, live)| live.clone())
            .collect();
        all.sort_by_key(|l| (l.started_ms, l.session));
        all
    }

    /// Distinct users connected.
    pub fn users_online(&self) -> usize {
        let registry = self.lock();
        let users: std::collections::HashSet<Uuid> =
            registry.by_id.values().map(|(_, l)| l.account.id).collect();
        users.len()
    }

    /// Closes a session's connection with `reason`; false if there is no such session.
    pub fn kick(&self, session: Uuid, reason: &str) -> bool {
        let close = self
            .lock()
            .by_id
            .get(&session)
            .map(|(_, l)| l.close.clone());
        match close {
            Some(close) => {
                close.close(CloseReason::policy(reason));
                true
            }
            None => false,
        }
    }
}
