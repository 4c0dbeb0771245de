//! The cluster: every `plaza serve` on the same PostgreSQL is one service. Each space is
//! owned by one node at a time through a lease with a fencing epoch in PostgreSQL (see
//! [`crate::store::postgres::cluster`]); a join of a space owned elsewhere is answered with
//! `moved`; nodes announce themselves with heartbeats that also renew their leases.
//!
//! Why leases live in PostgreSQL, not Redis or a session-level advisory lock: the fencing
//! epoch must be in the system of record anyway, and keeping the lease in the same row
//! makes a claim and its epoch one atomic statement, with one clock (the database's) for
//! every node. An advisory lock is held by a connection, so a frozen node (SIGSTOP, a VM
//! pause) keeps its spaces for as long as its TCP connection lives; a lease simply
//! expires. Renewing costs one `UPDATE` per node per heartbeat, whatever the number of
//! spaces (docs/benchmarks.md).

pub mod handoff;
pub(crate) mod heartbeat;
pub mod notices;
pub mod peers;
pub(crate) mod placement;
pub(crate) mod sessions;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use plaza_systems::NodeAddress;
use uuid::Uuid;

use crate::config::Config;
use crate::store::postgres::cluster::{NodeListing, NodeRow};
use crate::store::writer::WriteProbe;
use crate::store::{Fences, PostgresStore};

/// Whether `node` is a valid node id: 1 to 128 characters of `[A-Za-z0-9._:-]`.
pub fn valid_node_id(node: &str) -> bool {
    (1..=128).contains(&node.len())
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// This machine's host name, for default node ids and advertised addresses.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| valid_node_id(name))
        .unwrap_or_else(|| "plaza".into())
}

/// This node's membership: who it is, where clients reach it, and the spaces it owns.
#[derive(Debug)]
pub struct Cluster {
    /// This node's id.
    pub node: Arc<str>,
    /// This run of it.
    pub incarnation: Uuid,
    /// The database holding leases and heartbeats.
    pub store: PostgresStore,
    /// The spaces this node owns, with their epochs (the writer fences with them).
    pub fences: Arc<Fences>,
    /// How long a lease lasts without renewal, in ms.
    pub lease_ms: u64,
    /// Sessions above which newcomers to unowned spaces go elsewhere (0: no limit).
    pub max_sessions: usize,
    /// Set while the node hands its spaces away to stop.
    pub draining: AtomicBool,
    /// What the writer still holds (a hand-off waits for a space's rows to be written).
    pub probe: std::sync::OnceLock<WriteProbe>,
    /// The client for asking other nodes ([`peers`]).
    pub http: reqwest::Client,
    /// What other nodes present to take a session from this one ([`sessions`]); drawn at
    /// each start and announced in the heartbeat row.
    pub peer_secret: crate::config::Secret,
    advertise_host: String,
    address: Mutex<Option<NodeAddress>>,
    handing_off: Mutex<HashSet<Uuid>>,
}

impl Cluster {
    /// The cluster membership `config` asks for on `store`, or `None` when the durable
    /// store is not PostgreSQL or `cluster_enabled` is off.
    pub fn from_config(config: &Config, store: &crate::store::Store) -> Option<Arc<Self>> {
        let crate::store::Durable::Postgres(pg) = &store.durable else {
            return None;
        };
        if !config.cluster_enabled {
            tracing::warn!(
                "cluster_enabled = false: this node assumes no other node uses the database"
            );
            return None;
        }
        let host = hostname();
        let node: Arc<str> = match &config.node_id {
            Some(node) => Arc::from(node.as_str()),
            None if config.listen.port() != 0 => {
                Arc::from(format!("{host}:{}", config.listen.port()))
            }
            None => Arc::from(format!(
                "{host}:{}",
                &Uuid::new_v4().simple().to_string()[..8]
            )),
        };
        let advertise_host = config.advertise_host.clone().unwrap_or_else(|| {
            let ip = config.listen.ip();
            if ip.is_unspecified() {
                host
            } else if ip.is_ipv6() {
                format!("[{ip}]")
            } else {
                ip.to_string()
            }
        });
        Some(Arc::new(Self {
            fences: Arc::new(Fences::new(node.clone())),
            node,
            incarnation: Uuid::new_v4(),
            store: pg.clone(),
            lease_ms: config.lease_ms,
            max_sessions: config.max_sessions_per_node,
            draining: AtomicBool::new(false),
            probe: std::sync::OnceLock::new(),
            http: peers::client(),
            peer_secret: crate::config::Secret::new(crate::auth::new_token().0),
            advertise_host,
            address: Mutex::new(None),
            handing_off: Mutex::default(),
        }))
    }

