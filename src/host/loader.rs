//! The space loader: answers the tick thread's load requests from the store, each in a task
//! of its own, and hands each answer back to the tick as an input. In a cluster it first
//! places the space: claimed and loaded here, or the joiners are sent to its owner.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use plaza_systems::Input;
use tokio::sync::mpsc;

use crate::cluster::placement::Placement;
use crate::edge::Edge;
use crate::edge::conn::Envelope;

/// Answers load requests until the tick thread drops its sender.
pub(crate) async fn load_spaces(mut requests: mpsc::UnboundedReceiver<Arc<str>>, edge: Arc<Edge>) {
    while let Some(name) = requests.recv().await {
        let edge = edge.clone();
        tokio::spawn(async move {
            let input = load(&edge, name).await;
            edge.submit(Envelope::Input(input));
        });
    }
}

/// The answer to one load request.
async fn load(edge: &Edge, name: Arc<str>) -> Input {
    let chat = edge.config.chat_history;
    let result = match &edge.cluster {
        None => edge
            .store
            .load_space(&name, chat)
            .await
            .map_err(|e| e.to_string()),
        Some(cluster) => {
            let sessions = edge.telemetry.sessions.load(Ordering::Relaxed);
            match cluster.place(&edge.store, &name, chat, sessions).await {
                Ok(Placement::Here(space)) => Ok(space),
                Ok(Placement::Elsewhere(to)) => return Input::SpaceElsewhere { name, to },
                Err(error) => Err(error.to_string()),
            }
        }
    };
    if let Err(error) = &result {
        tracing::warn!(%error, space = %name, "cannot load space");
    }
    Input::SpaceLoaded { name, result }
}
