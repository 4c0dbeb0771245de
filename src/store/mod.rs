//! Durable storage behind one small interface: the embedded SQLite store by default,
//! PostgreSQL when `database_url` is set, and optionally Redis for space snapshots and
//! presence. A named background task, the [`writer`], owns every write of world state; the
//! edge only finds users and loads spaces.
//!
//! Loading a space takes its Redis snapshot when the snapshot is at least as new as the
//! durable store (each flush that changes a space raises its `version` in both), and falls
//! back to the durable store otherwise, re-warming the snapshot.

pub mod accounts;
mod deletions;
mod fences;
pub(crate) mod files;
mod pending;
pub mod postgres;
mod redis;
mod spaces;
mod sqlite;
mod transfer;
pub mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use plaza_systems::{ChatLine, LoadedSpace, ObjectState, Rows};
use uuid::Uuid;

pub use deletions::SpaceDeletions;
pub use fences::Fences;
pub(crate) use pending::{DeadRow, Pending, dead_rows};
pub use postgres::PostgresStore;
pub use redis::{RedisSnapshots, SnapshotChanges};
pub use spaces::NewSpace;
pub use sqlite::SqliteStore;

use crate::clock::now_ms;
use crate::config::Config;

/// Why a store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema failed.
    #[error("could not apply the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Redis refused or could not be reached.
    #[error("redis error: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}; check the path and permissions")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A write took longer than the writer allows (the store stopped answering).
    #[error("the store did not answer within {0:?}; retrying")]
    TimedOut(std::time::Duration),
    /// A stored row cannot be read back (e.g. an id that is not a UUID).
    #[error("corrupt data in {table}: {detail}")]
    Corrupt {
        /// Table (or Redis key) of the data.
        table: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The space is being deleted; a join by its name makes a new one once it is gone.
    #[error("space {0} is being deleted; try again in a moment")]
    SpaceDeleting(Uuid),
    /// This node no longer owns the space at the epoch it wrote with: another node claimed
    /// it, and these rows must not be written (they would overwrite the new owner's).
    #[error("space {space} is no longer this node's at epoch {epoch} (now: {}); its rows are dropped", now.as_deref().unwrap_or("unowned"))]
    Fenced {
        /// The space.
        space: Uuid,
        /// The epoch this node wrote with.
        epoch: u64,
        /// Who owns it now, if anyone.
        now: Option<String>,
    },
}

/// The ownership a space's write must still hold to commit (cluster mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The space written.
    pub space: Uuid,
    /// This node.
    pub node: Arc<str>,
    /// The epoch this node claimed the space at.
    pub epoch: u64,
}

impl StoreError {
    /// Whether the store refused the data itself (a value it cannot hold, a broken
    /// constraint), so that writing the same rows again can never succeed; the writer then
    /// isolates and dead-letters them. Everything else (the store unreachable, busy, timed
    /// out, or an error not tied to the rows) is retried.
    ///
    /// PostgreSQL: SQLSTATE classes 22 (data exception), 23 (integrity constraint) and 54
    /// (program limit, e.g. an index row too large or JSON nested too deeply). SQLite:
    /// constraint (19), too big (18), datatype mismatch (20) and range (25) result codes.
    pub(crate) fn is_data_error(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Encode(_)) => true,
            Self::Database(sqlx::Error::Database(error)) => {
                if error.kind() != sqlx::error::ErrorKind::Other {
                    return true;
                }
                let Some(code) = error.code() else {
                    return false;
                };
                match code.parse::<u32>() {
                    // SQLite's extended result code: the primary code is the low byte.
                    Ok(extended)
                        if error
                            .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                            .is_some() =>
                    {
                        matches!(extended & 0xff, 18 | 19 | 20 | 25)
                    }
                    _ => matches!(code.get(..2), Some("22" | "23" | "54")),
                }
            }
            _ => false,
        }
    }
}

/// A space's row: enough to decide where to load its objects from.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceHeader {
    /// Space id.
    pub id: Uuid,
    /// Space name.
    pub name: Arc<str>,
    /// Raised by every flush that changes the space's objects.
    pub version: u64,
}

/// The durable store in use.
#[derive(Debug, Clone)]
pub enum Durable {
    /// The embedded SQLite file.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PostgresStore),
}

