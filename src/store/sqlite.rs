//! The embedded store: one SQLite file in WAL mode.
//!
//! Each kind of row in a flush is written by one statement that reads a JSON array bound
//! as a single parameter (`json_each`), so a 10k-row flush is a handful of statements, not
//! 10k round trips to SQLite's worker thread.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use glam::{Quat, Vec3};
use plaza_systems::{ChatLine, LoadedSpace, ObjectRecord, ObjectState, Transform};
use serde_json::json;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use uuid::Uuid;

use super::{Batch, StoreError, shared};

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

const INSERT_SPACES: &str = "
INSERT OR IGNORE INTO spaces (id, name, created_at)
SELECT r->>0, r->>1, ?2 FROM (SELECT value AS r FROM json_each(?1))";

const INSERT_CHAT: &str = "
INSERT OR IGNORE INTO chat_messages (id, space_id, user_id, user_name, text, created_at)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5 FROM (SELECT value AS r FROM json_each(?1))";

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

    /// The user id for a guest name, creating the user on first use.
    pub async fn user_for_name(&self, name: &str, now_ms: i64) -> Result<Uuid, StoreError> {
        let id: String = sqlx::query_scalar(
            "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET name = excluded.name
             RETURNING id",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(name)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        parse_uuid("users", &id)
    }

    /// A space with its objects and latest chat, if it exists.
    pub async fn load_space(
        &self,
        name: &str,
        chat_limit: usize,
    ) -> Result<Option<LoadedSpace>, StoreError> {
        let Some(row) = sqlx::query("SELECT id, name FROM spaces WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let id_text: String = row.try_get("id")?;
        let id = parse_uuid("spaces", &id_text)?;
        let objects = sqlx::query(
            "SELECT id, model, px, py, pz, rx, ry, rz, rw, sx, sy, sz, props, owner_id, version
             FROM world_objects WHERE space_id = ?1",
        )
        .bind(&id_text)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(object_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let mut chat = sqlx::query(
            "SELECT id, user_id, user_name, text, created_at FROM chat_messages
             WHERE space_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
        )
        .bind(&id_text)
        .bind(i64::try_from(chat_limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| chat_from_row(row, id))
        .collect::<Result<Vec<_>, _>>()?;
        chat.reverse();
        Ok(Some(LoadedSpace {
            id,
            name: shared(row.try_get("name")?),
            objects,
            chat,
        }))
    }

    /// Writes a batch in one transaction.
    pub async fn write(
        &self,
        batch: &Batch,
        max_rows: usize,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in batch.spaces.chunks(max_rows) {
            let rows: Vec<_> = chunk.iter().map(|s| json!([s.id, &*s.name])).collect();
            sqlx::query(INSERT_SPACES)
                .bind(json_text(&rows))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in batch.upserts.chunks(max_rows) {
            let rows: Vec<_> = chunk.iter().map(object_json).collect();
            sqlx::query(UPSERT_OBJECTS)
                .bind(json_text(&rows))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in batch.deletes.chunks(max_rows) {
            sqlx::query(DELETE_OBJECTS)
                .bind(json_text(chunk))
                .execute(&mut *tx)
                .await?;
        }
        for chunk in batch.chat.chunks(max_rows) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|c| json!([c.id, c.space, c.from, &*c.name, &*c.text, c.at_ms]))
                .collect();
            sqlx::query(INSERT_CHAT)
                .bind(json_text(&rows))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn json_text<T: serde::Serialize + ?Sized>(rows: &T) -> String {
    serde_json::to_string(rows).expect("rows of strings and numbers always serialise")
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

fn parse_uuid(table: &'static str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::from_str(text).map_err(|e| StoreError::Corrupt {
        table,
        detail: format!("id {text:?}: {e}"),
    })
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

fn chat_from_row(row: &SqliteRow, space: Uuid) -> Result<ChatLine, StoreError> {
    Ok(ChatLine {
        id: parse_uuid("chat_messages", &row.try_get::<String, _>("id")?)?,
        space,
        from: parse_uuid("chat_messages", &row.try_get::<String, _>("user_id")?)?,
        name: shared(row.try_get("user_name")?),
        text: shared(row.try_get("text")?),
        at_ms: row.try_get("created_at")?,
    })
}
