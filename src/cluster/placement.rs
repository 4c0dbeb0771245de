//! Where a space asked for by a join is simulated: here (claimed, then loaded), or on the
//! node that owns it, or, when this node is over its load, on the least loaded live node.

use std::time::Duration;

use plaza_systems::{LoadedSpace, NodeAddress};
use uuid::Uuid;

use super::{Cluster, address_of, live_among};
use crate::store::postgres::cluster::{Claim, NodeListing};
use crate::store::{Store, StoreError};

/// How long a join waits for a space being handed to this node before giving up.
const HAND_OFF_WAIT: Duration = Duration::from_secs(5);
/// How often it looks again meanwhile.
const HAND_OFF_POLL: Duration = Duration::from_millis(25);

/// Where a space goes.
#[derive(Debug)]
pub(crate) enum Placement {
    /// This node owns it now; here it is.
    Here(LoadedSpace),
    /// Another node owns it (or should take it): send the client there.
    Elsewhere(NodeAddress),
}

/// Why a space could not be placed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlacementError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The owner's lease is live but it is not among the live nodes (it just stopped, or
    /// its heartbeat is late): the lease runs out within `lease_ms`.
    #[error("space is owned by node {0}, which is not answering; retry in a few seconds")]
    OwnerSilent(String),
    /// A hand-off to this node did not complete in time.
    #[error("space is being handed to this node and the hand-off has not completed; retry")]
    HandOffPending,
}

impl Cluster {
    /// Places the space `name` for a join arriving at this node with `sessions` sessions.
    pub(crate) async fn place(
        &self,
        store: &Store,
        name: &str,
        chat_limit: usize,
        sessions: u64,
    ) -> Result<Placement, PlacementError> {
        let header = store.space_to_join(name).await?;
        // A draining node takes no new spaces either.
        let over_load = self.draining.load(std::sync::atomic::Ordering::Relaxed)
            || (self.max_sessions > 0 && sessions >= self.max_sessions as u64);
        if over_load && let Some(node) = self.less_loaded_node(header.id).await? {
            return Ok(Placement::Elsewhere(node));
        }
        match self.claim(header.id).await? {
            Err(owner) => Ok(Placement::Elsewhere(owner)),
            Ok(epoch) => {
                self.fences.owned(header.id, epoch);
                // Read again now that no other node can commit: the version read before
                // the claim may predate the last owner's last flush, and would then let an
                // older snapshot pass for current.
                let claimed = header.id;
                let header = store.space_to_join(name).await?;
                if header.id != claimed {
                    // Deleted and made again under the same name meanwhile.
                    return Err(StoreError::SpaceDeleting(claimed).into());
                }
                let space = store.load_header(header, chat_limit, epoch).await?;
                Ok(Placement::Here(space))
            }
        }
    }

    /// Claims `space`, waiting a moment if it is being handed to this node: the epoch, or
    /// the live node that owns it.
    async fn claim(&self, space: Uuid) -> Result<Result<u64, NodeAddress>, PlacementError> {
        let deadline = tokio::time::Instant::now() + HAND_OFF_WAIT;
        loop {
            match self
                .store
                .claim_space(space, &self.node, self.lease_ms)
                .await?
            {
                Claim::Owned(epoch) => return Ok(Ok(epoch)),
                // Handed to this node between the claim and the look at who owns it (the
                // claim saw the old owner): claim again.
                Claim::Elsewhere {
                    node,
                    moving_to: None,
                } if node == *self.node => {
                    if tokio::time::Instant::now() > deadline {
                        return Err(PlacementError::HandOffPending);
                    }
                }
                Claim::Elsewhere { moving_to, .. } if moving_to.as_deref() == Some(&*self.node) => {
                    // The owner is writing the space's last rows; it passes the lease on
                    // (to this node) when they are in.
                    if tokio::time::Instant::now() > deadline {
                        return Err(PlacementError::HandOffPending);
                    }
                    tokio::time::sleep(HAND_OFF_POLL).await;
                }
                Claim::Elsewhere { node, moving_to } => {
                    // Being handed to a third node: go where it is going.
                    let node = moving_to.unwrap_or(node);
                    return match self.live_node(&node).await? {
                        Some(address) => Ok(Err(address)),
                        None => Err(PlacementError::OwnerSilent(node)),
                    };
                }
            }
        }
    }

    /// The live node `node`, if it is one.
    pub(crate) async fn live_node(&self, node: &str) -> Result<Option<NodeAddress>, StoreError> {
        let nodes = self.store.nodes(self.lease_ms).await?;
        Ok(live_among(&nodes, node))
    }

    /// For a node over its load: the space's live owner if it has one elsewhere, else the
    /// least loaded live node under its own limit; `None` to keep it here.
    async fn less_loaded_node(&self, space: Uuid) -> Result<Option<NodeAddress>, StoreError> {
        let nodes = self.store.nodes(self.lease_ms).await?;
        let owners = self.store.owners().await?;
        if let Some(owner) = owners.iter().find(|o| o.space == space) {
            return Ok((owner.node != *self.node)
                .then(|| live_among(&nodes, &owner.node))
                .flatten());
        }
        let has_room = |n: &&NodeListing| {
            n.live
                && !n.row.draining
                && n.row.node_id != *self.node
                && (n.row.max_sessions == 0 || n.row.sessions < n.row.max_sessions)
        };
        Ok(nodes
            .iter()
            .filter(has_room)
            .min_by_key(|n| n.row.sessions)
            .map(address_of))
    }
}
