//! Accounts, login tokens, spaces' access and the HTTP API's reads, in both durable stores.
//! SQLite keeps ids as text and times as Unix milliseconds; PostgreSQL uses `uuid` and
//! `timestamptz`. Every statement is parameterised.

use std::sync::Arc;

use sqlx::Row;
use uuid::Uuid;

use super::{Durable, StoreError, parse_uuid, shared};
use crate::auth::Account;

/// A space as the HTTP API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceInfo {
    /// Space id.
    pub id: Uuid,
    /// Unique name.
    pub name: Arc<str>,
    /// Free text.
    pub description: String,
    /// Whether joining needs an invitation.
    pub private: bool,
    /// Whether it is left out of the public list.
    pub temporary: bool,
    /// Creator over HTTP, if any.
    pub owner: Option<Uuid>,
    /// Objects stored.
    pub objects: u64,
}

/// Where a page of chat history starts (exclusive), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatCursor {
    /// Lines said before this time (ms since the Unix epoch).
    Time(i64),
    /// Lines older than this line.
    Line(Uuid),
}

/// The outcome of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Registered {
    /// The account, new or a guest name now claimed with a password.
    Created(Account),
    /// A registered user already has this name.
    NameTaken,
}

/// What a guest `hello` comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GuestHello {
    /// A new guest (or one from before guest secrets, claimed now): the client gets the
    /// secret whose hash was given as `fresh`.
    New(Account),
    /// The guest whose secret was presented.
    Returning(Account),
    /// The name is a registered user's: it needs a login token.
    Registered,
    /// The name is another guest's, and its secret was not presented.
    Taken,
}

/// Who asks to register a name that may be a guest's: proof of being that guest.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GuestClaim<'a> {
    /// The hash of the guest secret presented, if any.
    pub secret_hash: Option<&'a [u8; 32]>,
    /// The user of the session token presented, if any.
    pub guest: Option<Uuid>,
}

/// Role of a member of a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// May enter a private space.
    Member,
    /// Also moves and removes anyone's objects, and invites.
    Admin,
}

impl Role {
    /// The name stored in `space_members.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }
}

fn sqlite_account(row: &sqlx::sqlite::SqliteRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: parse_uuid("users", &row.try_get::<String, _>("id")?)?,
        name: shared(row.try_get("name")?),
        registered: row.try_get::<Option<String>, _>("password_hash")?.is_some(),
        admin: row.try_get::<i64, _>("is_admin")? != 0,
    })
}

fn pg_account(row: &sqlx::postgres::PgRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.try_get("id")?,
        name: shared(row.try_get("name")?),
        registered: !row.try_get::<bool, _>("is_guest")?,
        admin: row.try_get("is_admin")?,
    })
}

