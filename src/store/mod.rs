//! Durable storage behind one small interface: the embedded SQLite store today, with
//! PostgreSQL and Redis to plug in beside it. A named background task, the [`writer`], owns
//! all writes of world state; the edge only reads spaces and finds users.

mod pending;
mod sqlite;
pub mod writer;

use std::sync::Arc;

use plaza_systems::LoadedSpace;
use uuid::Uuid;

pub use pending::{Batch, ObjectWrite, Pending};
pub use sqlite::SqliteStore;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema failed.
    #[error("could not apply the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}; check the path and permissions")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A stored row cannot be read back (e.g. an id that is not a UUID).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// Table of the row.
        table: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// The durable store in use.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded SQLite file.
    Sqlite(SqliteStore),
}

impl Store {
    /// Short name for logs and health.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// The user id for a guest name, creating the user on first use.
    pub async fn user_for_name(&self, name: &str, now_ms: i64) -> Result<Uuid, StoreError> {
        match self {
            Self::Sqlite(s) => s.user_for_name(name, now_ms).await,
        }
    }

    /// A space with its objects and its latest `chat_limit` chat lines, if it exists.
    pub async fn load_space(
        &self,
        name: &str,
        chat_limit: usize,
    ) -> Result<Option<LoadedSpace>, StoreError> {
        match self {
            Self::Sqlite(s) => s.load_space(name, chat_limit).await,
        }
    }

    /// Writes a batch in one transaction, split into statements of at most `max_rows` rows.
    pub async fn write(
        &self,
        batch: &Batch,
        max_rows: usize,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(s) => s.write(batch, max_rows, now_ms).await,
        }
    }

    /// Closes connections after the last write.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
        }
    }
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Shared text of a column value.
pub(crate) fn shared(text: String) -> Arc<str> {
    Arc::from(text)
}
