//! Spaces over HTTP: the public list, one space, creating a space with an owner, inviting
//! people to private spaces, and pages of chat history. People online come from the
//! world's published directory; everything else from the durable store.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use plaza_systems::{Input, SpaceAccess};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::{ApiError, Caller, could_be_stored_name};
use crate::auth::Account;
use crate::clock::now_ms;
use crate::clock::rfc3339;
use crate::edge::Edge;
use crate::edge::bridge::check_name;
use crate::edge::conn::Envelope;
use crate::host::directory::LiveSpace;
use crate::store::NewSpace;
use crate::store::accounts::{ChatCursor, Role, SpaceInfo};

/// Most spaces in one listing.
const MAX_LIST: usize = 500;
/// Most chat lines in one page.
const MAX_CHAT_PAGE: usize = 200;

/// How many (`?limit=`).
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
}

/// A space as listed: `live` if this node simulates it, `elsewhere` if another node does;
/// `node` is the simulating node's id (in a cluster).
fn space_json(
    edge: &Edge,
    info: &SpaceInfo,
    live: Option<&LiveSpace>,
    elsewhere: Option<&Elsewhere>,
) -> Value {
    let here = edge.cluster.as_ref().map(|c| &*c.node);
    let people: Vec<&str> = match (live, elsewhere) {
        (Some(l), _) => l.people.iter().map(|p| &*p.name).collect(),
        (None, Some(e)) => e.people.iter().map(String::as_str).collect(),
        (None, None) => Vec::new(),
    };
    json!({
        "id": info.id,
        "name": &*info.name,
        "description": info.description,
        "private": info.private,
        "temporary": info.temporary,
        "owner": info.owner,
        "people_online": people.len(),
        "people": people,
        "objects": live.map_or(info.objects, |l| l.objects as u64),
        "loaded": live.is_some() || elsewhere.is_some(),
        "node": elsewhere.map(|e| e.node.as_str()).or(live.and(here)),
    })
}

/// A space another node of the cluster simulates: which, and who is in it by the presence
/// that node publishes in Redis.
#[derive(Debug)]
struct Elsewhere {
    node: String,
    people: Vec<String>,
}

/// `GET /api/spaces`: public spaces by name, with people online and objects.
pub async fn list(
    State(edge): State<Arc<Edge>>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIST);
    Ok(Json(listing(&edge, true, limit).await?))
}

/// `{"spaces": [...]}`: spaces from the store with who is in them now (in a cluster, on
/// whichever node simulates them).
pub(super) async fn listing(
    edge: &Edge,
    public_only: bool,
    limit: usize,
) -> Result<Value, ApiError> {
    let spaces = edge.store.durable.spaces(public_only, limit).await?;
    let directory = &edge.directory;
    let elsewhere = elsewhere(edge, &spaces).await;
    let spaces: Vec<Value> = spaces
        .iter()
        .map(|info| {
            let live = directory.get(info.id);
            space_json(edge, info, live.as_ref(), elsewhere.get(&info.id))
        })
        .collect();
    Ok(json!({ "spaces": spaces }))
}

/// The spaces of `spaces` that other nodes simulate, with their people; empty outside a
/// cluster, and (logged) when the cluster's state cannot be read: the listing still works.
async fn elsewhere(
    edge: &Edge,
    spaces: &[SpaceInfo],
) -> std::collections::HashMap<Uuid, Elsewhere> {
    let mut found = std::collections::HashMap::new();
    let Some(cluster) = &edge.cluster else {
        return found;
    };
    let listed: std::collections::HashSet<Uuid> = spaces.iter().map(|s| s.id).collect();
    let owners = match cluster.store.owners().await {
        Ok(owners) => owners,
        Err(error) => {
            tracing::warn!(%error, "cannot read the cluster's owners for a space listing");
            return found;
        }
    };
    let remote: Vec<(Uuid, String)> = owners
        .into_iter()
        .filter(|o| o.node != *cluster.node && listed.contains(&o.space))
        .map(|o| (o.space, o.node))
        .collect();
    let ids: Vec<Uuid> = remote.iter().map(|(id, _)| *id).collect();
    let people = match &edge.store.snapshots {
        Some(redis) => redis.presence(&ids).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read presence from redis for a space listing");
            vec![Vec::new(); ids.len()]
        }),
        None => vec![Vec::new(); ids.len()],
    };
    for ((space, node), people) in remote.into_iter().zip(people) {
        found.insert(space, Elsewhere { node, people });
    }
    found
}

/// The space a path names, by id or by name; 404 if there is none.
pub(super) async fn space_id(edge: &Edge, key: &str) -> Result<Uuid, ApiError> {
    if let Ok(id) = key.parse::<Uuid>() {
        return Ok(id);
    }
    if !could_be_stored_name(edge, key) {
        return Err(ApiError::not_found("space"));
    }
    edge.store
        .durable
        .space_header(key)
        .await?
        .map(|header| header.id)
        .ok_or_else(|| ApiError::not_found("space"))
}

