//! Uploads: GLB models (`POST /api/models`) and media (`POST /api/media`), as a raw body or
//! `multipart/form-data` with a `file` field. Each needs a token, is size-limited, checked
//! for what it claims to be, stored once per content hash, recorded in its table and in
//! the event log; `GET .../{id}` gives the row and `GET .../{id}/file` the bytes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::extract::{ApiPath, ApiQuery};
use super::{ApiError, Caller};
use crate::clock::rfc3339;
use crate::edge::Edge;
use crate::store::files::{FileRow, FileTable};
use crate::uploads::intake::{Intake, IntakeError, Kept};
use crate::uploads::media::{MediaKind, UploadError, check_media};
use crate::uploads::storage::FileStore;

/// Options in the query string.
#[derive(Debug, Deserialize, Default)]
pub struct UploadQuery {
    /// Model name (default: the file name, or `model`).
    name: Option<String>,
    /// Media kind: screenshot, avatar or attachment.
    kind: Option<String>,
    /// Space a media file belongs to.
    space: Option<Uuid>,
}

/// An upload's bytes with the name and content type that came with them.
struct Upload {
    bytes: Bytes,
    file_name: Option<String>,
    content_type: Option<String>,
}

/// Reads the body: the `file` field of a multipart form, or the raw body.
async fn read_upload(request: Request, edge: &Arc<Edge>, max: usize) -> Result<Upload, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("uploads here are limited to {max} bytes"),
        )
    };
    // A body that failed to arrive: too slow (408), or over the size limit (413).
    let unread = |error: &(dyn std::error::Error + 'static)| {
        if crate::http::listener::is_body_timeout(error) {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, error.to_string())
        } else {
            too_large()
        }
    };
    let declared = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if declared
        .as_deref()
        .is_some_and(|c| c.starts_with("multipart/form-data"))
    {
        let mut form = Multipart::from_request(request, edge)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?
        {
            if field.name() != Some("file") {
                continue;
            }
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| unread(&e))?;
            if bytes.len() > max {
                return Err(too_large());
            }
            return Ok(Upload {
                bytes,
                file_name,
                content_type,
            });
        }
        return Err(ApiError::bad_request(
            "the form has no \"file\" field; send the file as field \"file\"",
        ));
    }
    let bytes = Bytes::from_request(request, edge)
        .await
        .map_err(|e| unread(&e))?;
    if bytes.len() > max {
        return Err(too_large());
    }
    Ok(Upload {
        bytes,
        file_name: None,
        content_type: declared,
    })
}

fn file_store(edge: &Edge) -> Result<&FileStore, ApiError> {
    edge.files
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("uploads are switched off on this server"))
}

fn row_json(row: &FileRow, table: FileTable) -> Value {
    let (kind_field, base) = match table {
        FileTable::Models => ("name", "models"),
        FileTable::Media => ("kind", "media"),
    };
    json!({
        "id": row.id,
        kind_field: row.name,
        "size": row.size,
        "content_type": row.content_type,
        "owner": row.owner,
        "space": row.space,
        "metadata": row.metadata,
        "created_at": rfc3339(row.created_ms),
        "url": format!("/api/{base}/{}/file", row.id),
    })
}

impl From<IntakeError> for ApiError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::Refused(refused) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, refused.to_string())
            }
            IntakeError::Name(message) => ApiError::bad_request(message),
            IntakeError::CheckFailed => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
            }
            IntakeError::Storage(ref cause) => {
                tracing::warn!(error = %cause, "upload could not be stored");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
            }
            IntakeError::Store(error) => error.into(),
        }
    }
}

/// The answer to an upload: 201 with its row, or 200 with the existing row when the same
/// bytes were uploaded before.
fn kept_response(kept: &Kept, table: FileTable) -> (StatusCode, Json<Value>) {
    let status = if kept.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = row_json(&kept.row, table);
    body["deduplicated"] = json!(!kept.new);
    (status, Json(body))
}

/// `POST /api/models[?name=..]`: a GLB model. 201 with its row, or 200 with the existing
/// row when the same bytes were uploaded before.
pub async fn upload_model(
    State(edge): State<Arc<Edge>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let files = file_store(&edge)?;
    let account = caller.required()?;
    let _place = edge.uploads.enter().await?;
    let upload = read_upload(request, &edge, edge.config.max_model_bytes).await?;
    let name = query
        .name
        .or(upload.file_name)
        .unwrap_or_else(|| "model".into());
    let intake = Intake {
        edge: &edge,
        files,
        uploader: &account,
    };
    let kept = intake.model(upload.bytes, &name).await?;
    Ok(kept_response(&kept, FileTable::Models))
}

