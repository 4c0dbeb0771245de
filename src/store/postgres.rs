//! PostgreSQL, the system of record when `database_url` is set.
//!
//! A flush is one transaction. Every kind of row goes in with array binds: one statement
//! per kind and batch chunk (`INSERT .. SELECT FROM UNNEST($1::uuid[], ..)`), never one per
//! row. Big chunks of object upserts instead use binary `COPY` into a temporary staging
//! table and one upsert from it (`pg_upsert`); `docs/benchmarks.md` compares the two.

use std::str::FromStr;
use std::sync::Arc;

use glam::{Quat, Vec3};
use plaza_systems::{ChatLine, ObjectRecord, ObjectState, Transform};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{Batch, DeadRow, SpaceHeader, StoreError, shared, storable_error};
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

    /// Writes a batch in one transaction and returns the new versions of the spaces whose
    /// objects it changed.
    pub async fn write(
        &self,
        batch: &Batch,
        max_rows: usize,
        _now_ms: i64,
    ) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in batch.sessions.chunks(max_rows) {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, transport, client_addr, user_agent, started_at, ended_at)
                 SELECT u.id, u.user_id, u.transport, u.addr::inet, u.agent,
                        to_timestamp(u.started::float8 / 1000),
                        to_timestamp(CASE WHEN u.ended IS NOT NULL THEN greatest(u.ended, u.started) END::float8 / 1000)
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[])
                      AS u(id, user_id, transport, addr, agent, started, ended)
                 ON CONFLICT (id) DO UPDATE SET ended_at = COALESCE(EXCLUDED.ended_at, sessions.ended_at)",
            )
            .bind(chunk.iter().map(|s| s.id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.user).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.meta.transport).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.meta.client_addr.map(|a| a.to_string())).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.meta.user_agent.as_deref()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.started_ms).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.ended_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        for chunk in batch.upserts.chunks(max_rows) {
            if self.upsert.uses_copy(chunk.len()) {
                upsert_copy(&mut tx, chunk).await?;
            } else {
                upsert_unnest(&mut tx, chunk).await?;
            }
        }
        for chunk in batch.deletes.chunks(max_rows) {
            let ids: Vec<Uuid> = chunk.iter().map(|&(_, id)| id).collect();
            sqlx::query("DELETE FROM world_objects WHERE id = ANY($1)")
                .bind(ids)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in batch.chat.chunks(max_rows) {
            sqlx::query(
                "INSERT INTO chat_messages (id, space_id, user_id, user_name, text, created_at)
                 SELECT u.id, u.space_id, u.user_id, u.user_name, u.text,
                        to_timestamp(u.at::float8 / 1000)
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int8[])
                      AS u(id, space_id, user_id, user_name, text, at)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(chunk.iter().map(|c| c.id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.space).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.from).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| &*c.name).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| &*c.text).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.at_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        for chunk in batch.shares.chunks(max_rows) {
            sqlx::query(
                "INSERT INTO screen_shares (id, space_id, session_id, user_id, kind, started_at, ended_at)
                 SELECT u.id, u.space_id, u.session_id, u.user_id, u.kind,
                        to_timestamp(u.started::float8 / 1000),
                        to_timestamp(CASE WHEN u.ended IS NOT NULL THEN greatest(u.ended, u.started) END::float8 / 1000)
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int8[], $7::int8[])
                      AS u(id, space_id, session_id, user_id, kind, started, ended)
                 ON CONFLICT (id) DO UPDATE SET ended_at = COALESCE(EXCLUDED.ended_at, screen_shares.ended_at)",
            )
            .bind(chunk.iter().map(|s| s.id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.space).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.session).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.user).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.kind).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.started_ms).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.ended_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        for chunk in batch.visits.chunks(max_rows) {
            sqlx::query(
                "INSERT INTO visitor_tracking
                     (visitor_id, space_id, user_id, first_seen_at, last_seen_at, visits, user_agent)
                 SELECT u.visitor, u.space_id, u.user_id, to_timestamp(u.at::float8 / 1000),
                        to_timestamp(u.at::float8 / 1000), u.visits, u.agent
                 FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::int8[], $5::int4[], $6::text[])
                      AS u(visitor, space_id, user_id, at, visits, agent)
                 ON CONFLICT (visitor_id, space_id) DO UPDATE SET
                     last_seen_at = GREATEST(visitor_tracking.last_seen_at, EXCLUDED.last_seen_at),
                     visits = visitor_tracking.visits + EXCLUDED.visits,
                     user_id = EXCLUDED.user_id,
                     user_agent = COALESCE(EXCLUDED.user_agent, visitor_tracking.user_agent)",
            )
            .bind(chunk.iter().map(|v| &*v.visitor).collect::<Vec<_>>())
            .bind(chunk.iter().map(|v| v.space).collect::<Vec<_>>())
            .bind(chunk.iter().map(|v| v.user).collect::<Vec<_>>())
            .bind(chunk.iter().map(|v| v.at_ms).collect::<Vec<_>>())
            .bind(chunk.iter().map(|v| i32::try_from(v.visits).unwrap_or(i32::MAX)).collect::<Vec<_>>())
            .bind(chunk.iter().map(|v| v.user_agent.as_deref()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        for chunk in batch.events.chunks(max_rows) {
            sqlx::query(
                "INSERT INTO events (kind, space_id, user_id, session_id, data, occurred_at)
                 SELECT u.kind, u.space_id, u.user_id, u.session_id,
                        CASE WHEN u.object IS NULL THEN '{}'::jsonb
                             ELSE jsonb_build_object('object', u.object) END,
                        to_timestamp(u.at::float8 / 1000)
                 FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int8[])
                      AS u(kind, space_id, user_id, session_id, object, at)",
            )
            .bind(chunk.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.space).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.user).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.session).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.object).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.at_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        let touched = batch.touched_spaces();
        let versions = if touched.is_empty() {
            Vec::new()
        } else {
            sqlx::query(
                "UPDATE spaces SET version = version + 1, updated_at = now()
                 WHERE id = ANY($1) RETURNING id, version",
            )
            .bind(touched)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("id")?,
                    u64::try_from(row.try_get::<i64, _>("version")?).unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        };
        tx.commit().await?;
        Ok(versions)
    }

    /// Records refused rows in `dead_letters`.
    pub async fn dead_letter(
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

/// Object upserts with array binds: one statement for the whole chunk.
async fn upsert_unnest(tx: &mut PgConnection, rows: &[ObjectRecord]) -> Result<(), StoreError> {
    let column = |f: fn(&ObjectRecord) -> f32| rows.iter().map(f).collect::<Vec<f32>>();
    let sql = format!(
        "INSERT INTO world_objects AS o ({OBJECT_COLUMNS}, updated_at)
         SELECT u.id, u.space_id, u.model, u.px, u.py, u.pz, u.rx, u.ry, u.rz, u.rw,
                u.sx, u.sy, u.sz, u.props::jsonb, u.owner_id, u.version, now()
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::real[], $5::real[], $6::real[],
                     $7::real[], $8::real[], $9::real[], $10::real[], $11::real[], $12::real[],
                     $13::real[], $14::text[], $15::uuid[], $16::int8[])
              AS u({OBJECT_COLUMNS})
         {ON_CONFLICT_OBJECTS}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(rows.iter().map(|r| r.state.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.space).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| &*r.state.model).collect::<Vec<_>>())
        .bind(column(|r| r.state.transform.translation.x))
        .bind(column(|r| r.state.transform.translation.y))
        .bind(column(|r| r.state.transform.translation.z))
        .bind(column(|r| r.state.transform.rotation.x))
        .bind(column(|r| r.state.transform.rotation.y))
        .bind(column(|r| r.state.transform.rotation.z))
        .bind(column(|r| r.state.transform.rotation.w))
        .bind(column(|r| r.state.transform.scale.x))
        .bind(column(|r| r.state.transform.scale.y))
        .bind(column(|r| r.state.transform.scale.z))
        .bind(rows.iter().map(|r| &*r.state.props).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.owner).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.state.version as i64)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Object upserts through binary COPY into a per-connection staging table.
