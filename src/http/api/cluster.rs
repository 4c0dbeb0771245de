//! `GET /api/cluster`: the nodes sharing this node's database, live or not, with their
//! addresses and load; the admin view adds the spaces each owns. And what only other
//! nodes may ask: `POST /api/cluster/sessions/take`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Json;
use serde_json::{Value, json};

use super::extract::ApiJson;
use super::{ApiError, bearer_is};
use crate::cluster::sessions::{Continued, MAX_RESUME_TOKEN_BYTES, TakeRequest};
use crate::edge::Edge;

/// A request from another node of the cluster: it presented this node's peer secret
/// (announced in the heartbeat row, so only what can read the database knows it).
#[derive(Debug, Clone, Copy)]
pub struct PeerSecret;

impl FromRequestParts<Arc<Edge>> for PeerSecret {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, edge: &Arc<Edge>) -> Result<Self, ApiError> {
        let Some(cluster) = &edge.cluster else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "this node is not in a cluster",
            ));
        };
        if bearer_is(parts, cluster.peer_secret.expose()) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized(
                "only the nodes of this cluster may ask this (Bearer <peer secret>)",
            ))
        }
    }
}

/// `POST /api/cluster/sessions/take`: another node's client presented the resume token of a
/// session here; the session leaves this node without ending and goes on there.
pub async fn take_session(
    _peer: PeerSecret,
    State(edge): State<Arc<Edge>>,
    ApiJson(request): ApiJson<TakeRequest>,
) -> Result<Json<Continued>, ApiError> {
    if request.token.len() > MAX_RESUME_TOKEN_BYTES {
        let message = format!("token: longer than {MAX_RESUME_TOKEN_BYTES} bytes");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, message));
    }
    edge.let_session_go(&request.token, request.user)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("session of that resume token and user here"))
}

/// `GET /api/cluster`: every node, or this one alone when it is not in a cluster.
pub async fn nodes(State(edge): State<Arc<Edge>>) -> Result<Json<Value>, ApiError> {
    view(&edge, false).await.map(Json)
}

/// The cluster view; with `spaces`, each node's owned spaces (names of private spaces
/// included, so only for admins).
pub(super) async fn view(edge: &Edge, spaces: bool) -> Result<Value, ApiError> {
    let Some(cluster) = &edge.cluster else {
        return Ok(json!({ "clustered": false, "node": null, "nodes": [] }));
    };
    let nodes = cluster.store.nodes(cluster.lease_ms).await?;
    let owners = if spaces {
        cluster.store.owners().await?
    } else {
        Vec::new()
    };
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let row = &n.row;
            let mut node = json!({
                "node": row.node_id,
                "live": n.live,
                "silent_ms": (n.silent_ms != i64::MAX).then_some(n.silent_ms),
                "version": row.version,
                "http_url": row.http_url,
                "ws_url": format!("{}/ws", row.http_url.replacen("http", "ws", 1)),
                "quic_port": row.quic_port,
                "webtransport_port": row.webtransport_port,
                "cert_sha256": row.cert_sha256,
                "sessions": row.sessions,
                "spaces": row.spaces,
                "max_sessions": row.max_sessions,
                "cpu": row.cpu,
                "draining": row.draining,
            });
            if spaces {
                node["owns"] = owners
                    .iter()
                    .filter(|o| o.node == row.node_id)
                    .map(|o| {
                        json!({"space": o.space, "name": o.name, "epoch": o.epoch,
                               "lease_left_ms": o.lease_left_ms})
                    })
                    .collect();
            }
            node
        })
        .collect();
    Ok(json!({ "clustered": true, "node": &*cluster.node, "nodes": nodes }))
}