/// The space `id`'s row, or 404.
async fn space_info(edge: &Edge, id: Uuid) -> Result<SpaceInfo, ApiError> {
    edge.store
        .durable
        .space_info(id)
        .await?
        .ok_or_else(|| ApiError::not_found("space"))
}

/// A space the caller may see (public, or private and the caller may enter it), or 404.
pub(super) async fn visible_space(
    edge: &Edge,
    id: Uuid,
    caller: &Caller,
) -> Result<(SpaceInfo, SpaceAccess), ApiError> {
    let info = space_info(edge, id).await?;
    let access = edge.store.durable.space_access(id).await?;
    let visible = match &caller.0 {
        _ if !info.private => true,
        Some(account) => account.admin || access.may_enter(account.id),
        None => false,
    };
    if visible {
        Ok((info, access))
    } else {
        Err(ApiError::not_found("space"))
    }
}

/// `GET /api/spaces/{id}`.
pub async fn one(
    State(edge): State<Arc<Edge>>,
    ApiPath(space): ApiPath<String>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let id = space_id(&edge, &space).await?;
    let (info, _) = visible_space(&edge, id, &caller).await?;
    let live = edge.directory.get(id);
    let elsewhere = elsewhere(&edge, std::slice::from_ref(&info)).await;
    Ok(Json(space_json(
        &edge,
        &info,
        live.as_ref(),
        elsewhere.get(&info.id),
    )))
}

/// A new space.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSpace {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    temporary: bool,
}

/// `POST /api/spaces` `{"name","description","private","temporary"}`: creates a space
/// owned by the caller: a registered user, or a guest if the space is temporary (guests
/// make lasting public spaces by joining them). 409 if the name is taken.
pub async fn create(
    State(edge): State<Arc<Edge>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateSpace>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let account = caller.required()?;
    if !account.registered && !body.temporary {
        return Err(ApiError::forbidden(
            "guests create only temporary spaces over HTTP (\"temporary\": true); lasting ones by joining them, or register",
        ));
    }
    let name = body.checked_name(&edge.config)?;
    let most = edge.config.max_temporary_spaces_per_user;
    if body.temporary && edge.store.durable.temporary_spaces_of(account.id).await? >= most as u64 {
        return Err(ApiError::forbidden(format!(
            "you own {most} temporary spaces (max_temporary_spaces_per_user): delete some first"
        )));
    }
    let new = NewSpace {
        id: Uuid::now_v7(),
        name: &name,
        description: &body.description,
        private: body.private,
        temporary: body.temporary,
        owner: Some(account.id),
        now_ms: now_ms(),
    };
    let (header, created) = edge.store.durable.ensure_space(&new).await?;
    if !created {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a space named {name:?} exists already"),
        ));
    }
    let info = space_info(&edge, header.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(space_json(&edge, &info, None, None)),
    ))
}

impl CreateSpace {
    /// The name, checked as every name is, after the description is checked.
    pub(super) fn checked_name(&self, config: &crate::Config) -> Result<Arc<str>, ApiError> {
        if self.description.chars().count() > 4096 {
            return Err(ApiError::bad_request("description is over 4096 characters"));
        }
        crate::text::check_text("description", &self.description)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        check_name("space name", &self.name, config.max_name_chars)
            .map_err(|r| ApiError::bad_request(r.message))
    }
}

/// How long `DELETE /api/spaces/{id}` waits for the store before answering 202.
const DELETE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `DELETE /api/spaces/{id}` (the owner or a server admin): everyone in the space is told
/// (`not_found`, then `left`), the world drops it, and the writer deletes it with its
/// objects, chat and members after every write of it before. 204 once the store has
/// done so; 202 if it has not within 10 s (it completes when the store is back; the name
/// stays taken until then).
pub async fn delete(
    State(edge): State<Arc<Edge>>,
    ApiPath(space): ApiPath<String>,
    caller: Caller,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let id = space_id(&edge, &space).await?;
    let account = caller.clone().required()?;
    let (info, _) = visible_space(&edge, id, &caller).await?;
    if !account.admin && info.owner != Some(account.id) {
        return Err(ApiError::forbidden(
            "only the space's owner or a server admin deletes it",
        ));
    }
    let pending = || {
        let body = json!({ "id": id, "status": "deleting", "message": "the store has not confirmed the deletion yet; it completes when the store answers" });
        (StatusCode::ACCEPTED, Json(body)).into_response()
    };
    let Some(done) = edge.store.deletions.begin(id) else {
        return Ok(pending());
    };
    edge.submit(Envelope::Input(Input::SpaceDeleted { space: id }));
    // Simulated elsewhere: its owner takes it out too, telling its people it was deleted.
    if let Some(cluster) = edge
        .cluster
        .as_ref()
        .filter(|c| c.fences.fence(id).is_none())
    {
        let notice = crate::cluster::notices::Notice::Deleted(id);
        if let Err(error) = crate::cluster::notices::send(cluster, notice).await {
            tracing::warn!(%error, space = %id, "the owner of a deleted space was not told; its people hear of it when its next write is fenced");
        }
    }
    match tokio::time::timeout(DELETE_WAIT, done).await {
        Ok(Ok(())) => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store refused to delete the space (see dead_letters); the space has left the world",
        )),
        Err(_) => Ok(pending()),
    }
}