macro_rules! durable {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Durable::Sqlite($store) => $call,
            Durable::Postgres($store) => $call,
        }
    };
}

impl Durable {
    /// Short name for logs and health.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// A space's row, if it exists.
    pub async fn space_header(&self, name: &str) -> Result<Option<SpaceHeader>, StoreError> {
        durable!(self, s => s.space_header(name).await)
    }

    /// Every object of a space.
    pub async fn space_objects(&self, space: Uuid) -> Result<Vec<ObjectState>, StoreError> {
        durable!(self, s => s.space_objects(space).await)
    }

    /// The latest `limit` chat lines of a space, oldest first.
    pub async fn recent_chat(
        &self,
        space: Uuid,
        limit: usize,
    ) -> Result<Vec<ChatLine>, StoreError> {
        durable!(self, s => s.recent_chat(space, limit).await)
    }

    /// Writes a batch in one transaction, split into statements of at most `max_rows` rows,
    /// and returns the new version of every space whose objects it changed. With a
    /// `fence` (PostgreSQL only), the transaction commits only while the fence holds.
    pub async fn write(
        &self,
        batch: &Rows,
        max_rows: usize,
        now_ms: i64,
        fence: Option<&Fence>,
    ) -> Result<Vec<(Uuid, u64)>, StoreError> {
        match self {
            Durable::Sqlite(s) => s.write(batch, max_rows, now_ms).await,
            Durable::Postgres(s) => s.write(batch, max_rows, fence).await,
        }
    }

