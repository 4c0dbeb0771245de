//! The admin API, behind `admin_token`: every space (private ones too) with who is in it,
//! the live sessions, kicking a session, and granting server admin rights.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::extract::{ApiJson, ApiPath};
use super::spaces::listing;
use super::{AdminToken, ApiError, could_be_stored_name};
use crate::clock::rfc3339;
use crate::edge::Edge;

/// Most spaces listed.
const MAX_SPACES: usize = 10_000;

/// `GET /api/admin/spaces`: every space, loaded or not.
pub async fn spaces(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(listing(&edge, false, MAX_SPACES).await?))
}

/// `GET /api/admin/sessions`: connected sessions, oldest first, with the space each is in.
pub async fn sessions(_admin: AdminToken, State(edge): State<Arc<Edge>>) -> Json<Value> {
    let mut space_of = std::collections::HashMap::new();
    for space in edge.directory.all() {
        for person in &space.people {
            space_of.insert(person.session, (space.id, space.name.clone()));
        }
    }
    let sessions: Vec<Value> = edge
        .sessions
        .list()
        .iter()
        .map(|live| {
            let space = space_of.get(&live.session);
            json!({
                "session": live.session,
                "user": live.account.id,
                "name": &*live.account.name,
                "registered": live.account.registered,
                "transport": live.transport.as_str(),
                "client_addr": live.client_addr.map(|a| a.to_string()),
                "user_agent": live.user_agent.as_deref(),
                "started_at": rfc3339(live.started_ms),
                "space": space.map(|(id, _)| id),
                "space_name": space.map(|(_, name)| &**name),
            })
        })
        .collect();
    Json(json!({ "sessions": sessions }))
}

/// `POST /api/admin/sessions/{id}/kick`: closes a session's connection (204; 404 if it is
/// not connected).
pub async fn kick(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    if edge.sessions.kick(id, "kicked by an administrator") {
        tracing::info!(session = %id, "session kicked by an administrator");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("connected session"))
    }
}

/// What to change about a user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    admin: bool,
}

/// `POST /api/admin/users/{name}` `{"admin": true}`: grants or withdraws server admin
/// rights (they apply from the user's next connection).
pub async fn set_user(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<Value>, ApiError> {
    if could_be_stored_name(&edge, &name)
        && edge.store.durable.set_admin(&name, change.admin).await?
    {
        Ok(Json(json!({ "name": name, "admin": change.admin })))
    } else {
        Err(ApiError::not_found("user"))
    }
}
