//! Asking the other live nodes of the cluster through their HTTP API, for views that only
//! each node holds (the sessions connected to it): one GET per node, each with a timeout
//! and a size limit, so a slow or hostile peer costs a bounded wait and bounded memory.

use std::time::Duration;

use serde_json::Value;

/// How long one node has to answer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read from one node (a node's session list at `max_connections`
/// 10,000 is about 4 MiB).
pub const MAX_PEER_ANSWER: usize = 16 << 20;

/// Why a node's answer is missing from a cluster-wide view.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The node could not be reached, or did not answer within [`PEER_TIMEOUT`].
    #[error("no answer within {PEER_TIMEOUT:?}: {0}")]
    Unreachable(String),
    /// The node answered with an error; 401 means its `admin_token` differs from this
    /// node's (every node of a cluster needs the same one).
    #[error("it answered {status}: {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// Its answer was larger than [`MAX_PEER_ANSWER`].
    #[error("its answer exceeds {MAX_PEER_ANSWER} bytes")]
    TooLarge,
    /// Its answer was not JSON.
    #[error("its answer is not JSON: {0}")]
    NotJson(String),
}

/// An HTTP client for peers: plain HTTP (nodes advertise `http://` URLs), no proxies from
/// the environment, every request bounded by [`PEER_TIMEOUT`].
pub fn client() -> reqwest::Client {
    // reqwest is built without a TLS provider of its own; peers speak plain HTTP, but the
    // client still wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(PEER_TIMEOUT)
        .connect_timeout(PEER_TIMEOUT)
        .no_proxy()
        .build()
        .expect("an HTTP client with a timeout and no proxy builds")
}

/// `GET url` with the admin token; the JSON it answers.
pub async fn get_admin_json(
    http: &reqwest::Client,
    url: &str,
    admin_token: &str,
) -> Result<Value, PeerError> {
    read_json(http.get(url).bearer_auth(admin_token)).await
}

/// `POST url` of `body` with a bearer token, within `timeout`; the JSON it answers.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    bearer: &str,
    body: &Value,
    timeout: Duration,
) -> Result<Value, PeerError> {
    let request = http
        .post(url)
        .bearer_auth(bearer)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .timeout(timeout);
    read_json(request).await
}

/// Sends `request` and reads its answer, at most [`MAX_PEER_ANSWER`] bytes of JSON.
async fn read_json(request: reqwest::RequestBuilder) -> Result<Value, PeerError> {
    let unreachable = |e: reqwest::Error| PeerError::Unreachable(e.without_url().to_string());
    let mut response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_PEER_ANSWER {
            return Err(PeerError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(PeerError::Refused {
            status: status.as_u16(),
            body: text,
        });
    }
    serde_json::from_slice(&body).map_err(|e| PeerError::NotJson(e.to_string()))
}
