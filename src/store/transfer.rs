//! The store side of export and import: users by id, and creating or deleting a space with
//! a given id. Both durable stores, parameterised SQL only.

use uuid::Uuid;

use super::{Durable, StoreError};

impl Durable {
    /// The name of a user.
    pub(crate) async fn user_name(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(match self {
            Durable::Sqlite(s) => {
                sqlx::query_scalar("SELECT name FROM users WHERE id = ?1")
                    .bind(id.to_string())
                    .fetch_optional(s.pool())
                    .await?
            }
            Durable::Postgres(p) => {
                sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(p.pool())
                    .await?
            }
        })
    }

    /// The id under which user `name` exists here, creating them as a guest with `id` if
    /// there is no such name (or with a fresh id, should `id` be taken by another name).
    pub async fn ensure_user(&self, id: Uuid, name: &str, now_ms: i64) -> Result<Uuid, StoreError> {
        if let Some(existing) = self.user_id(name).await? {
            return Ok(existing);
        }
        for candidate in [id, Uuid::new_v4()] {
            let inserted = match self {
                Durable::Sqlite(s) => sqlx::query(
                    "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                )
                .bind(candidate.to_string())
                .bind(name)
                .bind(now_ms)
                .execute(s.pool())
                .await?
                .rows_affected(),
                Durable::Postgres(p) => sqlx::query(
                    "INSERT INTO users (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(candidate)
                .bind(name)
                .execute(p.pool())
                .await?
                .rows_affected(),
            };
            if inserted == 1 {
                return Ok(candidate);
            }
            if let Some(existing) = self.user_id(name).await? {
                return Ok(existing);
            }
        }
        Err(StoreError::Corrupt {
            table: "users",
            detail: format!("could not create user {name:?}"),
        })
    }

    /// Deletes a space with its objects, chat and members (cascading).
    pub(crate) async fn delete_space(&self, id: Uuid) -> Result<(), StoreError> {
        match self {
            Durable::Sqlite(s) => {
                sqlx::query("DELETE FROM spaces WHERE id = ?1")
                    .bind(id.to_string())
                    .execute(s.pool())
                    .await?;
            }
            Durable::Postgres(p) => {
                sqlx::query("DELETE FROM spaces WHERE id = $1")
                    .bind(id)
                    .execute(p.pool())
                    .await?;
            }
        }
        Ok(())
    }
}
