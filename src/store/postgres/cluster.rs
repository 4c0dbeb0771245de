//! The cluster's state in PostgreSQL: node heartbeats and space ownership with its fencing
//! epoch. PostgreSQL's clock (`now()`) is the only clock leases are measured by, so nodes
//! whose clocks disagree still agree on who owns what.
//!
//! Fencing: a claim is an `UPDATE` of the space's `space_owners` row that raises `epoch`;
//! every flush of a space begins with `SELECT epoch .. FOR SHARE` of that row and commits
//! only if the epoch is still the writer's. The share lock makes a claim wait for flushes in
//! flight, and a flush that begins after a claim sees the new epoch, so once a claim has
//! committed, no write of an older owner can commit after it.

use sqlx::postgres::PgConnection;
use sqlx::{Postgres, Row};
use uuid::Uuid;

use super::PostgresStore;
use crate::store::StoreError;

/// What a claim of a space found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node owns the space now, with this epoch.
    Owned(u64),
    /// Another node holds a live lease on it.
    Elsewhere {
        /// The owner.
        node: String,
        /// The node it is being handed to, if a hand-off is under way.
        moving_to: Option<String>,
    },
}

/// A lease renewed by a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewed {
    /// The space.
    pub space: Uuid,
    /// Its epoch (unchanged by renewal).
    pub epoch: u64,
    /// The node an admin asked to move it to, if any.
    pub moving_to: Option<String>,
}

/// A node's row, as written at each heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    /// Node id.
    pub node_id: String,
    /// This run of it.
    pub incarnation: Uuid,
    /// Plaza version.
    pub version: String,
    /// Where clients reach its HTTP and WebSocket listener.
    pub http_url: String,
    /// Its QUIC port (0: off).
    pub quic_port: u16,
    /// Its WebTransport port (0: off).
    pub webtransport_port: u16,
    /// SHA-256 of its certificate, hex.
    pub cert_sha256: String,
    /// Sessions connected.
    pub sessions: u32,
    /// Spaces it owns.
    pub spaces: u32,
    /// Sessions above which it sends newcomers elsewhere (0: no limit).
    pub max_sessions: u32,
    /// Share of one core used since the last heartbeat.
    pub cpu: f32,
    /// Whether it is handing its spaces away to stop.
    pub draining: bool,
    /// What other nodes present when they ask it for a session (drawn at each start).
    pub peer_secret: crate::config::Secret,
}

/// A node as listed, with whether its heartbeat is recent.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeListing {
    /// What it last wrote.
    pub row: NodeRow,
    /// Whether it beat within the lease time.
    pub live: bool,
    /// Ms since its last heartbeat.
    pub silent_ms: i64,
}

/// A space's owner as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// Space id.
    pub space: Uuid,
    /// Space name.
    pub name: String,
    /// Owner.
    pub node: String,
    /// Fencing epoch.
    pub epoch: u64,
    /// Ms the lease has left (negative: expired).
    pub lease_left_ms: i64,
}

