//! What faces a connection: the state every transport's connection tasks share (the way
//! into the tick thread, the store for hello, limits, counters), the session core they all
//! run, the one translation between wire and world, rate limits, connection slots, the
//! registry of live sessions, resume tokens, and the transports themselves.

pub mod bridge;
pub(crate) mod conn;
pub(crate) mod hello;
pub(crate) mod live;
pub(crate) mod rate;
pub(crate) mod resume;
pub(crate) mod session;
pub(crate) mod slots;
pub(crate) mod transport;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Sender;
use plaza_systems::{Command, ConnId, Input};
use uuid::Uuid;

use self::bridge::InputLimits;
use self::conn::Envelope;
use self::live::LiveSessions;
use self::rate::KeyedBuckets;
use self::slots::Slots;
use crate::auth::{self, Account, MAX_TOKEN_BYTES};
use crate::clock::now_ms;
use crate::config::Config;
use crate::host::directory::Directory;
use crate::http::gates::Gate;
use crate::store::{Store, StoreError};
use crate::telemetry::{Telemetry, TickStats, WriterStats};
use crate::uploads::storage::FileStore;

/// Everything a connection task needs.
#[derive(Debug)]
pub struct Edge {
    /// The configuration in force.
    pub config: Config,
    /// Size limits for client input.
    pub(crate) limits: InputLimits,
    /// The store (for users at hello).
    pub store: Store,
    /// Into the tick thread.
    envelopes: Sender<Envelope>,
    /// Connection slots, in all and per client address.
    pub(crate) slots: Slots,
    next_conn: AtomicU64,
    /// Counters of the tick thread.
    pub tick_stats: Arc<TickStats>,
    /// Counters of the store writer.
    pub writer_stats: Arc<WriterStats>,
    /// Histograms and per-transport counters.
    pub telemetry: Arc<Telemetry>,
    /// Loaded spaces and who is in them, as the tick thread last published them.
    pub(crate) directory: Arc<Directory>,
    /// SHA-256 of the TLS certificate, for `GET /cert-hash`.
    pub cert_sha256: [u8; 32],
    /// UDP ports of QUIC and WebTransport, once bound (0: not enabled).
    ports: [std::sync::atomic::AtomicU16; 2],
    /// Connected sessions and their tokens.
    pub(crate) sessions: LiveSessions,
    /// Resume tokens, and the sessions held for them.
    pub(crate) resumable: resume::Resumable,
    /// Where uploads are stored (`None` when uploads are switched off).
    pub(crate) files: Option<FileStore>,
    /// New connections per client address.
    pub(crate) connection_limit: KeyedBuckets<IpAddr>,
    /// HTTP requests per client address.
    pub(crate) http_limit: KeyedBuckets<IpAddr>,
    /// Chat lines per user.
    pub(crate) chat_limit: KeyedBuckets<Uuid>,
    /// Messages, connections and requests refused for going over a rate.
    pub(crate) rate_limited: AtomicU64,
    /// Password hashes computed at once (registration, login).
    pub password_hashing: Gate,
    /// Uploads received and checked at once.
    pub uploads: Gate,
    /// This node's cluster membership (PostgreSQL with `cluster_enabled`).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// Most client addresses (or users) whose buckets are remembered at once.
const RATE_KEYS: usize = 100_000;

/// What the tick thread and the store writer publish for the edge to read.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// The tick thread's counters.
    pub tick: Arc<TickStats>,
    /// The store writer's counters.
    pub writer: Arc<WriterStats>,
    /// Histograms and per-transport counters.
    pub telemetry: Arc<Telemetry>,
    /// Loaded spaces and who is in them.
    pub(crate) directory: Arc<Directory>,
}

/// The inbox holds `inbox_capacity` client commands already; the command was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InboxFull;

