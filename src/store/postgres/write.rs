//! Writing one batch of rows to PostgreSQL: one transaction, one statement per kind of row
//! and chunk of at most `max_batch_rows`, with array binds (`UNNEST`) or, for big chunks of
//! object upserts, binary `COPY` into a staging table.

use plaza_systems::{
    ChatLine, EventRecord, ObjectRecord, Rows, SessionRecord, ShareRecord, VisitRecord,
};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{OBJECT_COLUMNS, ON_CONFLICT_OBJECTS, PostgresStore};
use crate::store::{Fence, StoreError};

impl PostgresStore {
    /// Writes a batch in one transaction, kind by kind in write order, and returns the new
    /// versions of the spaces whose objects it changed. With a `fence`, the transaction
    /// first checks (and holds) the space's ownership, and fails with
    /// [`StoreError::Fenced`] if this node lost it.
    pub async fn write(
        &self,
        batch: &Rows,
        max_rows: usize,
        fence: Option<&Fence>,
    ) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(fence) = fence {
            super::cluster::check_fence(&mut tx, fence).await?;
        }
        for chunk in batch.sessions.chunks(max_rows) {
            write_sessions(&mut tx, chunk).await?;
        }
        for chunk in batch.objects.chunks(max_rows) {
            if self.upsert.uses_copy(chunk.len()) {
                upsert_copy(&mut tx, chunk).await?;
            } else {
                upsert_unnest(&mut tx, chunk).await?;
            }
        }
        for chunk in batch.deleted.chunks(max_rows) {
            let ids: Vec<Uuid> = chunk.iter().map(|&(_, id)| id).collect();
            sqlx::query("DELETE FROM world_objects WHERE id = ANY($1)")
                .bind(ids)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in batch.chat.chunks(max_rows) {
            write_chat(&mut tx, chunk).await?;
        }
        for chunk in batch.shares.chunks(max_rows) {
            write_shares(&mut tx, chunk).await?;
        }
        for chunk in batch.visits.chunks(max_rows) {
            write_visits(&mut tx, chunk).await?;
        }
        for chunk in batch.events.chunks(max_rows) {
            write_events(&mut tx, chunk).await?;
        }
        let versions = raise_versions(&mut tx, batch.touched_spaces()).await?;
        for chunk in batch.spaces_deleted.chunks(max_rows) {
            // Every row referring to a space goes with it (`ON DELETE CASCADE`, or
            // `SET NULL` for history).
            sqlx::query("DELETE FROM spaces WHERE id = ANY($1)")
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(versions)
    }
}

/// Sessions started or ended: an end never goes back to open.
async fn write_sessions(tx: &mut PgConnection, chunk: &[SessionRecord]) -> Result<(), StoreError> {
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
    .bind(chunk.iter().map(|s| s.meta.transport.as_str()).collect::<Vec<_>>())
    .bind(chunk.iter().map(|s| s.meta.client_addr.map(|a| a.to_string())).collect::<Vec<_>>())
    .bind(chunk.iter().map(|s| s.meta.user_agent.as_deref()).collect::<Vec<_>>())
    .bind(chunk.iter().map(|s| s.started_ms).collect::<Vec<_>>())
    .bind(chunk.iter().map(|s| s.ended_ms).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// New chat lines (a line already written is left as it is).
async fn write_chat(tx: &mut PgConnection, chunk: &[ChatLine]) -> Result<(), StoreError> {
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
    Ok(())
}

/// Screen shares started or stopped: an end never goes back to open.
async fn write_shares(tx: &mut PgConnection, chunk: &[ShareRecord]) -> Result<(), StoreError> {
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
    .bind(chunk.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>())
    .bind(chunk.iter().map(|s| s.started_ms).collect::<Vec<_>>())
    .bind(chunk.iter().map(|s| s.ended_ms).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Visits, added up per visitor and space.
async fn write_visits(tx: &mut PgConnection, chunk: &[VisitRecord]) -> Result<(), StoreError> {
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
    .bind(
        chunk
            .iter()
            .map(|v| i32::try_from(v.visits).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(
        chunk
            .iter()
            .map(|v| v.user_agent.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Events.
async fn write_events(tx: &mut PgConnection, chunk: &[EventRecord]) -> Result<(), StoreError> {
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
    Ok(())
}

/// Raises the version of every space in `touched` by one; returns each one's new version.
async fn raise_versions(
    tx: &mut PgConnection,
    touched: Vec<Uuid>,
) -> Result<Vec<(Uuid, u64)>, StoreError> {
    if touched.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "UPDATE spaces SET version = version + 1, updated_at = now()
         WHERE id = ANY($1) RETURNING id, version",
    )
    .bind(touched)
    .fetch_all(&mut *tx)
    .await?;
    let versions = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get("id")?,
                u64::try_from(row.try_get::<i64, _>("version")?).unwrap_or(0),
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(versions)
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
