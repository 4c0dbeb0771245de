//! PostgreSQL, the system of record when `database_url` is set.
//!
//! A flush is one transaction. Every kind of row goes in with array binds: one statement
//! per kind and batch chunk (`INSERT .. SELECT FROM UNNEST($1::uuid[], ..)`), never one per
//! row. Big chunks of object upserts instead use binary `COPY` into a temporary staging
//! table and one upsert from it (`pg_upsert`); `docs/benchmarks.md` compares the two.

pub mod cluster;
mod write;

use std::str::FromStr;
use std::sync::Arc;

use glam::{Quat, Vec3};
use plaza_systems::{ChatLine, ObjectState, Transform};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use uuid::Uuid;

pub use self::write::binary_copy;
use super::{DeadRow, SpaceHeader, StoreError, shared, storable_error};
use crate::config::{Config, PgUpsert, SecretUrl};

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    upsert: PgUpsert,
}

const OBJECT_COLUMNS: &str =
    "id, space_id, model, px, py, pz, rx, ry, rz, rw, sx, sy, sz, props, owner_id, version";

/// The upsert's conflict clause: newer versions win, an older write never overwrites.
const ON_CONFLICT_OBJECTS: &str = "
ON CONFLICT (id) DO UPDATE SET
    space_id = EXCLUDED.space_id, model = EXCLUDED.model,
    px = EXCLUDED.px, py = EXCLUDED.py, pz = EXCLUDED.pz,
    rx = EXCLUDED.rx, ry = EXCLUDED.ry, rz = EXCLUDED.rz, rw = EXCLUDED.rw,
    sx = EXCLUDED.sx, sy = EXCLUDED.sy, sz = EXCLUDED.sz,
    props = EXCLUDED.props, owner_id = EXCLUDED.owner_id,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE o.version <= EXCLUDED.version";

impl PostgresStore {
    /// Connects and, if `config.migrate_on_start`, applies the migrations.
    pub async fn open(url: &SecretUrl, config: &Config) -> Result<Self, StoreError> {
        // Every pooled connection gives up on a statement that runs or waits for a lock too
        // long, so a stalled table shows up as failing flushes instead of a silent hang.
        let options = PgConnectOptions::from_str(url.expose())?.options([
            (
                "statement_timeout",
                config.store_statement_timeout_ms.to_string(),
            ),
            ("lock_timeout", config.store_lock_timeout_ms.to_string()),
            // A node frozen mid-transaction (SIGSTOP, a VM pause) would otherwise hold its
            // row locks, and so its spaces, for as long as it stays frozen.
            (
                "idle_in_transaction_session_timeout",
                config.store_statement_timeout_ms.to_string(),
            ),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(config.pg_max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options)
            .await?;
        if config.migrate_on_start {
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        }
        Ok(Self {
            pool,
            upsert: config.pg_upsert,
        })
    }

    /// The pool, for tests and benchmarks that inspect what was written.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A space's row, if it exists.
    pub async fn space_header(&self, name: &str) -> Result<Option<SpaceHeader>, StoreError> {
        let row = sqlx::query("SELECT id, name, version FROM spaces WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SpaceHeader {
            id: row.try_get("id")?,
            name: shared(row.try_get("name")?),
            version: u64::try_from(row.try_get::<i64, _>("version")?).unwrap_or(0),
        }))
    }

    /// Every object of a space.
    pub async fn space_objects(&self, space: Uuid) -> Result<Vec<ObjectState>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, model, px, py, pz, rx, ry, rz, rw, sx, sy, sz, props::text AS props,
                    owner_id, version
             FROM world_objects WHERE space_id = $1",
        )
        .bind(space)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(object_from_row).collect()
    }

    /// The latest `limit` chat lines of a space, oldest first.
    pub async fn recent_chat(
        &self,
        space: Uuid,
        limit: usize,
    ) -> Result<Vec<ChatLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, user_name, text,
                    (extract(epoch FROM created_at) * 1000)::int8 AS at_ms
             FROM chat_messages WHERE space_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(space)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut chat = rows
            .iter()
            .map(|row| chat_from_row(row, space))
            .collect::<Result<Vec<_>, StoreError>>()?;
        chat.reverse();
        Ok(chat)
    }

    /// Records refused rows in `dead_letters`.
    pub(crate) async fn dead_letter(
        &self,
        rows: &[(DeadRow, &str)],
        _now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dead_letters (table_name, row_key, payload, error)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])",
        )
        .bind(rows.iter().map(|(r, _)| r.table).collect::<Vec<_>>())
        .bind(rows.iter().map(|(r, _)| r.key.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|(r, _)| r.payload.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, e)| storable_error(e))
                .collect::<Vec<_>>(),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A chat line from a row of `id, user_id, user_name, text, at_ms`.
pub(super) fn chat_from_row(row: &PgRow, space: Uuid) -> Result<ChatLine, StoreError> {
    Ok(ChatLine {
        id: row.try_get("id")?,
        space,
        from: row
            .try_get::<Option<Uuid>, _>("user_id")?
            .unwrap_or_default(),
        name: shared(row.try_get("user_name")?),
        text: shared(row.try_get("text")?),
        at_ms: row.try_get("at_ms")?,
    })
}

fn object_from_row(row: &PgRow) -> Result<ObjectState, StoreError> {
    let real = |column: &str| row.try_get::<f32, _>(column);
    let version: i64 = row.try_get("version")?;
    Ok(ObjectState {
        id: row.try_get("id")?,
        index: 0,
        model: shared(row.try_get("model")?),
        transform: Transform {
            translation: Vec3::new(real("px")?, real("py")?, real("pz")?),
            rotation: Quat::from_xyzw(real("rx")?, real("ry")?, real("rz")?, real("rw")?),
            scale: Vec3::new(real("sx")?, real("sy")?, real("sz")?),
        },
        props: Arc::from(compact_json(&row.try_get::<String, _>("props")?)),
        owner: row
            .try_get::<Option<Uuid>, _>("owner_id")?
            .unwrap_or_default(),
        version: u64::try_from(version).unwrap_or(0),
    })
}

/// Removes the whitespace `jsonb` output puts between tokens (`{"a": 1}` → `{"a":1}`),
/// without parsing: whitespace inside strings is kept.
pub(crate) fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::compact_json;

    #[test]
    fn compacting_keeps_strings_intact() {
        assert_eq!(
            compact_json(r#"{"a": [1, 2], "b c": "x \" y"}"#),
            r#"{"a":[1,2],"b c":"x \" y"}"#
        );
    }
}
