//! Configuration values that must never be printed: tokens and keys, and URLs that may hold
//! a password.

use serde::{Deserialize, Serialize};

/// A secret string (token, key): printed as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself (the `plaza` command sends it to a node). Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A URL that may hold a password: shown as `postgres://…@host/db`-style text with the
/// credentials removed whenever it is printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for connecting. Do not log it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without user and password, safe to log.
    pub(crate) fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "<invalid url>".into();
        };
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let host = host.split_once('?').map_or(host, |(host, _)| host);
        format!("{scheme}://{host}")
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}
