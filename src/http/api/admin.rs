//! The admin API, behind `admin_token`: every space (private ones too) with who is in it,
//! the live sessions, kicking a session, and granting server admin rights.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::extract::{ApiJson, ApiPath, ApiQuery};
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

/// Which sessions `GET /api/admin/sessions` lists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionScope {
    /// `node`: only this node's (what a node asks its peers for); otherwise the whole
    /// cluster's.
    scope: Option<String>,
}

/// `GET /api/admin/sessions`: connected sessions, oldest first, with the space each is in.
/// In a cluster, those of every live node, each with its `node`: this node asks the others
/// (`?scope=node`, the same admin token, [`crate::cluster::peers::PEER_TIMEOUT`] each), and
/// lists those that did not answer under `unreachable` with the reason.
pub async fn sessions(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
    ApiQuery(scope): ApiQuery<SessionScope>,
) -> Result<Json<Value>, ApiError> {
    let only_here = match scope.scope.as_deref() {
        None => false,
        Some("node") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "scope {other:?} is not known: leave it out (the cluster) or say \"node\""
            )));
        }
    };
    let mut sessions = local_sessions(&edge);
    let Some(cluster) = &edge.cluster else {
        return Ok(Json(json!({ "sessions": sessions })));
    };
    for session in &mut sessions {
        session["node"] = json!(&*cluster.node);
    }
    if only_here {
        return Ok(Json(json!({ "sessions": sessions })));
    }
    let token = edge
        .config
        .admin_token
        .as_ref()
        .expect("an admin request passed the admin token, so one is configured");
    let nodes = cluster.store.nodes(cluster.lease_ms).await?;
    let asks = nodes
        .iter()
        .filter(|n| n.live && n.row.node_id != *cluster.node)
        .map(|n| async move {
            let url = format!("{}/api/admin/sessions?scope=node", n.row.http_url);
            let answer =
                crate::cluster::peers::get_admin_json(&cluster.http, &url, token.expose()).await;
            (n.row.node_id.as_str(), answer)
        });
    let mut unreachable = Vec::new();
    for (node, answer) in futures_util::future::join_all(asks).await {
        match answer {
            Ok(Value::Object(mut listing)) => match listing.remove("sessions") {
                Some(Value::Array(theirs)) => sessions.extend(theirs),
                _ => unreachable
                    .push(json!({"node": node, "error": "no session list in its answer"})),
            },
            Ok(_) => {
                unreachable.push(json!({"node": node, "error": "its answer is not a listing"}))
            }
            Err(error) => {
                tracing::warn!(%node, %error, "a node's session list is missing");
                unreachable.push(json!({"node": node, "error": error.to_string()}));
            }
        }
    }
    sessions.sort_by(|a, b| a["started_at"].as_str().cmp(&b["started_at"].as_str()));
    Ok(Json(
        json!({ "sessions": sessions, "unreachable": unreachable }),
    ))
}

/// The sessions connected to this node, oldest first.
fn local_sessions(edge: &Edge) -> Vec<Value> {
    let mut space_of = std::collections::HashMap::new();
    for space in edge.directory.all() {
        for person in &space.people {
            space_of.insert(person.session, (space.id, space.name.clone()));
        }
    }
    edge.sessions
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
        .collect()
}

/// `POST /api/admin/sessions/{id}/kick`: closes a session's connection (204; 404 if it is
/// not connected). In a cluster a session not connected here is kicked by whichever node
/// it is connected to (202: the kick was sent).
pub async fn kick(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    if edge.sessions.kick(id, "kicked by an administrator") {
        tracing::info!(session = %id, "session kicked by an administrator");
        return Ok(StatusCode::NO_CONTENT);
    }
    match &edge.cluster {
        Some(cluster) => {
            crate::cluster::notices::send(cluster, crate::cluster::notices::Notice::Kick(id))
                .await?;
            Ok(StatusCode::ACCEPTED)
        }
        None => Err(ApiError::not_found("connected session")),
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

/// `GET /api/admin/cluster`: the cluster's nodes and the spaces each owns.
pub async fn cluster(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
) -> Result<Json<Value>, ApiError> {
    super::cluster::view(&edge, true).await.map(Json)
}

/// This node's cluster membership, or a refusal saying why there is none.
fn clustered(edge: &Edge) -> Result<&Arc<crate::cluster::Cluster>, ApiError> {
    edge.cluster.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "this node is not in a cluster (it needs PostgreSQL and cluster_enabled)",
        )
    })
}

/// Where to move a space.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceMove {
    to: String,
}

/// `POST /api/admin/spaces/{id}/move` `{"to": NODE}`: hands a loaded space to another live
/// node. Through its owner: done when the answer comes (200, with how long the space was
/// out of service); through any other node: the owner is asked and does it at its next
/// heartbeat (202).
pub async fn move_space(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<SpaceMove>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cluster = clustered(&edge)?;
    let to = request.to;
    if !crate::cluster::valid_node_id(&to) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "to: not a node id"));
    }
    if cluster.fences.fence(id).is_some() {
        use crate::cluster::handoff::{HandOffError, hand_off};
        return match hand_off(cluster, &edge, id, &to).await {
            Ok(took) => Ok((
                StatusCode::OK,
                Json(
                    json!({ "space": id, "to": to, "out_of_service_ms": took.as_millis() as u64 }),
                ),
            )),
            Err(HandOffError::Store(error)) => Err(error.into()),
            Err(error @ HandOffError::NoSuchNode(_)) => {
                Err(ApiError::new(StatusCode::NOT_FOUND, error.to_string()))
            }
            Err(error) => Err(ApiError::new(StatusCode::CONFLICT, error.to_string())),
        };
    }
    if cluster.live_node(&to).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("node {to:?} is not a live node of the cluster; see GET /api/cluster"),
        ));
    }
    match cluster.store.request_move(id, &to).await? {
        Some(owner) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "space": id, "to": to, "from": owner, "status": "moving" })),
        )),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no node has this space loaded (or it is there already); it is claimed by whichever node its next join reaches",
        )),
    }
}

/// `POST /api/admin/drain`: this node stops taking spaces and hands every space it owns
/// to the least loaded other live node; answers with what moved and what could not.
pub async fn drain(
    _admin: AdminToken,
    State(edge): State<Arc<Edge>>,
) -> Result<Json<Value>, ApiError> {
    let report = crate::cluster::handoff::drain(clustered(&edge)?, &edge).await?;
    Ok(Json(report))
}