    /// Records rows the store refused, each with the error, in `dead_letters`.
    pub(crate) async fn dead_letter(
        &self,
        rows: &[(DeadRow, &str)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        durable!(self, s => s.dead_letter(rows, now_ms).await)
    }

    /// Closes connections after the last write.
    pub async fn close(&self) {
        durable!(self, s => s.close().await)
    }
}

/// How the stores are doing, for health and statistics.
#[derive(Debug)]
pub struct StoreStats {
    /// Whether the last write to the durable store succeeded.
    pub durable_ok: AtomicBool,
    /// Whether the last write to Redis succeeded (true when Redis is not used).
    pub redis_ok: AtomicBool,
    /// Spaces loaded from their Redis snapshot.
    pub snapshot_hits: AtomicU64,
    /// Spaces loaded from the durable store (no snapshot, or an older one).
    pub snapshot_misses: AtomicU64,
}

impl Default for StoreStats {
    fn default() -> Self {
        Self {
            durable_ok: AtomicBool::new(true),
            redis_ok: AtomicBool::new(true),
            snapshot_hits: AtomicU64::new(0),
            snapshot_misses: AtomicU64::new(0),
        }
    }
}

/// The stores in use.
#[derive(Debug, Clone)]
pub struct Store {
    /// The system of record.
    pub durable: Durable,
    /// Space snapshots and presence, when Redis is configured.
    pub snapshots: Option<RedisSnapshots>,
    /// Shared counters.
    pub stats: Arc<StoreStats>,
    /// Spaces being deleted (loads of them are refused until the writer is done).
    pub deletions: Arc<SpaceDeletions>,
}

impl Store {
    /// Opens the configured stores, applying migrations if `config.migrate_on_start`. Says
    /// once which stores are in use and which are not configured.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        let durable = match &config.database_url {
            _ if !config.persistence_enabled => {
                tracing::warn!(
                    "persistence_enabled = false: the world lives in an in-memory database and is lost at shutdown"
                );
                Durable::Sqlite(SqliteStore::open_in_memory().await?)
            }
            Some(url) => {
                let store = PostgresStore::open(url, config).await?;
                tracing::info!(url = %url.redacted(), "durable store: PostgreSQL");
                Durable::Postgres(store)
            }
            None => {
                let path = config.sqlite_file();
                let store = SqliteStore::open(&path).await?;
                tracing::info!(
                    path = %path.display(),
                    "durable store: embedded SQLite (set database_url to use PostgreSQL)"
                );
                Durable::Sqlite(store)
            }
        };
        let snapshots = match &config.redis_url {
            Some(_) if !config.redis_enabled => {
                tracing::info!("redis_enabled = false: redis_url is ignored");
                None
            }
            Some(url) => {
                let redis = RedisSnapshots::connect(url, config).await?;
                tracing::info!(url = %url.redacted(), prefix = %config.redis_prefix, "snapshots and presence: Redis");
                Some(redis)
            }
            None => {
                tracing::info!(
                    "no redis_url: spaces load from the durable store, presence is not published"
                );
                None
            }
        };
        Ok(Self {
            durable,
            snapshots,
            stats: Arc::new(StoreStats::default()),
            deletions: Arc::default(),
        })
    }

    /// Applies the durable store's migrations and returns (used by `plaza migrate`).
    pub async fn migrate(config: &Config) -> Result<&'static str, StoreError> {
        let config = Config {
            migrate_on_start: true,
            ..config.clone()
        };
        let durable = match &config.database_url {
            Some(url) => Durable::Postgres(PostgresStore::open(url, &config).await?),
            None => Durable::Sqlite(SqliteStore::open(&config.sqlite_file()).await?),
        };
        durable.close().await;
        Ok(durable.kind())
    }

    /// A space with its objects and its latest `chat_limit` chat lines; a space that does
    /// not exist yet is created (public, no owner) through [`Durable::ensure_space`].
    pub async fn load_space(
        &self,
        name: &str,
        chat_limit: usize,
    ) -> Result<LoadedSpace, StoreError> {
        let header = self.space_to_join(name).await?;
        self.load_header(header, chat_limit, 0).await
    }

    /// The row of the space `name`, made (public, no owner) if it does not exist yet;
    /// refused while it is being deleted.
    pub async fn space_to_join(&self, name: &str) -> Result<SpaceHeader, StoreError> {
        let header = match self.durable.space_header(name).await? {
            Some(header) => header,
            None => {
                let new = NewSpace::public(name, now_ms());
                self.durable.ensure_space(&new).await?.0
            }
        };
        if self.deletions.is_deleting(header.id) {
            return Err(StoreError::SpaceDeleting(header.id));
        }
        Ok(header)
    }

    /// The space of `header` with its objects and latest `chat_limit` chat lines; a
    /// snapshot re-warmed on the way is written with `epoch` (0 outside a cluster).
    pub async fn load_header(
        &self,
        header: SpaceHeader,
        chat_limit: usize,
        epoch: u64,
    ) -> Result<LoadedSpace, StoreError> {
        let objects = match self.snapshot_objects(&header).await {
            Some(objects) => {
                self.stats.snapshot_hits.fetch_add(1, Ordering::Relaxed);
                objects
            }
            None => {
                self.stats.snapshot_misses.fetch_add(1, Ordering::Relaxed);
                let objects = self.durable.space_objects(header.id).await?;
                if let Some(redis) = &self.snapshots {
                    redis
                        .rewarm(header.id, header.version, &objects, epoch)
                        .await;
                }
                objects
            }
        };
        let chat = self.durable.recent_chat(header.id, chat_limit).await?;
        let access = self.durable.space_access(header.id).await?;
        Ok(LoadedSpace {
            id: header.id,
            name: header.name,
            objects,
            chat,
            access,
        })
    }

    /// The space's objects from Redis, if its snapshot is at least as new as `header`.
    async fn snapshot_objects(&self, header: &SpaceHeader) -> Option<Vec<ObjectState>> {
        let redis = self.snapshots.as_ref()?;
        match redis.load(header.id, header.version).await {
            Ok(objects) => objects,
            Err(error) => {
                tracing::warn!(%error, space = %header.id, "redis snapshot unreadable; loading from the durable store");
                None
            }
        }
    }

    /// Closes connections after the last write.
    pub async fn close(&self) {
        self.durable.close().await;
    }
}

/// A store's error message as text any store keeps: NUL escaped, at most 2000 characters.
pub(crate) fn storable_error(error: &str) -> String {
    error
        .chars()
        .take(2000)
        .collect::<String>()
        .replace('\0', "\\u0000")
}

/// Shared text of a column value.
pub(crate) fn shared(text: String) -> Arc<str> {
    Arc::from(text)
}

/// Parses a stored UUID.
pub(crate) fn parse_uuid(table: &'static str, text: &str) -> Result<Uuid, StoreError> {
    text.parse::<Uuid>().map_err(|e| StoreError::Corrupt {
        table,
        detail: format!("id {text:?}: {e}"),
    })
}
