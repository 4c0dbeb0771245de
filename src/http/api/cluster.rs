//! `GET /api/cluster`: the nodes sharing this node's database, live or not, with their
//! addresses and load; the admin view adds the spaces each owns.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Json;
use serde_json::{Value, json};

use super::ApiError;
use crate::edge::Edge;

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
