//! The embedded store: one SQLite file in WAL mode.
//!
//! Each kind of row in a flush is written by one statement that reads a JSON array bound
//! as a single parameter (`json_each`), so a 10k-row flush is a handful of statements, not
//! 10k round trips to SQLite's worker thread. (Space versions, one statement per space
//! touched by the flush, are the exception: there are few.)

use std::sync::Arc;
use std::time::Duration;

use glam::{Quat, Vec3};
use plaza_systems::{ChatLine, ObjectRecord, ObjectState, Rows, Transform};
use serde_json::json;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use uuid::Uuid;

use super::{DeadRow, SpaceHeader, StoreError, parse_uuid, shared, storable_error};

/// The embedded SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

const UPSERT_OBJECTS: &str = "
INSERT INTO world_objects
    (id, space_id, model, px, py, pz, rx, ry, rz, rw, sx, sy, sz, props, owner_id, version, updated_at)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, r->>9, r->>10, r->>11,
       r->>12, r->>13, r->>14, r->>15, ?2
FROM (SELECT value AS r FROM json_each(?1)) WHERE true
ON CONFLICT (id) DO UPDATE SET
    space_id = excluded.space_id, model = excluded.model,
    px = excluded.px, py = excluded.py, pz = excluded.pz,
    rx = excluded.rx, ry = excluded.ry, rz = excluded.rz, rw = excluded.rw,
    sx = excluded.sx, sy = excluded.sy, sz = excluded.sz,
    props = excluded.props, owner_id = excluded.owner_id,
    version = excluded.version, updated_at = excluded.updated_at
WHERE excluded.version >= world_objects.version";

const DELETE_OBJECTS: &str =
    "DELETE FROM world_objects WHERE id IN (SELECT value FROM json_each(?1))";

/// Every row referring to a space goes with it (`ON DELETE CASCADE`, or `SET NULL` for
/// history).
const DELETE_SPACES: &str = "DELETE FROM spaces WHERE id IN (SELECT value FROM json_each(?1))";

const UPSERT_SESSIONS: &str = "
INSERT INTO sessions (id, user_id, transport, client_addr, user_agent, started_at, ended_at)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, max(r->>6, r->>5) FROM (SELECT value AS r FROM json_each(?1)) WHERE true
ON CONFLICT (id) DO UPDATE SET ended_at = coalesce(excluded.ended_at, sessions.ended_at)";

const UPSERT_SHARES: &str = "
INSERT INTO screen_shares (id, space_id, session_id, user_id, kind, started_at, ended_at)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, max(r->>6, r->>5) FROM (SELECT value AS r FROM json_each(?1)) WHERE true
ON CONFLICT (id) DO UPDATE SET ended_at = coalesce(excluded.ended_at, screen_shares.ended_at)";

const UPSERT_VISITS: &str = "
INSERT INTO visitor_tracking
    (visitor_id, space_id, user_id, first_seen_at, last_seen_at, visits, user_agent)
SELECT r->>0, r->>1, r->>2, r->>3, r->>3, r->>4, r->>5 FROM (SELECT value AS r FROM json_each(?1)) WHERE true
ON CONFLICT (visitor_id, space_id) DO UPDATE SET
    last_seen_at = max(visitor_tracking.last_seen_at, excluded.last_seen_at),
    visits = visitor_tracking.visits + excluded.visits,
    user_id = excluded.user_id,
    user_agent = coalesce(excluded.user_agent, visitor_tracking.user_agent)";

const INSERT_EVENTS: &str = "
INSERT INTO events (kind, space_id, user_id, session_id, data, occurred_at)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5 FROM (SELECT value AS r FROM json_each(?1))";

const INSERT_CHAT: &str = "
INSERT OR IGNORE INTO chat_messages (id, space_id, user_id, user_name, text, created_at)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5 FROM (SELECT value AS r FROM json_each(?1))";

const INSERT_DEAD_LETTERS: &str = "
INSERT INTO dead_letters (table_name, row_key, payload, error, created_at)
SELECT r->>0, r->>1, r->>2, r->>3, ?2 FROM (SELECT value AS r FROM json_each(?1))";

