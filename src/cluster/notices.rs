//! Messages between the nodes of a cluster, over PostgreSQL's LISTEN/NOTIFY (nothing else
//! to run): an admin's kick of a session connected to another node, a model uploaded on
//! another node, so that every node's spawn check knows it, and a space deleted through
//! another node than its owner. The channel is named after
//! the database schema, so that clusters sharing one database (tests) never hear each
//! other. A notice is best effort: one sent while a node is reconnecting is not seen by it.

use std::sync::Arc;

use tokio::sync::watch;
use uuid::Uuid;

use plaza_systems::Input;

use super::Cluster;
use crate::edge::Edge;
use crate::edge::conn::Envelope;
use crate::store::StoreError;

/// What a node tells the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// An admin kicked this session; the node it is connected to closes it.
    Kick(Uuid),
    /// A model was uploaded: spawns may name it.
    Model(Uuid),
    /// A space was deleted through another node: its owner takes it out of its world, so
    /// the people in it are told it was deleted (not that it moved).
    Deleted(Uuid),
}

impl Notice {
    fn payload(self) -> String {
        match self {
            Self::Kick(session) => format!("kick:{session}"),
            Self::Model(model) => format!("model:{model}"),
            Self::Deleted(space) => format!("deleted:{space}"),
        }
    }

    fn parse(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "kick" => Some(Self::Kick(id)),
            "model" => Some(Self::Model(id)),
            "deleted" => Some(Self::Deleted(id)),
            _ => None,
        }
    }
}

/// Tells every node (this one too).
pub async fn send(cluster: &Cluster, notice: Notice) -> Result<(), StoreError> {
    let channel = cluster.store.notice_channel().await?;
    cluster.store.notify(&channel, &notice.payload()).await
}

/// Acts on notices until `stop` turns true.
pub(crate) async fn run(cluster: Arc<Cluster>, edge: Arc<Edge>, mut stop: watch::Receiver<bool>) {
    let mut listener = loop {
        let listening = async {
            let channel = cluster.store.notice_channel().await?;
            let mut listener = cluster.store.listener().await?;
            listener.listen(&channel).await?;
            Ok::<_, StoreError>(listener)
        };
        match listening.await {
            Ok(listener) => break listener,
            Err(error) => {
                tracing::warn!(%error, "cluster notices: cannot listen; retrying in 1 s");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    loop {
        let received = tokio::select! {
            received = listener.recv() => received,
            _ = stop.changed() => return,
        };
        match received {
            Ok(notification) => match Notice::parse(notification.payload()) {
                Some(Notice::Kick(session)) => {
                    if edge.sessions.kick(session, "kicked by an administrator") {
                        tracing::info!(%session, "session kicked by an administrator (through another node)");
                    }
                }
                Some(Notice::Model(model)) => edge.limits.models.extend([model]),
                Some(Notice::Deleted(space)) => {
                    if cluster.fences.fence(space).is_some() {
                        edge.submit(Envelope::Input(Input::SpaceDeleted { space }));
                    }
                }
                None => tracing::warn!(
                    payload = notification.payload(),
                    "cluster notices: unknown notice"
                ),
            },
            // sqlx reconnects and listens again on the next call.
            Err(error) => {
                tracing::warn!(%error, "cluster notices: connection lost; reconnecting");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_and_nonsense_is_none() {
        let id = Uuid::from_u128(42);
        for notice in [Notice::Kick(id), Notice::Model(id), Notice::Deleted(id)] {
            assert_eq!(Notice::parse(&notice.payload()), Some(notice));
        }
        assert_eq!(Notice::parse("kick:nope"), None);
        assert_eq!(
            Notice::parse("boom:00000000-0000-0000-0000-00000000002a"),
            None
        );
        assert_eq!(Notice::parse(""), None);
    }
}