impl Edge {
    /// Edge state around the tick thread's input channel.
    pub(crate) fn new(
        config: Config,
        store: Store,
        envelopes: Sender<Envelope>,
        published: &Published,
        cert_sha256: [u8; 32],
        files: Option<FileStore>,
        cluster: Option<Arc<crate::cluster::Cluster>>,
    ) -> Self {
        let config_rates = (
            config.connections_per_addr,
            config.http_requests_per_addr,
            config.message_rates.chat,
        );
        let password_hashing = Gate::new(
            "password checks",
            config.password_hash_concurrency,
            std::time::Duration::from_millis(config.password_hash_wait_ms),
        );
        let uploads = Gate::new(
            "uploads",
            config.upload_concurrency,
            std::time::Duration::from_millis(config.upload_wait_ms),
        );
        let resume_grace = std::time::Duration::from_secs(config.resume_grace_secs);
        // A held session stands for a connection that went away: as many as may be open.
        let max_held = config.max_connections;
        Self {
            limits: InputLimits::from_config(&config),
            slots: Slots::new(config.max_connections, config.max_connections_per_addr),
            config,
            store,
            envelopes,
            next_conn: AtomicU64::new(1),
            tick_stats: published.tick.clone(),
            writer_stats: published.writer.clone(),
            telemetry: published.telemetry.clone(),
            directory: published.directory.clone(),
            cert_sha256,
            ports: Default::default(),
            sessions: LiveSessions::default(),
            resumable: resume::Resumable::new(
                resume_grace,
                max_held,
                cluster.as_deref().map(|c| &*c.node),
            ),
            files,
            connection_limit: KeyedBuckets::new(config_rates.0, RATE_KEYS),
            http_limit: KeyedBuckets::new(config_rates.1, RATE_KEYS),
            chat_limit: KeyedBuckets::new(config_rates.2, RATE_KEYS),
            rate_limited: AtomicU64::new(0),
            password_hashing,
            uploads,
            cluster,
        }
    }

    /// The account a bearer token stands for: a live session's token, or an unexpired
    /// login token. `Ok(None)` for an unknown token.
    pub(crate) async fn account_for_token(
        &self,
        token: &str,
    ) -> Result<Option<Account>, StoreError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Ok(None);
        }
        let hash = auth::token_hash(token);
        if let Some(live) = self.sessions.by_token(&hash) {
            return Ok(Some(live.account));
        }
        self.store.durable.token_account(&hash, now_ms()).await
    }

    /// Records the bound UDP ports, for `GET /cert-hash` to tell pages where to connect.
    pub(crate) fn set_ports(
        &self,
        quic: Option<std::net::SocketAddr>,
        webtransport: Option<std::net::SocketAddr>,
    ) {
        let port = |a: Option<std::net::SocketAddr>| a.map_or(0, |a| a.port());
        self.ports[0].store(port(quic), Ordering::Relaxed);
        self.ports[1].store(port(webtransport), Ordering::Relaxed);
    }

    /// (QUIC port, WebTransport port); 0 where not enabled.
    pub(crate) fn ports(&self) -> (u16, u16) {
        (
            self.ports[0].load(Ordering::Relaxed),
            self.ports[1].load(Ordering::Relaxed),
        )
    }

    /// Whether a new connection from `addr` is within `connections_per_addr` (counted
    /// when refused).
    pub(crate) fn admit_connection(&self, addr: IpAddr) -> bool {
        let ok = self.connection_limit.take(addr, std::time::Instant::now());
        if !ok {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Queues an input from outside any connection (an upload's event) unless the inbox
    /// already holds `inbox_capacity` entries; then it is dropped and counted (the event
    /// log is statistics, not state).
    pub(crate) fn submit_side(&self, input: Input) -> bool {
        if self.envelopes.len() >= self.config.inbox_capacity {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.submit(Envelope::Input(input));
        true
    }

    /// A fresh connection id.
    pub(crate) fn next_conn(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Queues a client command for the next tick, refusing it when `inbox_capacity`
    /// entries already wait (the count is read without a lock, so a burst of concurrent
    /// senders can overshoot by at most one entry each).
    pub(crate) fn submit_command(
        &self,
        conn: ConnId,
        request: Option<u32>,
        command: Command,
    ) -> Result<(), InboxFull> {
        if self.envelopes.len() >= self.config.inbox_capacity {
            return Err(InboxFull);
        }
        self.submit(Envelope::Input(Input::Command {
            conn,
            request,
            command,
        }));
        Ok(())
    }

    /// Queues a lifecycle envelope (register, disconnect, space loaded). These are never
    /// refused: there are at most two per connection, connections are capped by
    /// `max_connections`, and loads by the number of spaces being joined.
    pub(crate) fn submit(&self, envelope: Envelope) {
        // The channel closes only when the tick thread has stopped, i.e. at shutdown,
        // when nothing more will be applied anyway.
        let _ = self.envelopes.send(envelope);
    }

    /// Connections open right now (TCP, QUIC and WebTransport).
    pub fn connections(&self) -> usize {
        self.slots.in_use()
    }
}