impl SqliteStore {
    /// Opens (creating if needed) the file and brings its schema up to date.
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// A database in memory (persistence switched off): the same schema and code paths,
    /// gone when the server stops. One connection holds it, so it is never closed early.
    pub(crate) async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for the account and HTTP queries (and tests that inspect what was written).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A space's row, if it exists.
    pub async fn space_header(&self, name: &str) -> Result<Option<SpaceHeader>, StoreError> {
        let Some(row) = sqlx::query("SELECT id, name, version FROM spaces WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let version: i64 = row.try_get("version")?;
        Ok(Some(SpaceHeader {
            id: parse_uuid("spaces", &row.try_get::<String, _>("id")?)?,
            name: shared(row.try_get("name")?),
            version: u64::try_from(version).unwrap_or(0),
        }))
    }

    /// Every object of a space.
    pub async fn space_objects(&self, space: Uuid) -> Result<Vec<ObjectState>, StoreError> {
        sqlx::query(
            "SELECT id, model, px, py, pz, rx, ry, rz, rw, sx, sy, sz, props, owner_id, version
             FROM world_objects WHERE space_id = ?1",
        )
        .bind(space.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(object_from_row)
        .collect()
    }

    /// The latest `limit` chat lines of a space, oldest first.
    pub async fn recent_chat(
        &self,
        space: Uuid,
        limit: usize,
    ) -> Result<Vec<ChatLine>, StoreError> {
        let mut chat = sqlx::query(
            "SELECT id, user_id, user_name, text, created_at FROM chat_messages
             WHERE space_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
        )
        .bind(space.to_string())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| chat_from_row(row, space))
        .collect::<Result<Vec<_>, _>>()?;
        chat.reverse();
        Ok(chat)
    }

    /// Writes a batch in one transaction and returns the new versions of the spaces whose
    /// objects it changed.
    pub async fn write(
        &self,
        batch: &Rows,
        max_rows: usize,
        now_ms: i64,
    ) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in batch.sessions.chunks(max_rows) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|s| {
                    let addr = s.meta.client_addr.map(|a| a.to_string());
                    let agent = s.meta.user_agent.as_deref();
                    json!([
                        s.id,
                        s.user,
                        s.meta.transport.as_str(),
                        addr,
                        agent,
                        s.started_ms,
                        s.ended_ms
                    ])
                })
                .collect();
            execute(&mut tx, UPSERT_SESSIONS, &rows, None).await?;
        }
        for chunk in batch.objects.chunks(max_rows) {
            let rows: Vec<_> = chunk.iter().map(object_json).collect();
            execute(&mut tx, UPSERT_OBJECTS, &rows, Some(now_ms)).await?;
        }
        for chunk in batch.deleted.chunks(max_rows) {
            let ids: Vec<_> = chunk.iter().map(|&(_, id)| id).collect();
            execute(&mut tx, DELETE_OBJECTS, &ids, None).await?;
        }
        for chunk in batch.chat.chunks(max_rows) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|c| json!([c.id, c.space, c.from, &*c.name, &*c.text, c.at_ms]))
                .collect();
            execute(&mut tx, INSERT_CHAT, &rows, None).await?;
        }
        for chunk in batch.shares.chunks(max_rows) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|s| {
                    json!([
                        s.id,
                        s.space,
                        s.session,
                        s.user,
                        s.kind.as_str(),
                        s.started_ms,
                        s.ended_ms
                    ])
                })
                .collect();
            execute(&mut tx, UPSERT_SHARES, &rows, None).await?;
        }
        for chunk in batch.visits.chunks(max_rows) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|v| {
                    json!([
                        &*v.visitor,
                        v.space,
                        v.user,
                        v.at_ms,
                        v.visits,
                        v.user_agent.as_deref()
                    ])
                })
                .collect();
            execute(&mut tx, UPSERT_VISITS, &rows, None).await?;
        }
        for chunk in batch.events.chunks(max_rows) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|e| {
                    let data = e
                        .object
                        .map_or_else(|| json!({}), |id| json!({ "object": id }));
                    json!([
                        e.kind.as_str(),
                        e.space,
                        e.user,
                        e.session,
                        data.to_string(),
                        e.at_ms
                    ])
                })
                .collect();
            execute(&mut tx, INSERT_EVENTS, &rows, None).await?;
        }
        let mut versions = Vec::new();
        for space in batch.touched_spaces() {
            let version: i64 = sqlx::query_scalar(
                "UPDATE spaces SET version = version + 1 WHERE id = ?1 RETURNING version",
            )
            .bind(space.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
            versions.push((space, u64::try_from(version).unwrap_or(0)));
        }
        for chunk in batch.spaces_deleted.chunks(max_rows) {
            execute(&mut tx, DELETE_SPACES, chunk, None).await?;
        }
        tx.commit().await?;
        Ok(versions)
    }

    /// Records refused rows in `dead_letters`.
    pub(crate) async fn dead_letter(
        &self,
        rows: &[(DeadRow, &str)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let rows: Vec<_> = rows
            .iter()
            .map(|(r, e)| json!([r.table, r.key, r.payload, storable_error(e)]))
            .collect();
        let mut connection = self.pool.acquire().await?;
        execute(&mut connection, INSERT_DEAD_LETTERS, &rows, Some(now_ms)).await
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs one statement whose `?1` is a JSON array of rows (and `?2`, if given, the time).
async fn execute<T: serde::Serialize>(
    tx: &mut sqlx::SqliteConnection,
    sql: &'static str,
    rows: &[T],
    now_ms: Option<i64>,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(rows).expect("rows of strings and numbers always serialise");
    let query = sqlx::query(sql).bind(json);
    match now_ms {
        Some(now) => query.bind(now).execute(tx).await?,
        None => query.execute(tx).await?,
    };
    Ok(())
}

fn object_json(record: &ObjectRecord) -> serde_json::Value {
    let o = &record.state;
    let (p, r, s) = (
        o.transform.translation,
        o.transform.rotation,
        o.transform.scale,
    );
    json!([
        o.id,
        record.space,
        &*o.model,
        p.x,
        p.y,
        p.z,
        r.x,
        r.y,
        r.z,
        r.w,
        s.x,
        s.y,
        s.z,
        &*o.props,
        o.owner,
        o.version
    ])
}

fn real(row: &SqliteRow, column: &str) -> Result<f32, sqlx::Error> {
    Ok(row.try_get::<f64, _>(column)? as f32)
}

fn object_from_row(row: &SqliteRow) -> Result<ObjectState, StoreError> {
    let vec3 = |a, b, c| -> Result<Vec3, sqlx::Error> {
        Ok(Vec3::new(real(row, a)?, real(row, b)?, real(row, c)?))
    };
    let rotation = Quat::from_xyzw(
        real(row, "rx")?,
        real(row, "ry")?,
        real(row, "rz")?,
        real(row, "rw")?,
    );
    let version: i64 = row.try_get("version")?;
    Ok(ObjectState {
        id: parse_uuid("world_objects", &row.try_get::<String, _>("id")?)?,
        index: 0,
        model: shared(row.try_get("model")?),
        transform: Transform {
            translation: vec3("px", "py", "pz")?,
            rotation,
            scale: vec3("sx", "sy", "sz")?,
        },
        props: Arc::from(row.try_get::<String, _>("props")?),
        owner: parse_uuid("world_objects", &row.try_get::<String, _>("owner_id")?)?,
        version: u64::try_from(version).unwrap_or(0),
    })
}

/// A chat line from a row of `id, user_id, user_name, text, created_at`.
pub(super) fn chat_from_row(row: &SqliteRow, space: Uuid) -> Result<ChatLine, StoreError> {
    Ok(ChatLine {
        id: parse_uuid("chat_messages", &row.try_get::<String, _>("id")?)?,
        space,
        from: parse_uuid("chat_messages", &row.try_get::<String, _>("user_id")?)?,
        name: shared(row.try_get("user_name")?),
        text: shared(row.try_get("text")?),
        at_ms: row.try_get("created_at")?,
    })
}