async fn upsert_copy(tx: &mut PgConnection, rows: &[ObjectRecord]) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS plaza_objects_staging (
             id uuid, space_id uuid, model text, px real, py real, pz real,
             rx real, ry real, rz real, rw real, sx real, sy real, sz real,
             props jsonb, owner_id uuid, version int8
         ) ON COMMIT DELETE ROWS",
    )
    .execute(&mut *tx)
    .await?;
    // A flush is one transaction of several chunks: rows of the previous chunk are still
    // here (ON COMMIT only clears at the end) and must not be upserted again.
    sqlx::query("TRUNCATE plaza_objects_staging")
        .execute(&mut *tx)
        .await?;
    let mut copy = tx
        .copy_in_raw("COPY plaza_objects_staging FROM STDIN (FORMAT binary)")
        .await?;
    copy.send(binary_copy(rows)).await?;
    copy.finish().await?;
    let sql = format!(
        "INSERT INTO world_objects AS o ({OBJECT_COLUMNS}, updated_at)
         SELECT {OBJECT_COLUMNS}, now() FROM plaza_objects_staging
         {ON_CONFLICT_OBJECTS}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Rows in PostgreSQL's binary COPY format.
pub fn binary_copy(rows: &[ObjectRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + rows.len() * 160 + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0_i32.to_be_bytes()); // flags
    out.extend_from_slice(&0_i32.to_be_bytes()); // header extension length
    let field = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    for record in rows {
        let o = &record.state;
        let (p, r, s) = (
            o.transform.translation,
            o.transform.rotation,
            o.transform.scale,
        );
        out.extend_from_slice(&16_i16.to_be_bytes());
        field(&mut out, o.id.as_bytes());
        field(&mut out, record.space.as_bytes());
        field(&mut out, o.model.as_bytes());
        for v in [p.x, p.y, p.z, r.x, r.y, r.z, r.w, s.x, s.y, s.z] {
            field(&mut out, &v.to_be_bytes());
        }
        // jsonb's binary form: a version byte (1), then the JSON text.
        out.extend_from_slice(&(o.props.len() as i32 + 1).to_be_bytes());
        out.push(1);
        out.extend_from_slice(o.props.as_bytes());
        field(&mut out, o.owner.as_bytes());
        field(&mut out, &(o.version as i64).to_be_bytes());
    }
    out.extend_from_slice(&(-1_i16).to_be_bytes());
    out
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
pub fn compact_json(text: &str) -> String {
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
