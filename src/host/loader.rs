//! The space loader: answers the tick thread's load requests from the store, each in a task
//! of its own, and hands each answer back to the tick as an input.

use std::sync::Arc;

use plaza_systems::Input;
use tokio::sync::mpsc;

use crate::edge::Edge;
use crate::edge::conn::Envelope;

/// Answers load requests until the tick thread drops its sender.
pub(crate) async fn load_spaces(mut requests: mpsc::UnboundedReceiver<Arc<str>>, edge: Arc<Edge>) {
    while let Some(name) = requests.recv().await {
        let edge = edge.clone();
        tokio::spawn(async move {
            let result = edge.store.load_space(&name, edge.config.chat_history).await;
            let result = result.map_err(|error| {
                tracing::warn!(%error, space = %name, "cannot load space");
                error.to_string()
            });
            edge.submit(Envelope::Input(Input::SpaceLoaded { name, result }));
        });
    }
}
