//! The spaces this node owns in a cluster, each with the epoch it claimed it at: the store
//! writer fences every space's transaction with it, and reports here the spaces it found
//! taken by another node, for the cluster task to take out of the world.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use super::Fence;

/// Owned spaces and their epochs, shared by the loader (which claims), the heartbeat (which
/// renews and notices losses) and the writer (which fences).
#[derive(Debug)]
pub struct Fences {
    node: Arc<str>,
    inner: Mutex<Inner>,
    /// Woken when a space is found lost.
    pub lost_signal: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Inner {
    epochs: HashMap<Uuid, u64>,
    lost: Vec<Uuid>,
}

impl Fences {
    /// No spaces yet, for node `node`.
    pub fn new(node: Arc<str>) -> Self {
        Self {
            node,
            inner: Mutex::default(),
            lost_signal: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single insert or remove, so a poisoned map is still whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's id.
    pub fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// The space was claimed at `epoch`.
    pub fn owned(&self, space: Uuid, epoch: u64) {
        self.lock().epochs.insert(space, epoch);
    }

    /// The fence a write of `space` must hold; `None` if this node does not own it.
    pub fn fence(&self, space: Uuid) -> Option<Fence> {
        self.lock().epochs.get(&space).map(|&epoch| Fence {
            space,
            node: self.node.clone(),
            epoch,
        })
    }

    /// Every owned space with its epoch.
    pub fn all(&self) -> Vec<(Uuid, u64)> {
        self.lock().epochs.iter().map(|(&s, &e)| (s, e)).collect()
    }

    /// How many spaces this node owns.
    pub fn count(&self) -> usize {
        self.lock().epochs.len()
    }

    /// The space was given up on purpose (handed over, deleted, released): no longer
    /// fenced, not reported lost.
    pub fn released(&self, space: Uuid) -> Option<u64> {
        self.lock().epochs.remove(&space)
    }

    /// Another node took `space` (at an epoch later than `epoch`): it is no longer this
    /// node's, and the cluster task is told. A report of an epoch older than the current
    /// claim is stale and ignored.
    pub fn lost(&self, space: Uuid, epoch: u64) {
        let mut inner = self.lock();
        if inner.epochs.get(&space) != Some(&epoch) {
            return;
        }
        inner.epochs.remove(&space);
        inner.lost.push(space);
        drop(inner);
        self.lost_signal.notify_one();
    }

    /// The spaces found lost since the last call.
    pub fn take_lost(&self) -> Vec<Uuid> {
        std::mem::take(&mut self.lock().lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_at_an_old_epoch_does_not_undo_a_newer_claim() {
        let fences = Fences::new(Arc::from("a"));
        let space = Uuid::from_u128(7);
        fences.owned(space, 3);
        fences.lost(space, 2);
        assert_eq!(fences.fence(space).map(|f| f.epoch), Some(3));
        fences.lost(space, 3);
        assert_eq!(fences.fence(space), None);
        assert_eq!(fences.take_lost(), vec![space]);
        assert!(fences.take_lost().is_empty());
    }
}
