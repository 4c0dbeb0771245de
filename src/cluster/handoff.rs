//! Live hand-off of a space to another node: the owner takes the space out of its world
//! (its unsaved changes go to the writer first, its people are sent to the new owner with
//! `moved`), waits until every row of it is durably written, then passes the lease on with
//! a raised epoch. The new owner's joins wait for that moment, then load and resume.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use plaza_systems::Input;
use uuid::Uuid;

use super::Cluster;
use crate::edge::Edge;
use crate::edge::conn::Envelope;
use crate::store::StoreError;

/// Longest a hand-off waits for the space's rows to be written before it gives up (the
/// space then stays this node's, unloaded until its next join).
const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Why a hand-off did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HandOffError {
    /// This node does not own the space.
    #[error("this node does not own the space")]
    NotOwned,
    /// The target is not a live node of the cluster (or is this node).
    #[error("node {0:?} is not another live node of the cluster; see GET /api/cluster")]
    NoSuchNode(String),
    /// The space is already being handed off.
    #[error("the space is already being handed off")]
    InProgress,
    /// Its rows could not be written in time; it stays here.
    #[error("the space's changes could not be written within {0:?}; it stays on this node")]
    NotFlushed(Duration),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts handing `space` to `to` in the background (a move asked for through another
/// node, seen by the heartbeat); nothing happens if one is under way.
pub(crate) fn start(cluster: &Arc<Cluster>, edge: &Arc<Edge>, space: Uuid, to: String) {
    let (cluster, edge) = (cluster.clone(), edge.clone());
    tokio::spawn(async move {
        match hand_off(&cluster, &edge, space, &to).await {
            Ok(took) => {
                tracing::info!(%space, to, took_ms = took.as_millis() as u64, "space handed off")
            }
            Err(HandOffError::InProgress) => {}
            Err(error) => tracing::warn!(%space, to, %error, "hand-off failed"),
        }
    });
}

/// Hands `space` to the live node `to`; how long the space was out of service on this
/// node (from unloading to the lease passed on). A hand-off that fails once marked is
/// unmarked again (one already under way is left alone).
pub async fn hand_off(
    cluster: &Cluster,
    edge: &Edge,
    space: Uuid,
    to: &str,
) -> Result<Duration, HandOffError> {
    let fence = cluster.fences.fence(space).ok_or(HandOffError::NotOwned)?;
    let target = match cluster.live_node(to).await? {
        Some(target) if to != &*cluster.node => target,
        _ => return Err(HandOffError::NoSuchNode(to.to_string())),
    };
    if !cluster.begin(space) {
        return Err(HandOffError::InProgress);
    }
    let result = async {
        if !cluster
            .store
            .begin_hand_off(space, &cluster.node, fence.epoch, to)
            .await?
        {
            return Err(HandOffError::NotOwned);
        }
        let started = Instant::now();
        let tick = edge.tick_stats.tick.load(Ordering::Relaxed);
        edge.submit(Envelope::Input(Input::SpaceUnload {
            space,
            to: Some(target),
        }));
        // The unload is applied in the next tick and its rows handed over at that tick's
        // end; two ticks on, they are with the writer.
        while edge.tick_stats.tick.load(Ordering::Relaxed) < tick + 2 {
            if started.elapsed() > FLUSH_WAIT {
                return Err(HandOffError::NotFlushed(FLUSH_WAIT));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let probe = cluster
            .probe
            .get()
            .expect("the writer's probe is set at start");
        if !probe.flushed(space, FLUSH_WAIT).await {
            return Err(HandOffError::NotFlushed(FLUSH_WAIT));
        }
        cluster.fences.released(space);
        if !cluster
            .store
            .hand_over(space, &cluster.node, fence.epoch, to, cluster.lease_ms)
            .await?
        {
            return Err(HandOffError::NotOwned);
        }
        Ok(started.elapsed())
    }
    .await;
    if result.is_err() {
        // The space stays this node's: joins at the target must not wait for it.
        if let Err(error) = cluster.store.cancel_hand_off(space, &cluster.node).await {
            tracing::warn!(%space, %error, "cannot clear a failed hand-off; the lease decides");
        }
    }
    cluster.end(space);
    result
}

/// Drains this node: it is marked draining (other nodes send no newcomers here), then
/// every space it owns goes to the least loaded other live node, one after another.
pub async fn drain(cluster: &Cluster, edge: &Edge) -> Result<serde_json::Value, StoreError> {
    cluster.draining.store(true, Ordering::Relaxed);
    let mut moved = Vec::new();
    let mut failed = Vec::new();
    for (space, _) in cluster.fences.all() {
        let nodes = cluster.store.nodes(cluster.lease_ms).await?;
        let target = nodes
            .iter()
            .filter(|n| n.live && !n.row.draining && n.row.node_id != *cluster.node)
            .min_by_key(|n| n.row.sessions);
        let Some(target) = target else {
            failed.push(serde_json::json!({ "space": space, "error": "no other live node" }));
            continue;
        };
        let to = target.row.node_id.clone();
        match hand_off(cluster, edge, space, &to).await {
            Ok(took) => moved.push(serde_json::json!({
                "space": space, "to": to, "out_of_service_ms": took.as_millis() as u64
            })),
            Err(error) => {
                failed.push(serde_json::json!({ "space": space, "error": error.to_string() }))
            }
        }
    }
    Ok(serde_json::json!({ "node": &*cluster.node, "moved": moved, "failed": failed }))
}
