//! Spaces over HTTP: listing, creating with an owner, membership of private spaces, access
//! for the world, and pages of chat history. Both durable stores, parameterised SQL only.

use std::collections::HashSet;

use plaza_systems::{ChatLine, SpaceAccess};
use sqlx::Row;
use uuid::Uuid;

use super::accounts::{ChatCursor, Role, SpaceInfo};
use super::{Durable, SpaceHeader, StoreError, parse_uuid, shared};

/// A space to create (see [`Durable::ensure_space`]).
#[derive(Debug, Clone)]
pub struct NewSpace<'a> {
    /// Preferred id (another is used if this one is taken).
    pub id: Uuid,
    /// Unique name.
    pub name: &'a str,
    /// Free text.
    pub description: &'a str,
    /// Whether joining needs an invitation.
    pub private: bool,
    /// Whether it is left out of the public list (a load test's, a demo's).
    pub temporary: bool,
    /// Creator, if any.
    pub owner: Option<Uuid>,
    /// Now, ms since the Unix epoch.
    pub now_ms: i64,
}

impl<'a> NewSpace<'a> {
    /// A public space without owner or description, as a world join makes it.
    pub fn public(name: &'a str, now_ms: i64) -> Self {
        Self {
            id: Uuid::now_v7(),
            name,
            description: "",
            private: false,
            temporary: false,
            owner: None,
            now_ms,
        }
    }
}

const SQLITE_CHAT_LATEST: &str = "
SELECT id, user_id, user_name, text, created_at FROM chat_messages
WHERE space_id = ?1
ORDER BY created_at DESC, id DESC LIMIT ?2";

/// Text ids sort above '': `(t, '')` excludes every line of time `t`.
const SQLITE_CHAT_BEFORE_TIME: &str = "
SELECT id, user_id, user_name, text, created_at FROM chat_messages
WHERE space_id = ?1 AND (created_at, id) < (?3, '')
ORDER BY created_at DESC, id DESC LIMIT ?2";

const SQLITE_CHAT_BEFORE_LINE: &str = "
SELECT id, user_id, user_name, text, created_at FROM chat_messages
WHERE space_id = ?1
  AND (created_at, id) < (SELECT created_at, id FROM chat_messages WHERE id = ?3 AND space_id = ?1)
ORDER BY created_at DESC, id DESC LIMIT ?2";

const PG_CHAT_LATEST: &str = "
SELECT id, user_id, user_name, text, (extract(epoch FROM created_at) * 1000)::int8 AS at_ms
FROM chat_messages WHERE space_id = $1
ORDER BY created_at DESC, id DESC LIMIT $2";

/// The nil uuid is the smallest: `(t, nil)` excludes every line of time `t`.
const PG_CHAT_BEFORE_TIME: &str = "
SELECT id, user_id, user_name, text, (extract(epoch FROM created_at) * 1000)::int8 AS at_ms
FROM chat_messages
WHERE space_id = $1
  AND (created_at, id) < (to_timestamp($3::float8 / 1000), '00000000-0000-0000-0000-000000000000'::uuid)
ORDER BY created_at DESC, id DESC LIMIT $2";

const PG_CHAT_BEFORE_LINE: &str = "
SELECT id, user_id, user_name, text, (extract(epoch FROM created_at) * 1000)::int8 AS at_ms
FROM chat_messages
WHERE space_id = $1
  AND (created_at, id) < (SELECT created_at, id FROM chat_messages WHERE id = $3 AND space_id = $1)
ORDER BY created_at DESC, id DESC LIMIT $2";

/// The space columns the API shows, followed by `$rest` (the same text serves both stores;
/// SQL must be a literal, so this is a macro).
macro_rules! space_info_sql {
    ($rest:literal) => {
        concat!(
            "SELECT s.id, s.name, s.description, s.is_private, s.is_temporary, s.owner_id,
                    (SELECT count(*) FROM world_objects o WHERE o.space_id = s.id) AS objects
             FROM spaces s ",
            $rest
        )
    };
}

fn sqlite_info(row: &sqlx::sqlite::SqliteRow) -> Result<SpaceInfo, StoreError> {
    let owner: Option<String> = row.try_get("owner_id")?;
    Ok(SpaceInfo {
        id: parse_uuid("spaces", &row.try_get::<String, _>("id")?)?,
        name: shared(row.try_get("name")?),
        description: row.try_get("description")?,
        private: row.try_get::<i64, _>("is_private")? != 0,
        temporary: row.try_get::<i64, _>("is_temporary")? != 0,
        owner: owner.map(|o| parse_uuid("spaces", &o)).transpose()?,
        objects: u64::try_from(row.try_get::<i64, _>("objects")?).unwrap_or(0),
    })
}

