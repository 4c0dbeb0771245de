//! Registration, login and logout. Passwords are hashed and checked with argon2 on the
//! blocking pool, never on the async workers; login tokens are stored only as hashes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::ApiJson;
use super::{ApiError, Caller, could_be_stored_name};
use crate::auth::{self, Account};
use crate::clock::now_ms;
use crate::clock::rfc3339;
use crate::edge::Edge;
use crate::edge::bridge::check_name;
use crate::store::accounts::{GuestClaim, Registered};

/// Name and password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    name: String,
    password: String,
}

/// A registration: name and password, and for a guest name, proof of being that guest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    name: String,
    password: String,
    /// The guest's secret (`welcome.guest_secret`); a guest's session token in
    /// `Authorization` does as well.
    #[serde(default)]
    guest_secret: Option<String>,
}

impl NewAccount {
    /// The name, checked as every name is; the password's length is checked by hashing.
    pub(super) fn checked_name(&self, config: &crate::Config) -> Result<Arc<str>, ApiError> {
        check_name("name", &self.name, config.max_name_chars)
            .map_err(|r| ApiError::bad_request(r.message))
    }
}

fn account_json(account: &Account) -> Value {
    json!({
        "user": account.id,
        "name": &*account.name,
        "registered": account.registered,
        "admin": account.admin,
    })
}

/// `POST /api/users` `{"name","password","guest_secret"}`: registers a name, or claims
/// one's own guest name (with its secret, or its session token as `Authorization`). 201
/// with the account and a login token; 409 when a registered user or another guest has it.
pub async fn register(
    State(edge): State<Arc<Edge>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !edge.config.registration_enabled {
        return Err(ApiError::forbidden(
            "registration is switched off on this server",
        ));
    }
    let name = body.checked_name(&edge.config)?;
    let password = body.password;
    // The place is held by the hashing itself, so a client that goes away frees nothing
    // early: the gate bounds hashes running, not requests waiting for them.
    let place = edge.password_hashing.enter().await?;
    let hash = tokio::task::spawn_blocking(move || {
        let _place = place;
        auth::hash_password(&password)
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hashing failed"))?
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let secret_hash = auth::secret_hash(body.guest_secret.as_deref());
    let claim = GuestClaim {
        secret_hash: secret_hash.as_ref(),
        guest: caller.0.filter(|a| !a.registered).map(|a| a.id),
    };
    match edge
        .store
        .durable
        .register(&name, &hash, claim, now_ms())
        .await?
    {
        Registered::Created(account) => {
            let login = issue_token(&edge, &account).await?;
            Ok((StatusCode::CREATED, Json(login)))
        }
        Registered::NameTaken => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{name:?} is taken: a registered user or another guest has it (a guest's own \
                 name needs its guest_secret); choose another name or log in"
            ),
        )),
    }
}

/// `POST /api/login` `{"name","password"}`: a login token for `hello` and HTTP.
pub async fn login(
    State(edge): State<Arc<Edge>>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<Value>, ApiError> {
    let wrong = || ApiError::unauthorized("wrong name or password");
    if !could_be_stored_name(&edge, &body.name) || body.password.len() > auth::MAX_PASSWORD_BYTES {
        return Err(wrong());
    }
    let found = edge.store.durable.credentials(&body.name).await?;
    // An unknown name is checked against a stand-in hash, so that the answer takes as long
    // as for a known name with a wrong password: timing does not tell which names exist.
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    let password = body.password;
    let place = edge.password_hashing.enter().await?;
    let ok = tokio::task::spawn_blocking(move || {
        let _place = place;
        let stored = stored.as_deref().unwrap_or_else(|| stand_in_hash());
        auth::verify_password(&password, stored)
    })
    .await
    .unwrap_or(false);
    match found {
        Some((account, _)) if ok => Ok(Json(issue_token(&edge, &account).await?)),
        _ => Err(wrong()),
    }
}

/// An argon2 hash of a random password, made once.
fn stand_in_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let (random, _) = auth::new_token();
        auth::hash_password(&random).unwrap_or_default()
    })
}

async fn issue_token(edge: &Edge, account: &Account) -> Result<Value, ApiError> {
    let (token, hash) = auth::new_token();
    let now = now_ms();
    let ttl_ms =
        i64::try_from(edge.config.login_token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let expires = now.saturating_add(ttl_ms);
    edge.store
        .durable
        .save_token(&hash, account.id, now, expires)
        .await?;
    let mut body = account_json(account);
    body["token"] = json!(token);
    body["expires_at"] = json!(rfc3339(expires));
    Ok(body)
}

/// `POST /api/logout`: revokes the login token presented (a session token ends with its
/// connection instead).
pub async fn logout(
    State(edge): State<Arc<Edge>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    caller.required()?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer)
        .unwrap_or_default();
    edge.store
        .durable
        .delete_token(&auth::token_hash(token))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/me`: who the token belongs to.
pub async fn me(caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(account_json(&caller.required()?)))
}