fn epoch_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl PostgresStore {
    /// Claims `space` for `node` if nobody else holds a live lease on it (or `node` holds
    /// it and is not handing it away): the epoch rises either way, so whatever an earlier
    /// owner still has in flight is refused from now on. The target of a hand-off cannot
    /// claim it before the owner has passed it on ([`PostgresStore::hand_over`]): until then
    /// the owner may still be writing its last rows.
    pub async fn claim_space(
        &self,
        space: Uuid,
        node: &str,
        lease_ms: u64,
    ) -> Result<Claim, StoreError> {
        let claimed = sqlx::query(
            "INSERT INTO space_owners (space_id, node_id, epoch, lease_until)
             VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3::float8 / 1000))
             ON CONFLICT (space_id) DO UPDATE SET
                 node_id = EXCLUDED.node_id, epoch = space_owners.epoch + 1,
                 lease_until = EXCLUDED.lease_until, moving_to = NULL
             WHERE (space_owners.node_id = EXCLUDED.node_id AND space_owners.moving_to IS NULL)
                OR space_owners.lease_until < clock_timestamp()
             RETURNING epoch",
        )
        .bind(space)
        .bind(node)
        .bind(lease_ms as f64)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = claimed {
            return Ok(Claim::Owned(epoch_of(row.try_get("epoch")?)));
        }
        let row = sqlx::query("SELECT node_id, moving_to FROM space_owners WHERE space_id = $1")
            .bind(space)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Claim::Elsewhere {
                node: row.try_get("node_id")?,
                moving_to: row.try_get("moving_to")?,
            }),
            // Deleted between the two statements.
            None => Err(StoreError::Corrupt {
                table: "space_owners",
                detail: format!("space {space} vanished while being claimed"),
            }),
        }
    }

    /// Extends the leases of every space `node` owns; returns them with their epochs and
    /// the node each is asked to move to, if any (a space missing from the answer was
    /// taken by another node).
    pub async fn renew_leases(
        &self,
        node: &str,
        lease_ms: u64,
    ) -> Result<Vec<Renewed>, StoreError> {
        let rows = sqlx::query(
            "UPDATE space_owners
             SET lease_until = clock_timestamp() + make_interval(secs => $2::float8 / 1000)
             WHERE node_id = $1
             RETURNING space_id, epoch, moving_to",
        )
        .bind(node)
        .bind(lease_ms as f64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Renewed {
                    space: row.try_get("space_id")?,
                    epoch: epoch_of(row.try_get("epoch")?),
                    moving_to: row.try_get("moving_to")?,
                })
            })
            .collect()
    }

    /// Asks whichever node owns `space` to hand it to `to` (it sees this at its next
    /// heartbeat); the owner, or `None` if no node holds a live lease on it.
    pub async fn request_move(&self, space: Uuid, to: &str) -> Result<Option<String>, StoreError> {
        let owner: Option<String> = sqlx::query_scalar(
            "UPDATE space_owners SET moving_to = $2
             WHERE space_id = $1 AND lease_until > clock_timestamp() AND node_id <> $2
             RETURNING node_id",
        )
        .bind(space)
        .bind(to)
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner)
    }

    /// Gives up a hand-off that could not complete: `node` keeps `space`.
    pub async fn cancel_hand_off(&self, space: Uuid, node: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE space_owners SET moving_to = NULL WHERE space_id = $1 AND node_id = $2",
        )
        .bind(space)
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up `node`'s leases on `spaces` (all of them when `None`): they are claimable
    /// at once, and their epochs stay, so the next claim raises them.
    pub async fn release_spaces(
        &self,
        node: &str,
        spaces: Option<&[Uuid]>,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE space_owners SET lease_until = '-infinity', moving_to = NULL
             WHERE node_id = $1 AND ($2::uuid[] IS NULL OR space_id = ANY($2))",
        )
        .bind(node)
        .bind(spaces.map(<[Uuid]>::to_vec))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Marks `space` (owned by `node` at `epoch`) as being handed to `to`; false if `node`
    /// no longer owns it at that epoch.
    pub async fn begin_hand_off(
        &self,
        space: Uuid,
        node: &str,
        epoch: u64,
        to: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE space_owners SET moving_to = $4
             WHERE space_id = $1 AND node_id = $2 AND epoch = $3",
        )
        .bind(space)
        .bind(node)
        .bind(epoch as i64)
        .bind(to)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Passes `space` from `node` (at `epoch`) to `to`, raising the epoch: `to` owns it
    /// with a fresh lease and loads it at its next join.
    pub async fn hand_over(
        &self,
        space: Uuid,
        node: &str,
        epoch: u64,
        to: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE space_owners
             SET node_id = $4, epoch = epoch + 1, moving_to = NULL,
                 lease_until = clock_timestamp() + make_interval(secs => $5::float8 / 1000)
             WHERE space_id = $1 AND node_id = $2 AND epoch = $3",
        )
        .bind(space)
        .bind(node)
        .bind(epoch as i64)
        .bind(to)
        .bind(lease_ms as f64)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Writes `node`'s heartbeat.
    pub async fn heartbeat(&self, node: &NodeRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cluster_nodes (node_id, incarnation, version, http_url, quic_port,
                 webtransport_port, cert_sha256, sessions, spaces, max_sessions, cpu, draining,
                 peer_secret, started_at, heartbeat_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                     clock_timestamp(), clock_timestamp())
             ON CONFLICT (node_id) DO UPDATE SET
                 incarnation = EXCLUDED.incarnation, version = EXCLUDED.version,
                 http_url = EXCLUDED.http_url, quic_port = EXCLUDED.quic_port,
                 webtransport_port = EXCLUDED.webtransport_port,
                 cert_sha256 = EXCLUDED.cert_sha256, sessions = EXCLUDED.sessions,
                 spaces = EXCLUDED.spaces, max_sessions = EXCLUDED.max_sessions,
                 cpu = EXCLUDED.cpu, draining = EXCLUDED.draining,
                 peer_secret = EXCLUDED.peer_secret,
                 started_at = CASE WHEN cluster_nodes.incarnation = EXCLUDED.incarnation
                                   THEN cluster_nodes.started_at ELSE EXCLUDED.started_at END,
                 heartbeat_at = EXCLUDED.heartbeat_at",
        )
        .bind(&node.node_id)
        .bind(node.incarnation)
        .bind(&node.version)
        .bind(&node.http_url)
        .bind(i32::from(node.quic_port))
        .bind(i32::from(node.webtransport_port))
        .bind(&node.cert_sha256)
        .bind(i32::try_from(node.sessions).unwrap_or(i32::MAX))
        .bind(i32::try_from(node.spaces).unwrap_or(i32::MAX))
        .bind(i32::try_from(node.max_sessions).unwrap_or(i32::MAX))
        .bind(node.cpu)
        .bind(node.draining)
        .bind(node.peer_secret.expose())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Says `node` stopped: its heartbeat is backdated so that it is not live.
    pub async fn node_stopped(&self, node: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cluster_nodes SET heartbeat_at = '-infinity', sessions = 0, spaces = 0
             WHERE node_id = $1",
        )
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every node that ever beat, with whether it beat within `live_ms`.
    pub async fn nodes(&self, live_ms: u64) -> Result<Vec<NodeListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT node_id, incarnation, version, http_url, quic_port, webtransport_port,
                    cert_sha256, sessions, spaces, max_sessions, cpu, draining, peer_secret,
                    CASE WHEN heartbeat_at = '-infinity' THEN NULL ELSE
                    (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::int8 END
                        AS silent_ms
             FROM cluster_nodes ORDER BY node_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let count = |row: &sqlx::postgres::PgRow, column: &str| -> Result<u32, StoreError> {
            Ok(u32::try_from(row.try_get::<i32, _>(column)?).unwrap_or(0))
        };
        let port = |row: &sqlx::postgres::PgRow, column: &str| -> Result<u16, StoreError> {
            Ok(u16::try_from(row.try_get::<i32, _>(column)?).unwrap_or(0))
        };
        rows.iter()
            .map(|row| {
                let silent: Option<i64> = row.try_get("silent_ms")?;
                Ok(NodeListing {
                    row: NodeRow {
                        node_id: row.try_get("node_id")?,
                        incarnation: row.try_get("incarnation")?,
                        version: row.try_get("version")?,
                        http_url: row.try_get("http_url")?,
                        quic_port: port(row, "quic_port")?,
                        webtransport_port: port(row, "webtransport_port")?,
                        cert_sha256: row.try_get("cert_sha256")?,
                        sessions: count(row, "sessions")?,
                        spaces: count(row, "spaces")?,
                        max_sessions: count(row, "max_sessions")?,
                        cpu: row.try_get("cpu")?,
                        draining: row.try_get("draining")?,
                        peer_secret: crate::config::Secret::new(
                            row.try_get::<String, _>("peer_secret")?,
                        ),
                    },
                    live: silent.is_some_and(|ms| ms <= live_ms as i64),
                    silent_ms: silent.unwrap_or(i64::MAX),
                })
            })
            .collect()
    }

    /// Every space with a live lease, by owner.
    pub async fn owners(&self) -> Result<Vec<Ownership>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.space_id, s.name, o.node_id, o.epoch,
                    (extract(epoch FROM o.lease_until - clock_timestamp()) * 1000)::int8
                        AS lease_left_ms
             FROM space_owners o JOIN spaces s ON s.id = o.space_id
             WHERE o.lease_until > clock_timestamp()
             ORDER BY o.node_id, s.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Ownership {
                    space: row.try_get("space_id")?,
                    name: row.try_get("name")?,
                    node: row.try_get("node_id")?,
                    epoch: epoch_of(row.try_get("epoch")?),
                    lease_left_ms: row.try_get("lease_left_ms")?,
                })
            })
            .collect()
    }
}