impl Durable {
    /// A guest `hello` under `name`. A new name becomes a guest whose secret hash is
    /// `fresh`; an existing guest is returned only to the holder of its secret
    /// (`presented`, the hash of the secret the client sent). A guest from before guest
    /// secrets (or an imported one) has none: the first `hello` claims it with `fresh`.
    pub(crate) async fn guest_hello(
        &self,
        name: &str,
        presented: Option<&[u8; 32]>,
        fresh: &[u8; 32],
        now_ms: i64,
    ) -> Result<GuestHello, StoreError> {
        let presented = presented.map(|h| h.as_slice());
        let found = match self {
            Durable::Sqlite(s) => sqlx::query(
                "INSERT INTO users (id, name, created_at, last_seen_at, guest_secret_hash)
                     VALUES (?1, ?2, ?3, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET
                     last_seen_at = excluded.last_seen_at,
                     guest_secret_hash = coalesce(users.guest_secret_hash, excluded.guest_secret_hash)
                 WHERE users.password_hash IS NULL
                   AND (users.guest_secret_hash IS NULL OR users.guest_secret_hash = ?5)
                 RETURNING id, name, password_hash, is_admin, guest_secret_hash = ?4 AS fresh",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(name)
            .bind(now_ms)
            .bind(fresh.as_slice())
            .bind(presented)
            .fetch_optional(s.pool())
            .await?
            .map(|row| Ok::<_, StoreError>((sqlite_account(&row)?, row.try_get::<bool, _>("fresh")?)))
            .transpose()?,
            Durable::Postgres(p) => sqlx::query(
                "INSERT INTO users (id, name, last_seen_at, guest_secret_hash)
                     VALUES ($1, $2, now(), $3)
                 ON CONFLICT (name) DO UPDATE SET
                     last_seen_at = now(),
                     guest_secret_hash = coalesce(users.guest_secret_hash, EXCLUDED.guest_secret_hash)
                 WHERE users.password_hash IS NULL
                   AND (users.guest_secret_hash IS NULL OR users.guest_secret_hash = $4)
                 RETURNING id, name, is_guest, is_admin, guest_secret_hash = $3 AS fresh",
            )
            .bind(Uuid::new_v4())
            .bind(name)
            .bind(fresh.as_slice())
            .bind(presented)
            .fetch_optional(p.pool())
            .await?
            .map(|row| Ok::<_, StoreError>((pg_account(&row)?, row.try_get::<bool, _>("fresh")?)))
            .transpose()?,
        };
        Ok(match found {
            Some((account, true)) => GuestHello::New(account),
            Some((account, false)) => GuestHello::Returning(account),
            None if self.credentials(name).await?.is_some() => GuestHello::Registered,
            None => GuestHello::Taken,
        })
    }

    /// Registers `name` with a password hash. A guest name is claimed (its objects stay
    /// its own) only by that guest: the holder of its secret (`claim.secret_hash`) or of one
    /// of its sessions (`claim.guest`); a guest from before guest secrets by anyone. A
    /// registered name, or another's guest, is refused.
    pub(crate) async fn register(
        &self,
        name: &str,
        password_hash: &str,
        claim: GuestClaim<'_>,
        now_ms: i64,
    ) -> Result<Registered, StoreError> {
        let secret = claim.secret_hash.map(|h| h.as_slice());
        let account = match self {
            Durable::Sqlite(s) => sqlx::query(
                "INSERT INTO users (id, name, created_at, password_hash) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET
                     password_hash = excluded.password_hash, guest_secret_hash = NULL
                 WHERE users.password_hash IS NULL
                   AND (users.guest_secret_hash IS NULL OR users.guest_secret_hash = ?5
                        OR users.id = ?6)
                 RETURNING id, name, password_hash, is_admin",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(name)
            .bind(now_ms)
            .bind(password_hash)
            .bind(secret)
            .bind(claim.guest.map(|g| g.to_string()))
            .fetch_optional(s.pool())
            .await?
            .map(|row| sqlite_account(&row))
            .transpose()?,
            Durable::Postgres(p) => sqlx::query(
                "INSERT INTO users (id, name, password_hash, is_guest) VALUES ($1, $2, $3, false)
                 ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash,
                                                  is_guest = false, guest_secret_hash = NULL
                 WHERE users.password_hash IS NULL
                   AND (users.guest_secret_hash IS NULL OR users.guest_secret_hash = $4
                        OR users.id = $5)
                 RETURNING id, name, is_guest, is_admin",
            )
            .bind(Uuid::new_v4())
            .bind(name)
            .bind(password_hash)
            .bind(secret)
            .bind(claim.guest)
            .fetch_optional(p.pool())
            .await?
            .map(|row| pg_account(&row))
            .transpose()?,
        };
        Ok(account.map_or(Registered::NameTaken, Registered::Created))
    }

    /// A registered user's account and password hash.
    pub(crate) async fn credentials(
        &self,
        name: &str,
    ) -> Result<Option<(Account, String)>, StoreError> {
        Ok(match self {
            Durable::Sqlite(s) => {
                let row = sqlx::query(
                    "SELECT id, name, password_hash, is_admin FROM users
                     WHERE name = ?1 AND password_hash IS NOT NULL",
                )
                .bind(name)
                .fetch_optional(s.pool())
                .await?;
                match row {
                    Some(row) => Some((sqlite_account(&row)?, row.try_get("password_hash")?)),
                    None => None,
                }
            }
            Durable::Postgres(p) => {
                let row = sqlx::query(
                    "SELECT id, name, is_guest, is_admin, password_hash FROM users
                     WHERE name = $1 AND password_hash IS NOT NULL",
                )
                .bind(name)
                .fetch_optional(p.pool())
                .await?;
                match row {
                    Some(row) => Some((pg_account(&row)?, row.try_get("password_hash")?)),
                    None => None,
                }
            }
        })
    }

    /// Makes a user a server admin (or not); false if there is no such user.
    pub(crate) async fn set_admin(&self, name: &str, admin: bool) -> Result<bool, StoreError> {
        let rows = match self {
            Durable::Sqlite(s) => sqlx::query("UPDATE users SET is_admin = ?2 WHERE name = ?1")
                .bind(name)
                .bind(i64::from(admin))
                .execute(s.pool())
                .await?
                .rows_affected(),
            Durable::Postgres(p) => sqlx::query("UPDATE users SET is_admin = $2 WHERE name = $1")
                .bind(name)
                .bind(admin)
                .execute(p.pool())
                .await?
                .rows_affected(),
        };
        Ok(rows > 0)
    }

    /// Stores a login token's hash until `expires_ms`.
    pub(crate) async fn save_token(
        &self,
        hash: &[u8; 32],
        user: Uuid,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        match self {
            Durable::Sqlite(s) => {
                sqlx::query(
                    "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(&hash[..])
                .bind(user.to_string())
                .bind(now_ms)
                .bind(expires_ms)
                .execute(s.pool())
                .await?;
            }
            Durable::Postgres(p) => {
                sqlx::query(
                    "INSERT INTO auth_tokens (token_hash, user_id, expires_at)
                     VALUES ($1, $2, to_timestamp($3::float8 / 1000))",
                )
                .bind(&hash[..])
                .bind(user)
                .bind(expires_ms)
                .execute(p.pool())
                .await?;
            }
        }
        Ok(())
    }

    /// The account of an unexpired login token.
    pub(crate) async fn token_account(
        &self,
        hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<Account>, StoreError> {
        Ok(match self {
            Durable::Sqlite(s) => sqlx::query(
                "SELECT u.id, u.name, u.password_hash, u.is_admin
                 FROM auth_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1 AND t.expires_at > ?2",
            )
            .bind(&hash[..])
            .bind(now_ms)
            .fetch_optional(s.pool())
            .await?
            .map(|row| sqlite_account(&row))
            .transpose()?,
            Durable::Postgres(p) => sqlx::query(
                "SELECT u.id, u.name, u.is_guest, u.is_admin
                 FROM auth_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND t.expires_at > now()",
            )
            .bind(&hash[..])
            .fetch_optional(p.pool())
            .await?
            .map(|row| pg_account(&row))
            .transpose()?,
        })
    }

    /// Revokes a login token.
    pub(crate) async fn delete_token(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        match self {
            Durable::Sqlite(s) => {
                sqlx::query("DELETE FROM auth_tokens WHERE token_hash = ?1")
                    .bind(&hash[..])
                    .execute(s.pool())
                    .await?;
            }
            Durable::Postgres(p) => {
                sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
                    .bind(&hash[..])
                    .execute(p.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// A user's id by name.
    pub async fn user_id(&self, name: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(match self {
            Durable::Sqlite(s) => {
                let id: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE name = ?1")
                    .bind(name)
                    .fetch_optional(s.pool())
                    .await?;
                id.map(|id| parse_uuid("users", &id)).transpose()?
            }
            Durable::Postgres(p) => {
                sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
                    .bind(name)
                    .fetch_optional(p.pool())
                    .await?
            }
        })
    }

    /// Closes sessions (and screen shares) left open by an earlier run (no connection
    /// survives a restart) and returns how many sessions.
    pub(crate) async fn close_open_sessions(
        &self,
        now_ms: i64,
        reason: &str,
    ) -> Result<u64, StoreError> {
        match self {
            Durable::Sqlite(s) => {
                sqlx::query(
                    "UPDATE screen_shares SET ended_at = max(?1, started_at) WHERE ended_at IS NULL",
                )
                .bind(now_ms)
                .execute(s.pool())
                .await?;
            }
            Durable::Postgres(p) => {
                sqlx::query(
                    "UPDATE screen_shares SET ended_at = greatest(now(), started_at)
                     WHERE ended_at IS NULL",
                )
                .execute(p.pool())
                .await?;
            }
        }
        Ok(match self {
            Durable::Sqlite(s) => sqlx::query(
                "UPDATE sessions SET ended_at = max(?1, started_at), end_reason = ?2
                 WHERE ended_at IS NULL",
            )
            .bind(now_ms)
            .bind(reason)
            .execute(s.pool())
            .await?
            .rows_affected(),
            Durable::Postgres(p) => sqlx::query(
                "UPDATE sessions SET ended_at = greatest(now(), started_at), end_reason = $1
                 WHERE ended_at IS NULL",
            )
            .bind(reason)
            .execute(p.pool())
            .await?
            .rows_affected(),
        })
    }
}
