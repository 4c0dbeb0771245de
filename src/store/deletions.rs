//! Spaces being deleted: from the moment `DELETE /api/spaces/{id}` is accepted until the
//! writer has committed the deletion. Loads of such a space are refused meanwhile (so a
//! join cannot bring back what is being deleted), and the request that asked waits here.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;
use uuid::Uuid;

/// Deletions under way, one entry per space (at most one per space, so this is bounded
/// by the number of spaces).
#[derive(Debug, Default)]
pub struct SpaceDeletions {
    waiting: Mutex<HashMap<Uuid, oneshot::Sender<()>>>,
}

impl SpaceDeletions {
    /// Starts deleting `space`: the receiver completes when the writer has committed the
    /// deletion. `None` if a deletion of it is already under way.
    pub fn begin(&self, space: Uuid) -> Option<oneshot::Receiver<()>> {
        let mut waiting = self.lock();
        if waiting.contains_key(&space) {
            return None;
        }
        let (done, wait) = oneshot::channel();
        waiting.insert(space, done);
        Some(wait)
    }

    /// Whether `space` is being deleted.
    pub fn is_deleting(&self, space: Uuid) -> bool {
        self.lock().contains_key(&space)
    }

    /// The writer committed the deletion of `spaces`.
    pub(crate) fn finished(&self, spaces: &[Uuid]) {
        if spaces.is_empty() {
            return;
        }
        let mut waiting = self.lock();
        for space in spaces {
            if let Some(done) = waiting.remove(space) {
                // The request may have stopped waiting; the deletion stands either way.
                let _ = done.send(());
            }
        }
    }

    /// The store refused the deletion of `spaces` as data (it went to `dead_letters`): the
    /// request waiting is told it failed.
    pub(crate) fn abandoned(&self, spaces: &[Uuid]) {
        let mut waiting = self.lock();
        for space in spaces {
            waiting.remove(space);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, oneshot::Sender<()>>> {
        // Inserting or removing one key cannot leave the map inconsistent.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_deletion_per_space_completes_when_written() {
        let deletions = SpaceDeletions::default();
        let space = Uuid::from_u128(7);
        let wait = deletions.begin(space).expect("the first deletion begins");
        assert!(deletions.begin(space).is_none(), "a second one is refused");
        assert!(deletions.is_deleting(space));
        deletions.finished(&[space]);
        wait.await.expect("the writer said it is done");
        assert!(!deletions.is_deleting(space));
        assert!(deletions.begin(space).is_some(), "and may begin again");
    }
}