impl PostgresStore {
    /// The LISTEN/NOTIFY channel of this database schema's cluster.
    pub async fn notice_channel(&self) -> Result<String, StoreError> {
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&self.pool)
            .await?;
        // A channel is an identifier: at most 63 bytes, quoted when it is used.
        let safe: String = schema
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(50)
            .collect();
        Ok(format!("plaza_{safe}"))
    }

    /// Sends `payload` on `channel` to every listening node.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A listener on its own connection (not one of the pool's), for cluster notices.
    pub async fn listener(&self) -> Result<sqlx::postgres::PgListener, StoreError> {
        let options = self.pool.connect_options().as_ref().clone();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Ok(sqlx::postgres::PgListener::connect_with(&pool).await?)
    }
}

/// The fence at the start of a space's transaction: holds the owner row (shared) until
/// commit and checks that `node` still owns `space` at `epoch`.
pub(super) async fn check_fence(
    tx: &mut PgConnection,
    fence: &crate::store::Fence,
) -> Result<(), StoreError> {
    let current: Option<(String, i64)> = sqlx::query_as::<Postgres, (String, i64)>(
        "SELECT node_id, epoch FROM space_owners WHERE space_id = $1 FOR SHARE",
    )
    .bind(fence.space)
    .fetch_optional(&mut *tx)
    .await?;
    match current {
        Some((node, epoch)) if node == *fence.node && epoch_of(epoch) == fence.epoch => Ok(()),
        found => Err(StoreError::Fenced {
            space: fence.space,
            epoch: fence.epoch,
            now: found.map(|(node, epoch)| format!("{node} at epoch {epoch}")),
        }),
    }
}
