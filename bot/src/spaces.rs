//! The run's own spaces: made over HTTP as temporary spaces before the bots join (so a load
//! test stays out of the public list), and deleted when the run ends. A space of that name
//! that exists already is used as it is and left alone.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use plaza_net::{Client, ClientMsg, Codec, Received, ServerMsg};
use serde_json::{Value, json};

use crate::server_stats::http_request;

/// The spaces this run made, and the session whose token made them (it must stay open:
/// the token is valid while the session lasts).
pub struct RunSpaces {
    http: SocketAddr,
    token: String,
    made: Vec<(String, String)>,
    host: tokio::task::JoinHandle<()>,
}

impl RunSpaces {
    /// Connects a host guest named `name` and makes each space in `names` that does not
    /// exist yet, temporary and owned by that guest.
    pub async fn prepare(http: SocketAddr, name: &str, names: &[String]) -> anyhow::Result<Self> {
        let mut client = Client::websocket(http, Codec::Json)
            .await
            .context("the host connection (which makes the run's spaces) failed")?;
        client.send(&ClientMsg::hello(name)).await?;
        let token = loop {
            match client.next().await? {
                Received::Msg(ServerMsg::Welcome { token, .. }) => break token,
                Received::Msg(ServerMsg::Error { code, message, .. }) => {
                    bail!("the host connection was refused: {code:?}: {message}")
                }
                Received::Closed(_) => bail!("the host connection closed before its welcome"),
                Received::Msg(_) => {}
            }
        };
        // Read (and drop) whatever comes, so the session stays open and never backs up.
        let host =
            tokio::spawn(async move { while let Ok(Received::Msg(_)) = client.next().await {} });
        let mut spaces = Self {
            http,
            token,
            made: Vec::new(),
            host,
        };
        for space in names {
            let body = json!({ "name": space, "temporary": true }).to_string();
            let (status, answer) = http_request(
                http,
                "POST",
                "/api/spaces",
                Some(&spaces.token),
                Some(&body),
            )
            .await?;
            match status {
                201 => {
                    let made: Value = serde_json::from_str(&answer)
                        .context("POST /api/spaces answered something that is not JSON")?;
                    let id = made["id"]
                        .as_str()
                        .context("POST /api/spaces answered without an id")?;
                    spaces.made.push((space.clone(), id.to_owned()));
                }
                409 => {} // It exists: the bots use it, and it is not this run's to delete.
                _ => bail!(
                    "cannot make space {space:?}: POST /api/spaces answered {status} {answer}"
                ),
            }
        }
        Ok(spaces)
    }

    /// How many spaces this run made (the others existed).
    pub fn made(&self) -> usize {
        self.made.len()
    }

    /// Deletes the spaces this run made; says which could not be deleted.
    pub async fn clean_up(self) -> anyhow::Result<()> {
        let mut failed = Vec::new();
        for (name, id) in &self.made {
            let path = format!("/api/spaces/{id}");
            match http_request(self.http, "DELETE", &path, Some(&self.token), None).await {
                Ok((204 | 202, _)) => {}
                Ok((status, answer)) => failed.push(format!("{name}: {status} {answer}")),
                Err(error) => failed.push(format!("{name}: {error:#}")),
            }
        }
        self.host.abort();
        if failed.is_empty() {
            Ok(())
        } else {
            bail!(
                "the run's spaces could not all be deleted: {}",
                failed.join("; ")
            )
        }
    }
}