    /// Records where clients reach this node, once its ports are bound.
    pub(crate) fn set_ports(&self, http_port: u16, quic: u16, webtransport: u16, cert: String) {
        let address = NodeAddress {
            node: self.node.clone(),
            http_url: Arc::from(format!("http://{}:{http_port}", self.advertise_host)),
            quic_port: quic,
            webtransport_port: webtransport,
            cert_sha256: Arc::from(cert),
        };
        *self.address.lock().unwrap_or_else(|p| p.into_inner()) = Some(address);
    }

    /// Marks `space` as being handed off; false if it already is.
    fn begin(&self, space: Uuid) -> bool {
        self.handing_off
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(space)
    }

    fn end(&self, space: Uuid) {
        self.handing_off
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&space);
    }

    /// Where clients reach this node (`None` before its ports are bound).
    pub fn address(&self) -> Option<NodeAddress> {
        self.address
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// This node's heartbeat row, with its current load.
    pub(crate) fn row(&self, sessions: u64, cpu: f32) -> Option<NodeRow> {
        let address = self.address()?;
        Some(NodeRow {
            node_id: self.node.to_string(),
            incarnation: self.incarnation,
            version: env!("CARGO_PKG_VERSION").to_string(),
            http_url: address.http_url.to_string(),
            quic_port: address.quic_port,
            webtransport_port: address.webtransport_port,
            cert_sha256: address.cert_sha256.to_string(),
            sessions: u32::try_from(sessions).unwrap_or(u32::MAX),
            spaces: u32::try_from(self.fences.count()).unwrap_or(u32::MAX),
            max_sessions: u32::try_from(self.max_sessions).unwrap_or(u32::MAX),
            cpu,
            draining: self.draining.load(Ordering::Relaxed),
            peer_secret: self.peer_secret.clone(),
        })
    }
}

impl Cluster {
    /// The node stops: its leases are given up (when everything was written; otherwise
    /// they run out, and the unwritten rows are lost either way) and its heartbeat marked
    /// stopped, so other nodes take its spaces at their next join.
    pub(crate) async fn leave(&self, all_written: bool) {
        if all_written {
            match self.store.release_spaces(&self.node, None).await {
                Ok(spaces) => tracing::info!(spaces, "cluster: leases given up"),
                Err(error) => {
                    tracing::warn!(%error, "cluster: cannot give up leases; they run out in lease_ms")
                }
            }
        }
        if let Err(error) = self.store.node_stopped(&self.node).await {
            tracing::warn!(%error, "cluster: cannot mark this node stopped");
        }
    }
}

/// The live node `node` among `nodes`, as clients reach it.
pub(crate) fn live_among(nodes: &[NodeListing], node: &str) -> Option<NodeAddress> {
    nodes
        .iter()
        .find(|n| n.live && n.row.node_id == node)
        .map(address_of)
}

/// A listed node as clients reach it.
pub(crate) fn address_of(listing: &NodeListing) -> NodeAddress {
    let row = &listing.row;
    NodeAddress {
        node: Arc::from(row.node_id.as_str()),
        http_url: Arc::from(row.http_url.as_str()),
        quic_port: row.quic_port,
        webtransport_port: row.webtransport_port,
        cert_sha256: Arc::from(row.cert_sha256.as_str()),
    }
}