/// Whom to add, and as what.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    user: String,
    #[serde(default)]
    role: Option<String>,
}

impl NewMember {
    /// The role asked for (member by default).
    pub(super) fn role(&self) -> Result<Role, ApiError> {
        match self.role.as_deref() {
            None | Some("member") => Ok(Role::Member),
            Some("admin") => Ok(Role::Admin),
            Some(other) => Err(ApiError::bad_request(format!(
                "role must be \"member\" or \"admin\", not {other:?}"
            ))),
        }
    }
}

/// Refuses callers who do not administer the space.
fn require_space_admin(account: &Account, access: &SpaceAccess) -> Result<(), ApiError> {
    if account.admin || access.is_admin(account.id) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the space's owner or admins manage its members",
        ))
    }
}

/// `POST /api/spaces/{id}/members` `{"user": NAME, "role": "member"|"admin"}`: invites
/// someone to a space (or makes them an admin of it).
pub async fn add_member(
    State(edge): State<Arc<Edge>>,
    ApiPath(space): ApiPath<String>,
    caller: Caller,
    ApiJson(body): ApiJson<NewMember>,
) -> Result<Json<Value>, ApiError> {
    let id = space_id(&edge, &space).await?;
    let account = caller.clone().required()?;
    let (_, access) = visible_space(&edge, id, &caller).await?;
    require_space_admin(&account, &access)?;
    let role = body.role()?;
    let user = member_id(&edge, &body.user).await?;
    edge.store
        .durable
        .set_member(id, user, Some(role), now_ms())
        .await?;
    publish_access(&edge, id).await?;
    Ok(Json(
        json!({ "space": id, "user": user, "role": role.as_str() }),
    ))
}

/// `DELETE /api/spaces/{id}/members/{name}`: withdraws an invitation; the person leaves
/// the space if they may no longer be there.
pub async fn remove_member(
    State(edge): State<Arc<Edge>>,
    ApiPath((space, name)): ApiPath<(String, String)>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    let id = space_id(&edge, &space).await?;
    let account = caller.clone().required()?;
    let (_, access) = visible_space(&edge, id, &caller).await?;
    require_space_admin(&account, &access)?;
    let user = member_id(&edge, &name).await?;
    edge.store
        .durable
        .set_member(id, user, None, now_ms())
        .await?;
    publish_access(&edge, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn member_id(edge: &Edge, name: &str) -> Result<Uuid, ApiError> {
    if !could_be_stored_name(edge, name) {
        return Err(ApiError::not_found("user"));
    }
    edge.store
        .durable
        .user_id(name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Tells the world a space's access changed (it applies it if the space is loaded).
async fn publish_access(edge: &Edge, space: Uuid) -> Result<(), ApiError> {
    let access = edge.store.durable.space_access(space).await?;
    edge.submit(Envelope::Input(Input::AccessChanged { space, access }));
    Ok(())
}

/// A page of chat history.
#[derive(Debug, Deserialize)]
pub struct ChatQuery {
    /// A line id (older lines follow it) or an RFC 3339 time or Unix milliseconds.
    before: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/spaces/{id}/chat?before=..&limit=..`: newest first. `next_before` is the
/// cursor of the following page (absent on the last).
pub async fn chat(
    State(edge): State<Arc<Edge>>,
    ApiPath(space): ApiPath<String>,
    ApiQuery(query): ApiQuery<ChatQuery>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let id = space_id(&edge, &space).await?;
    visible_space(&edge, id, &caller).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_CHAT_PAGE);
    let before = query.before.as_deref().map(parse_cursor).transpose()?;
    let lines = edge.store.durable.chat_page(id, before, limit).await?;
    let next = (lines.len() == limit)
        .then(|| lines.last().map(|l| l.id))
        .flatten();
    let messages: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "from": l.from,
                "name": &*l.name,
                "text": &*l.text,
                "at": rfc3339(l.at_ms),
            })
        })
        .collect();
    Ok(Json(json!({ "messages": messages, "next_before": next })))
}

fn parse_cursor(text: &str) -> Result<ChatCursor, ApiError> {
    if let Ok(id) = text.parse::<Uuid>() {
        return Ok(ChatCursor::Line(id));
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ChatCursor::Time(ms));
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| ChatCursor::Time((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| {
            ApiError::bad_request(
                "before must be a message id, an RFC 3339 time or Unix milliseconds",
            )
        })
}
