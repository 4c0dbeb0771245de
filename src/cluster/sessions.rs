//! Sessions that go from node to node. A client that comes back through another node (it
//! followed `moved`, or its load balancer sent it elsewhere after a dropped connection)
//! presents its resume token there; in a cluster the token ends in `@<node id>`, so that
//! node asks the one named for the session (`POST /api/cluster/sessions/take`, with the
//! peer secret that node announces in its heartbeat row). The old node lets the session
//! go without ending it, and it goes on here under the same id, with its start: one row in
//! `sessions`, one connect and one disconnect in `events`, and one entry in the admin
//! session list, wherever its client is now.
//!
//! What goes with it is who it is (id, user, start). Its place in a space does not: the
//! client joins again, as after any reconnect that is not a resume on the same node
//! (`welcome.resumed` is false).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Cluster;
use super::peers::{self, PeerError};

/// How long a node waits for another to let a session go; past it, the client gets a new
/// session (a frozen or dying node must not hold the hello up).
pub(crate) const TAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest resume token passed on: 64 hex characters, `@`, a node id of at most 128.
pub(crate) const MAX_RESUME_TOKEN_BYTES: usize = 64 + 1 + 128;

/// The path of the endpoint through which a node lets a session go.
pub(crate) const TAKE_PATH: &str = "/api/cluster/sessions/take";

/// `POST /api/cluster/sessions/take`: the session of `token`, for `user` (whom the asking
/// node authenticated at hello).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeRequest {
    /// The resume token the client presented.
    pub token: String,
    /// The user it said hello as.
    pub user: Uuid,
}

/// A session another node let go of, to go on here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continued {
    /// Its id.
    pub session: Uuid,
    /// When it started, ms since the epoch.
    pub started_ms: i64,
}

/// The node whose session `token` stands for, if the token names one.
pub(crate) fn node_of(token: &str) -> Option<&str> {
    let (_, node) = token.rsplit_once('@')?;
    super::valid_node_id(node).then_some(node)
}

impl Cluster {
    /// Asks the node that issued `token` to let its session of `user` go. `Ok(None)` when
    /// the token names this node, no live node, or a node that holds no such session (it
    /// ended, or is another user's).
    pub(crate) async fn take_session(
        &self,
        token: &str,
        user: Uuid,
    ) -> Result<Option<Continued>, PeerError> {
        let Some(node) = node_of(token).filter(|node| *node != &*self.node) else {
            return Ok(None);
        };
        if token.len() > MAX_RESUME_TOKEN_BYTES {
            return Ok(None);
        }
        let nodes = self
            .store
            .nodes(self.lease_ms)
            .await
            .map_err(|e| PeerError::Unreachable(format!("the node list: {e}")))?;
        let Some(peer) = nodes.iter().find(|n| n.live && n.row.node_id == node) else {
            return Ok(None);
        };
        let url = format!("{}{TAKE_PATH}", peer.row.http_url);
        let request = TakeRequest {
            token: token.to_string(),
            user,
        };
        let body = serde_json::to_value(&request).expect("a take request is plain JSON");
        let secret = peer.row.peer_secret.expose();
        match peers::post_json(&self.http, &url, secret, &body, TAKE_TIMEOUT).await {
            Ok(answer) => serde_json::from_value(answer)
                .map(Some)
                .map_err(|e| PeerError::NotJson(e.to_string())),
            Err(PeerError::Refused { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_node_only_when_it_ends_in_a_valid_node_id() {
        assert_eq!(node_of("abc@host:8080"), Some("host:8080"));
        assert_eq!(node_of("abc@one@two"), Some("two"), "the last @ counts");
        assert_eq!(node_of("abc"), None, "a single node's token");
        assert_eq!(node_of("abc@"), None);
        assert_eq!(node_of("abc@no/slash"), None);
    }
}