/// `POST /api/media?kind=screenshot|avatar|attachment[&space=ID]`: an image (or, for
/// attachments, a PDF or text file) whose bytes match its `Content-Type`.
pub async fn upload_media(
    State(edge): State<Arc<Edge>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let files = file_store(&edge)?;
    let account = caller.required()?;
    let kind = query.kind.unwrap_or_default();
    let _place = edge.uploads.enter().await?;
    let upload = read_upload(request, &edge, edge.config.max_media_bytes).await?;
    let declared = upload.content_type.unwrap_or_default();
    let unsupported =
        |e: UploadError| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string());
    let kind = MediaKind::from_name(&kind).map_err(unsupported)?;
    let content_type = check_media(kind, &declared, &upload.bytes).map_err(unsupported)?;
    if let Some(space) = query.space {
        // Only a space the uploader may see (and so enter) can hold their media.
        super::spaces::visible_space(&edge, space, &Caller(Some(account.clone()))).await?;
    }
    let intake = Intake {
        edge: &edge,
        files,
        uploader: &account,
    };
    let kept = intake
        .media(kind, content_type, query.space, upload.bytes)
        .await?;
    Ok(kept_response(&kept, FileTable::Media))
}

async fn row_or_404(edge: &Edge, table: FileTable, id: Uuid) -> Result<FileRow, ApiError> {
    edge.store
        .durable
        .file(table, id)
        .await?
        .ok_or_else(|| ApiError::not_found("file"))
}

/// The row, if `caller` may see it: a file attached to a space is as visible as the space
/// (a private one's only to those who may enter it; to anyone else it does not exist).
async fn visible_row(
    edge: &Edge,
    table: FileTable,
    id: Uuid,
    caller: &Caller,
) -> Result<FileRow, ApiError> {
    let row = row_or_404(edge, table, id).await?;
    if let Some(space) = row.space {
        super::spaces::visible_space(edge, space, caller)
            .await
            .map_err(|_| ApiError::not_found("file"))?;
    }
    Ok(row)
}

async fn serve_file(
    edge: &Edge,
    table: FileTable,
    id: Uuid,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let row = visible_row(edge, table, id, caller).await?;
    // Anyone may cache a public file forever (its bytes never change); a file of a space
    // is only for the one who asked, and access can be withdrawn.
    let cache = if row.space.is_some() {
        "private, no-store"
    } else {
        "public, max-age=31536000, immutable"
    };
    let bytes = file_store(edge)?
        .get(&row.storage_key)
        .await
        .map_err(|error| {
            tracing::warn!(%error, key = %row.storage_key, "stored file unreadable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the file storage is unavailable; retry later",
            )
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, row.content_type),
            (header::CACHE_CONTROL, cache.into()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        bytes,
    )
        .into_response())
}

/// Whose models (`GET /api/models`).
#[derive(Debug, Deserialize)]
pub struct ModelsQuery {
    /// A space (id or name): the models its objects use.
    space: Option<String>,
    /// How many (default 100, at most 500).
    limit: Option<usize>,
}

/// `GET /api/models?space=ID|NAME&limit=100`: the models a space's objects use (a space the
/// caller may see), or without `space`, the caller's own uploads (bearer). Newest first.
pub async fn models(
    State(edge): State<Arc<Edge>>,
    ApiQuery(query): ApiQuery<ModelsQuery>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let (owner, space) = match &query.space {
        Some(key) => {
            let id = super::spaces::space_id(&edge, key).await?;
            super::spaces::visible_space(&edge, id, &caller).await?;
            (None, Some(id))
        }
        None => (Some(caller.required()?.id), None),
    };
    let rows = edge.store.durable.models(owner, space, limit).await?;
    let models: Vec<Value> = rows
        .iter()
        .map(|r| row_json(r, FileTable::Models))
        .collect();
    Ok(Json(json!({ "models": models })))
}

/// `GET /api/models/{id}`: the model's row.
pub async fn model(
    State(edge): State<Arc<Edge>>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
    let row = row_or_404(&edge, FileTable::Models, id).await?;
    Ok(Json(row_json(&row, FileTable::Models)))
}

/// `GET /api/models/{id}/file`: the GLB.
pub async fn model_file(
    State(edge): State<Arc<Edge>>,
    ApiPath(id): ApiPath<Uuid>,
    caller: Caller,
) -> Result<Response, ApiError> {
    serve_file(&edge, FileTable::Models, id, &caller).await
}

/// `GET /api/media/{id}`: the media file's row (404 for a private space's file, unless the
/// caller may enter the space).
pub async fn media(
    State(edge): State<Arc<Edge>>,
    ApiPath(id): ApiPath<Uuid>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let row = visible_row(&edge, FileTable::Media, id, &caller).await?;
    Ok(Json(row_json(&row, FileTable::Media)))
}

/// `GET /api/media/{id}/file`: the bytes (same visibility as the row).
pub async fn media_file(
    State(edge): State<Arc<Edge>>,
    ApiPath(id): ApiPath<Uuid>,
    caller: Caller,
) -> Result<Response, ApiError> {
    serve_file(&edge, FileTable::Media, id, &caller).await
}