fn pg_info(row: &sqlx::postgres::PgRow) -> Result<SpaceInfo, StoreError> {
    Ok(SpaceInfo {
        id: row.try_get("id")?,
        name: shared(row.try_get("name")?),
        description: row.try_get("description")?,
        private: row.try_get("is_private")?,
        temporary: row.try_get("is_temporary")?,
        owner: row.try_get("owner_id")?,
        objects: u64::try_from(row.try_get::<i64, _>("objects")?).unwrap_or(0),
    })
}

impl Durable {
    /// Spaces by name, at most `limit`: only public, lasting ones, or (for admins) every one.
    pub async fn spaces(
        &self,
        public_only: bool,
        limit: usize,
    ) -> Result<Vec<SpaceInfo>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match self {
            Durable::Sqlite(s) => sqlx::query(space_info_sql!(
                "WHERE (?1 = 0 OR (s.is_private = 0 AND s.is_temporary = 0)) ORDER BY s.name LIMIT ?2"
            ))
            .bind(i64::from(public_only))
            .bind(limit)
            .fetch_all(s.pool())
            .await?
            .iter()
            .map(sqlite_info)
            .collect(),
            Durable::Postgres(p) => sqlx::query(space_info_sql!(
                "WHERE NOT ($1 AND (s.is_private OR s.is_temporary)) ORDER BY s.name LIMIT $2"
            ))
            .bind(public_only)
            .bind(limit)
            .fetch_all(p.pool())
            .await?
            .iter()
            .map(pg_info)
            .collect(),
        }
    }

    /// How many temporary spaces `owner` owns.
    pub(crate) async fn temporary_spaces_of(&self, owner: Uuid) -> Result<u64, StoreError> {
        let count: i64 = match self {
            Durable::Sqlite(s) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM spaces WHERE owner_id = ?1 AND is_temporary = 1",
                )
                .bind(owner.to_string())
                .fetch_one(s.pool())
                .await?
            }
            Durable::Postgres(p) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM spaces WHERE owner_id = $1 AND is_temporary",
                )
                .bind(owner)
                .fetch_one(p.pool())
                .await?
            }
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// One space by id.
    pub(crate) async fn space_info(&self, id: Uuid) -> Result<Option<SpaceInfo>, StoreError> {
        match self {
            Durable::Sqlite(s) => sqlx::query(space_info_sql!("WHERE s.id = ?1"))
                .bind(id.to_string())
                .fetch_optional(s.pool())
                .await?
                .map(|row| sqlite_info(&row))
                .transpose(),
            Durable::Postgres(p) => sqlx::query(space_info_sql!("WHERE s.id = $1"))
                .bind(id)
                .fetch_optional(p.pool())
                .await?
                .map(|row| pg_info(&row))
                .transpose(),
        }
    }

    /// Creates the space `new.name` unless a space of that name exists, and returns its
    /// row and whether this call created it. This is the one path by which spaces are made,
    /// whatever asks (a world join, `POST /api/spaces`, an import): two callers racing for a
    /// name both get the same row, so the world never holds a space id the store lacks.
    /// `new.id` is kept if free, else a new id is used.
    pub async fn ensure_space(
        &self,
        new: &NewSpace<'_>,
    ) -> Result<(SpaceHeader, bool), StoreError> {
        let mut id = new.id;
        loop {
            let inserted = match self {
                Durable::Sqlite(s) => sqlx::query(
                    "INSERT INTO spaces (id, name, description, is_private, is_temporary, owner_id, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                )
                .bind(id.to_string())
                .bind(new.name)
                .bind(new.description)
                .bind(i64::from(new.private))
                .bind(i64::from(new.temporary))
                .bind(new.owner.map(|o| o.to_string()))
                .bind(new.now_ms)
                .execute(s.pool())
                .await?
                .rows_affected(),
                Durable::Postgres(p) => sqlx::query(
                    "INSERT INTO spaces (id, name, description, is_private, is_temporary, owner_id)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(new.name)
                .bind(new.description)
                .bind(new.private)
                .bind(new.temporary)
                .bind(new.owner)
                .execute(p.pool())
                .await?
                .rows_affected(),
            };
            if let Some(header) = self.space_header(new.name).await? {
                return Ok((header, inserted == 1));
            }
            // Nothing has the name, so the id was taken (by another name): try a new one.
            id = Uuid::now_v7();
        }
    }

    /// Makes `user` a member (or admin) of a space, or removes them with `None`.
    pub(crate) async fn set_member(
        &self,
        space: Uuid,
        user: Uuid,
        role: Option<Role>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        match (self, role) {
            (Durable::Sqlite(s), Some(role)) => {
                sqlx::query(
                    "INSERT INTO space_members (space_id, user_id, role, created_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (space_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(space.to_string())
                .bind(user.to_string())
                .bind(role.as_str())
                .bind(now_ms)
                .execute(s.pool())
                .await?;
            }
            (Durable::Sqlite(s), None) => {
                sqlx::query("DELETE FROM space_members WHERE space_id = ?1 AND user_id = ?2")
                    .bind(space.to_string())
                    .bind(user.to_string())
                    .execute(s.pool())
                    .await?;
            }
            (Durable::Postgres(p), Some(role)) => {
                sqlx::query(
                    "INSERT INTO space_members (space_id, user_id, role) VALUES ($1, $2, $3)
                     ON CONFLICT (space_id, user_id) DO UPDATE SET role = EXCLUDED.role",
                )
                .bind(space)
                .bind(user)
                .bind(role.as_str())
                .execute(p.pool())
                .await?;
            }
            (Durable::Postgres(p), None) => {
                sqlx::query("DELETE FROM space_members WHERE space_id = $1 AND user_id = $2")
                    .bind(space)
                    .bind(user)
                    .execute(p.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// Who may enter a space and who administers it.
    pub(crate) async fn space_access(&self, space: Uuid) -> Result<SpaceAccess, StoreError> {
        let mut access = SpaceAccess::default();
        let members: Vec<(Uuid, String)> = match self {
            Durable::Sqlite(s) => {
                let pool = s.pool();
                if let Some(row) =
                    sqlx::query("SELECT is_private, owner_id FROM spaces WHERE id = ?1")
                        .bind(space.to_string())
                        .fetch_optional(pool)
                        .await?
                {
                    access.private = row.try_get::<i64, _>("is_private")? != 0;
                    let owner: Option<String> = row.try_get("owner_id")?;
                    access.owner = owner.map(|o| parse_uuid("spaces", &o)).transpose()?;
                }
                sqlx::query("SELECT user_id, role FROM space_members WHERE space_id = ?1")
                    .bind(space.to_string())
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|row| {
                        let user = parse_uuid("space_members", &row.try_get::<String, _>(0)?)?;
                        Ok((user, row.try_get(1)?))
                    })
                    .collect::<Result<_, StoreError>>()?
            }
            Durable::Postgres(p) => {
                let pool = p.pool();
                if let Some(row) =
                    sqlx::query("SELECT is_private, owner_id FROM spaces WHERE id = $1")
                        .bind(space)
                        .fetch_optional(pool)
                        .await?
                {
                    access.private = row.try_get("is_private")?;
                    access.owner = row.try_get("owner_id")?;
                }
                sqlx::query("SELECT user_id, role FROM space_members WHERE space_id = $1")
                    .bind(space)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<_, StoreError>>()?
            }
        };
        let (admins, members): (Vec<_>, Vec<_>) =
            members.into_iter().partition(|(_, role)| role == "admin");
        access.admins = admins.into_iter().map(|(u, _)| u).collect::<HashSet<_>>();
        access.members = members.into_iter().map(|(u, _)| u).collect::<HashSet<_>>();
        Ok(access)
    }

    /// Up to `limit` chat lines of a space older than `before`, newest first. Each cursor
    /// kind is its own statement, a range search on (space, time, id): measured, one
    /// statement with `? IS NULL OR ...` made SQLite read the whole space and sort it
    /// (4.7 ms for a page of a 100k-line space; docs/benchmarks.md).
    pub async fn chat_page(
        &self,
        space: Uuid,
        before: Option<ChatCursor>,
        limit: usize,
    ) -> Result<Vec<ChatLine>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match self {
            Durable::Sqlite(s) => {
                let query = sqlx::query(match before {
                    None => SQLITE_CHAT_LATEST,
                    Some(ChatCursor::Time(_)) => SQLITE_CHAT_BEFORE_TIME,
                    Some(ChatCursor::Line(_)) => SQLITE_CHAT_BEFORE_LINE,
                })
                .bind(space.to_string())
                .bind(limit);
                let query = match before {
                    None => query,
                    Some(ChatCursor::Time(ms)) => query.bind(ms),
                    Some(ChatCursor::Line(id)) => query.bind(id.to_string()),
                };
                let rows = query.fetch_all(s.pool()).await?;
                rows.iter()
                    .map(|row| super::sqlite::chat_from_row(row, space))
                    .collect()
            }
            Durable::Postgres(p) => {
                let query = match before {
                    None => sqlx::query(PG_CHAT_LATEST).bind(space).bind(limit),
                    Some(ChatCursor::Time(ms)) => sqlx::query(PG_CHAT_BEFORE_TIME)
                        .bind(space)
                        .bind(limit)
                        .bind(ms),
                    Some(ChatCursor::Line(id)) => sqlx::query(PG_CHAT_BEFORE_LINE)
                        .bind(space)
                        .bind(limit)
                        .bind(id),
                };
                let rows = query.fetch_all(p.pool()).await?;
                rows.iter()
                    .map(|row| super::postgres::chat_from_row(row, space))
                    .collect()
            }
        }
    }
}
