//! Rows of uploaded files: `uploaded_models` and `media_assets`, in both durable stores.
//! Inserts are idempotent by storage key (which is the content hash), so two identical
//! uploads, even concurrent ones, end as one row.

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use super::{Durable, StoreError, parse_uuid};

/// An uploaded file's row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileRow {
    /// Id.
    pub id: Uuid,
    /// Model name, or media kind.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    pub content_type: String,
    /// Where the bytes are.
    pub storage_key: String,
    /// Uploader.
    pub owner: Option<Uuid>,
    /// Space it belongs to (media only).
    pub space: Option<Uuid>,
    /// Parsed facts (models only).
    pub metadata: Value,
    /// Upload time, ms since the Unix epoch.
    pub created_ms: i64,
}

/// A model or media file to record.
#[derive(Debug, Clone)]
pub(crate) struct NewFile<'a> {
    /// SHA-256 of the bytes.
    pub hash: &'a [u8; 32],
    /// Model name or media kind.
    pub name: &'a str,
    /// Size in bytes.
    pub size: usize,
    /// MIME type.
    pub content_type: &'a str,
    /// Storage key.
    pub storage_key: &'a str,
    /// Uploader.
    pub owner: Option<Uuid>,
    /// Space (media only).
    pub space: Option<Uuid>,
    /// Metadata (models only).
    pub metadata: &'a Value,
}

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileTable {
    /// `uploaded_models`.
    Models,
    /// `media_assets`.
    Media,
}

fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<FileRow, StoreError> {
    let opt = |column: &str| -> Result<Option<Uuid>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|v| parse_uuid("uploads", &v))
            .transpose()
    };
    let metadata: String = row.try_get("metadata")?;
    Ok(FileRow {
        id: parse_uuid("uploads", &row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        size: u64::try_from(row.try_get::<i64, _>("size_bytes")?).unwrap_or(0),
        content_type: row.try_get("content_type")?,
        storage_key: row.try_get("storage_key")?,
        owner: opt("owner")?,
        space: opt("space_id")?,
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        created_ms: row.try_get("created_at")?,
    })
}

fn pg_row(row: &sqlx::postgres::PgRow) -> Result<FileRow, StoreError> {
    let metadata: String = row.try_get("metadata")?;
    Ok(FileRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        size: u64::try_from(row.try_get::<i64, _>("size_bytes")?).unwrap_or(0),
        content_type: row.try_get("content_type")?,
        storage_key: row.try_get("storage_key")?,
        owner: row.try_get("owner")?,
        space: row.try_get("space_id")?,
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        created_ms: row.try_get("created_ms")?,
    })
}

