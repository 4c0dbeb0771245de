//! Accounts and tokens: argon2 password hashes, and random bearer tokens kept only as their
//! SHA-256. A leaf, used by the edge (hello) and the HTTP API alike.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use uuid::Uuid;

/// Shortest password accepted at registration.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (argon2 hashes any length; this bounds the work per request).
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest bearer token read from a request or `hello`.
pub(crate) const MAX_TOKEN_BYTES: usize = 128;

/// A user as the server acts for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// User id.
    pub id: Uuid,
    /// Unique name.
    pub name: Arc<str>,
    /// Registered (has a password) rather than a guest.
    pub registered: bool,
    /// Administers the whole server.
    pub admin: bool,
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password is outside the accepted length.
    #[error("passwords must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_BYTES} bytes long")]
    PasswordLength,
    /// argon2 failed (it does not for valid parameters; reported rather than unwrapped).
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// Hashes a password with argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::PasswordLength);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string (argon2 compares in constant time).
pub fn verify_password(password: &str, stored: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A new random token (64 hex characters) and the hash it is stored and looked up by.
pub(crate) fn new_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the operating system's random source is available");
    let text = crate::digest::hex(&bytes);
    let hash = token_hash(&text);
    (text, hash)
}

/// The SHA-256 a token is stored and looked up by. Lookups go by this hash, so comparing
/// candidates never touches the secret itself.
pub fn token_hash(token: &str) -> [u8; 32] {
    crate::digest::sha256(token.as_bytes())
}

/// The hash a presented secret (a guest secret) is looked up by, if it is one at all:
/// empty or overlong text is no secret.
pub(crate) fn secret_hash(presented: Option<&str>) -> Option<[u8; 32]> {
    presented
        .filter(|s| !s.is_empty() && s.len() <= MAX_TOKEN_BYTES)
        .map(token_hash)
}

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token in an `Authorization: Bearer ...` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_BYTES)
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let stored = hash_password("correct horse").expect("hashes");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &stored));
        assert!(!verify_password("correct horsE", &stored));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(matches!(
            hash_password("short"),
            Err(AuthError::PasswordLength)
        ));
    }

    #[test]
    fn tokens_are_random_and_looked_up_by_hash() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a), hash_a);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(bearer("Bearer xyz"), Some("xyz"));
        assert_eq!(bearer("bearer  xyz "), Some("xyz"));
        assert_eq!(bearer("Basic xyz"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
