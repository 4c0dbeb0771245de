//! The JSON API under `/api`: accounts, spaces and their chat history, uploads, and the
//! admin endpoints. Errors are `{"error": "..."}` with a status that says whose fault it is.

mod accounts;
mod admin;
mod cluster;
mod extract;
mod spaces;
mod uploads;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use crate::auth::{self, Account};
use crate::edge::Edge;
use crate::store::StoreError;

pub(crate) use extract::{no_route, wrong_method};

/// Largest JSON request body.
pub(super) const MAX_JSON_BODY: usize = 64 * 1024;

/// The `/api` routes (uploads get their own body limit from the configuration).
pub fn routes(edge: &Edge) -> Router<Arc<Edge>> {
    let upload_limit = edge.config.max_model_bytes.max(edge.config.max_media_bytes) + 64 * 1024;
    let json_routes = Router::new()
        .route("/api/users", post(accounts::register))
        .route("/api/login", post(accounts::login))
        .route("/api/logout", post(accounts::logout))
        .route("/api/me", get(accounts::me))
        .route("/api/spaces", get(spaces::list).post(spaces::create))
        .route("/api/spaces/{id}", get(spaces::one).delete(spaces::delete))
        .route("/api/spaces/{id}/chat", get(spaces::chat))
        .route("/api/spaces/{id}/members", post(spaces::add_member))
        .route(
            "/api/spaces/{id}/members/{name}",
            delete(spaces::remove_member),
        )
        .route("/api/models/{id}", get(uploads::model))
        .route("/api/models/{id}/file", get(uploads::model_file))
        .route("/api/media/{id}", get(uploads::media))
        .route("/api/media/{id}/file", get(uploads::media_file))
        .route("/api/cluster", get(cluster::nodes))
        .route("/api/admin/cluster", get(admin::cluster))
        .route("/api/admin/spaces", get(admin::spaces))
        .route("/api/admin/spaces/{id}/move", post(admin::move_space))
        .route("/api/admin/drain", post(admin::drain))
        .route("/api/admin/sessions", get(admin::sessions))
        .route("/api/admin/sessions/{id}/kick", post(admin::kick))
        .route("/api/admin/users/{name}", post(admin::set_user))
        .route(
            crate::cluster::sessions::TAKE_PATH,
            post(cluster::take_session),
        )
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    let upload_routes = Router::new()
        .route(
            "/api/models",
            get(uploads::models).post(uploads::upload_model),
        )
        .route("/api/media", post(uploads::upload_media))
        .layer(DefaultBodyLimit::max(upload_limit));
    json_routes.merge(upload_routes)
}

/// A JSON body of the API, by the route that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `POST /api/users`.
    Register,
    /// `POST /api/login`.
    Login,
    /// `POST /api/spaces`.
    CreateSpace,
    /// `POST /api/spaces/{id}/members`.
    AddMember,
    /// `POST /api/admin/users/{name}`.
    UserChange,
    /// `POST /api/admin/spaces/{id}/move`.
    SpaceMove,
}

/// Decodes `bytes` as the body `kind` and checks it as its handler does before asking any
/// store: what the fuzz targets feed arbitrary bytes to. Errors are the API's answers.
pub fn check_body(kind: Body, bytes: &[u8], config: &crate::Config) -> Result<(), String> {
    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
    let refused = |e: ApiError| e.message;
    match kind {
        Body::Register => decode::<accounts::NewAccount>(bytes)?
            .checked_name(config)
            .map(drop)
            .map_err(refused),
        Body::Login => decode::<accounts::Credentials>(bytes).map(drop),
        Body::CreateSpace => decode::<spaces::CreateSpace>(bytes)?
            .checked_name(config)
            .map(drop)
            .map_err(refused),
        Body::AddMember => decode::<spaces::NewMember>(bytes)?
            .role()
            .map(drop)
            .map_err(refused),
        Body::UserChange => decode::<admin::UserChange>(bytes).map(drop),
        Body::SpaceMove => decode::<admin::SpaceMove>(bytes).map(drop),
    }
}

/// Whether `name` could be a stored user or space name: none is longer (in bytes, at most
/// four per character) or holds NUL (which PostgreSQL cannot even compare). Names that
/// could not be are answered without asking a store.
fn could_be_stored_name(edge: &Edge, name: &str) -> bool {
    name.len() <= 4 * edge.config.max_name_chars && !name.contains('\0')
}

/// A refused or failed API request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with a status and a message for people.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no such {what}"))
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "API request failed in the store");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is unavailable; retry later",
        )
    }
}

impl From<crate::http::gates::Busy> for ApiError {
    fn from(busy: crate::http::gates::Busy) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, busy.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message }));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 here is momentary (a busy gate, a store retrying): say when to retry.
            (self.status, [(header::RETRY_AFTER, "1")], body).into_response()
        } else {
            (self.status, body).into_response()
        }
    }
}

/// The caller's account, if the request carries `Authorization: Bearer <token>`. A token
/// that is present but unknown is refused with 401 rather than treated as anonymous.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Account>);

impl FromRequestParts<Arc<Edge>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, edge: &Arc<Edge>) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token =
            value.to_str().ok().and_then(auth::bearer).ok_or_else(|| {
                ApiError::unauthorized("Authorization must be \"Bearer <token>\"")
            })?;
        match edge.account_for_token(token).await? {
            Some(account) => Ok(Self(Some(account))),
            None => Err(ApiError::unauthorized(
                "the token is unknown or expired; log in again",
            )),
        }
    }
}

impl Caller {
    /// The account, or 401.
    fn required(self) -> Result<Account, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::unauthorized(
                "this needs Authorization: Bearer <token> (a session token from welcome, or a login token)",
            )
        })
    }
}

/// Whether the request presents `Authorization: Bearer <expected>`.
fn bearer_is(parts: &Parts, expected: &str) -> bool {
    let presented = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer)
        .unwrap_or_default();
    // Compare digests, so the time taken does not depend on the token's length either.
    auth::constant_time_eq(&auth::token_hash(presented), &auth::token_hash(expected))
}

/// A request that presented the configured admin token.
#[derive(Debug, Clone, Copy)]
pub struct AdminToken;

impl FromRequestParts<Arc<Edge>> for AdminToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, edge: &Arc<Edge>) -> Result<Self, ApiError> {
        let Some(expected) = &edge.config.admin_token else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "the admin API is off: set admin_token to switch it on",
            ));
        };
        if bearer_is(parts, expected.expose()) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized(
                "the admin API needs Authorization: Bearer <admin_token>",
            ))
        }
    }
}