impl Durable {
    /// Records a file (or finds the row of identical bytes) and returns the row and whether
    /// it is new.
    pub(crate) async fn record_file(
        &self,
        table: FileTable,
        file: &NewFile<'_>,
        now_ms: i64,
    ) -> Result<(FileRow, bool), StoreError> {
        let inserted = self
            .insert_file(table, Uuid::now_v7(), file, now_ms)
            .await?;
        let row = self
            .file_by_key(table, file.storage_key)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "uploads",
                detail: format!("no row for {} after inserting it", file.storage_key),
            })?;
        Ok((row, inserted == 1))
    }

    /// Records an imported model under its original id (objects refer to it by id); a model
    /// with the same bytes already here is kept as it is.
    pub(crate) async fn record_model_as(
        &self,
        id: Uuid,
        file: &NewFile<'_>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.insert_file(FileTable::Models, id, file, now_ms)
            .await
            .map(|_| ())
    }

    /// Inserts a file's row under `id` unless its storage key (or hash) is there already;
    /// returns the rows inserted (0 or 1).
    async fn insert_file(
        &self,
        table: FileTable,
        id: Uuid,
        file: &NewFile<'_>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let size = i64::try_from(file.size).unwrap_or(i64::MAX);
        Ok(match (self, table) {
            (Durable::Sqlite(s), FileTable::Models) => sqlx::query(
                "INSERT INTO uploaded_models
                     (id, content_hash, name, size_bytes, content_type, storage_key, uploaded_by, metadata, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            )
            .bind(id.to_string())
            .bind(&file.hash[..])
            .bind(file.name)
            .bind(size)
            .bind(file.content_type)
            .bind(file.storage_key)
            .bind(file.owner.map(|o| o.to_string()))
            .bind(file.metadata.to_string())
            .bind(now_ms)
            .execute(s.pool())
            .await?
            .rows_affected(),
            (Durable::Sqlite(s), FileTable::Media) => sqlx::query(
                "INSERT INTO media_assets
                     (id, kind, content_type, size_bytes, content_hash, storage_key, owner_id, space_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            )
            .bind(id.to_string())
            .bind(file.name)
            .bind(file.content_type)
            .bind(size)
            .bind(&file.hash[..])
            .bind(file.storage_key)
            .bind(file.owner.map(|o| o.to_string()))
            .bind(file.space.map(|s| s.to_string()))
            .bind(now_ms)
            .execute(s.pool())
            .await?
            .rows_affected(),
            (Durable::Postgres(p), FileTable::Models) => sqlx::query(
                "INSERT INTO uploaded_models
                     (id, content_hash, name, size_bytes, content_type, storage_key, uploaded_by, metadata)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&file.hash[..])
            .bind(file.name)
            .bind(size)
            .bind(file.content_type)
            .bind(file.storage_key)
            .bind(file.owner)
            .bind(file.metadata.to_string())
            .execute(p.pool())
            .await?
            .rows_affected(),
            (Durable::Postgres(p), FileTable::Media) => sqlx::query(
                "INSERT INTO media_assets
                     (id, kind, content_type, size_bytes, content_hash, storage_key, owner_id, space_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(file.name)
            .bind(file.content_type)
            .bind(size)
            .bind(&file.hash[..])
            .bind(file.storage_key)
            .bind(file.owner)
            .bind(file.space)
            .execute(p.pool())
            .await?
            .rows_affected(),
        })
    }

    /// A file's row by id.
    pub(crate) async fn file(
        &self,
        table: FileTable,
        id: Uuid,
    ) -> Result<Option<FileRow>, StoreError> {
        self.file_where(table, Some(id), None).await
    }

    async fn file_by_key(
        &self,
        table: FileTable,
        key: &str,
    ) -> Result<Option<FileRow>, StoreError> {
        self.file_where(table, None, Some(key)).await
    }

    async fn file_where(
        &self,
        table: FileTable,
        id: Option<Uuid>,
        key: Option<&str>,
    ) -> Result<Option<FileRow>, StoreError> {
        match self {
            Durable::Sqlite(s) => {
                let sql = match table {
                    FileTable::Models => {
                        "SELECT id, name, size_bytes, content_type, storage_key, uploaded_by AS owner,
                                NULL AS space_id, metadata, created_at
                         FROM uploaded_models WHERE id = ?1 OR storage_key = ?2"
                    }
                    FileTable::Media => {
                        "SELECT id, kind AS name, size_bytes, content_type, storage_key, owner_id AS owner,
                                space_id, '{}' AS metadata, created_at
                         FROM media_assets WHERE id = ?1 OR storage_key = ?2"
                    }
                };
                sqlx::query(sql)
                    .bind(id.map(|i| i.to_string()))
                    .bind(key)
                    .fetch_optional(s.pool())
                    .await?
                    .map(|row| sqlite_row(&row))
                    .transpose()
            }
            Durable::Postgres(p) => {
                let sql = match table {
                    FileTable::Models => {
                        "SELECT id, name, size_bytes, content_type, storage_key, uploaded_by AS owner,
                                NULL::uuid AS space_id, metadata::text AS metadata,
                                (extract(epoch FROM created_at) * 1000)::int8 AS created_ms
                         FROM uploaded_models WHERE id = $1 OR storage_key = $2"
                    }
                    FileTable::Media => {
                        "SELECT id, kind AS name, size_bytes, content_type, storage_key, owner_id AS owner,
                                space_id, '{}' AS metadata,
                                (extract(epoch FROM created_at) * 1000)::int8 AS created_ms
                         FROM media_assets WHERE id = $1 OR storage_key = $2"
                    }
                };
                sqlx::query(sql)
                    .bind(id)
                    .bind(key)
                    .fetch_optional(p.pool())
                    .await?
                    .map(|row| pg_row(&row))
                    .transpose()
            }
        }
    }
    /// Every uploaded model's id, for the edge's check of spawns.
    pub(crate) async fn model_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        match self {
            Durable::Sqlite(s) => sqlx::query("SELECT id FROM uploaded_models")
                .fetch_all(s.pool())
                .await?
                .iter()
                .map(|row| parse_uuid("uploaded_models", &row.try_get::<String, _>("id")?))
                .collect(),
            Durable::Postgres(p) => sqlx::query("SELECT id FROM uploaded_models")
                .fetch_all(p.pool())
                .await?
                .iter()
                .map(|row| Ok(row.try_get("id")?))
                .collect(),
        }
    }

    /// Uploaded models, newest first, at most `limit`: those `owner` uploaded, those objects
    /// of `space` use, or both at once.
    pub(crate) async fn models(
        &self,
        owner: Option<Uuid>,
        space: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<FileRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match self {
            Durable::Sqlite(s) => sqlx::query(
                "SELECT id, name, size_bytes, content_type, storage_key, uploaded_by AS owner,
                        NULL AS space_id, metadata, created_at
                 FROM uploaded_models
                 WHERE (?1 IS NULL OR uploaded_by = ?1)
                   AND (?2 IS NULL OR id IN (SELECT model FROM world_objects WHERE space_id = ?2))
                 ORDER BY created_at DESC, id LIMIT ?3",
            )
            .bind(owner.map(|o| o.to_string()))
            .bind(space.map(|s| s.to_string()))
            .bind(limit)
            .fetch_all(s.pool())
            .await?
            .iter()
            .map(sqlite_row)
            .collect(),
            Durable::Postgres(p) => sqlx::query(
                "SELECT id, name, size_bytes, content_type, storage_key, uploaded_by AS owner,
                        NULL::uuid AS space_id, metadata::text AS metadata,
                        (extract(epoch FROM created_at) * 1000)::int8 AS created_ms
                 FROM uploaded_models
                 WHERE ($1::uuid IS NULL OR uploaded_by = $1)
                   AND ($2::uuid IS NULL
                        OR id::text IN (SELECT model FROM world_objects WHERE space_id = $2))
                 ORDER BY created_at DESC, id LIMIT $3",
            )
            .bind(owner)
            .bind(space)
            .bind(limit)
            .fetch_all(p.pool())
            .await?
            .iter()
            .map(pg_row)
            .collect(),
        }
    }
}
